import { defineCommand } from "citty";
import { formatMs } from "../../barrier/format.ts";
import type { GroupView } from "../../barrier/types.ts";
import { request } from "../../hook/client.ts";
import { PROTOCOL_VERSION } from "../../protocol/messages.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

export default defineCommand({
  meta: { name: "status", description: "Show the daemon's groups, operations in flight and where each participant is" },
  args: {
    json: { type: "boolean", description: "Print the daemon's status as JSON" },
    socket: { type: "string", description: "Daemon socket (default: from the configuration)" },
    ...configArg,
  },
  async run({ args }) {
    const socket = args.socket ?? loadOrExit(args.config).daemon.socket;
    let status: Record<string, unknown>;
    try {
      const res = await request(socket, { v: PROTOCOL_VERSION, type: "status" }, 5000);
      if (res.type !== "status") fail(res.type === "error" ? res.message : "unexpected answer from the daemon");
      status = res.status as Record<string, unknown>;
    } catch (e) {
      fail(`${(e as Error).message} (is the daemon running? systemctl status criu-coordinatord.socket)`);
    }
    if (args.json) {
      console.log(JSON.stringify(status, null, 2));
      return;
    }
    console.log(renderStatus(status));
  },
});

export function renderStatus(s: Record<string, unknown>): string {
  const inFlight = s.operations === undefined ? "" : `, ${s.operations} operation(s) in flight`;
  const out = [`criu-coordinator ${s.version} (pid ${s.pid}), config ${s.config}${inFlight}, ${s.waiting} hook call(s) waiting`];
  const cluster = s.cluster as { node: string; nodes: { name: string; addr: string; state: string; self?: boolean }[] } | undefined;
  if (cluster) {
    const backend = s.backend as { kind: string; health: string; detail: string } | undefined;
    // Gossip's health is the node table itself; other backends get one line.
    const via = backend && backend.kind !== "gossip" ? `, backend ${backend.kind}: ${backend.health}${backend.detail ? ` (${backend.detail})` : ""}` : "";
    out.push("", `CLUSTER (this node: ${cluster.node}${via})`);
    out.push(...table([["NODE", "ADDRESS", "STATE"], ...cluster.nodes.map((n) => [n.self ? `${n.name} (self)` : n.name, n.addr, n.state])]));
  }
  const groups = (s.groups ?? []) as GroupView[];
  if (groups.length === 0) out.push("No groups configured: every process passes through uncoordinated.");
  for (const g of groups) {
    const op = g.operation;
    const phase = !op ? "idle" : op.phase.state === "aborted" ? `aborted: ${op.phase.reason}` : op.phase.state === "open" ? "in flight" : "committed";
    out.push("", `GROUP ${g.name} (timeout ${formatMs(g.timeoutMs)})  ${op ? `${op.kind} ${op.id}: ${phase}` : "idle"}`);
    const rows = [["PARTICIPANT", ...(cluster ? ["NODE"] : []), "HOOK", "WAITING AT", "WAITING FOR"]];
    for (const m of g.members) {
      const p = op?.participants.find((x) => x.name === m);
      rows.push([m, ...(cluster ? [p?.node ?? "-"] : []), p?.hook ?? "-", p?.waitingAt ?? "-", p?.waitingFor.join(", ") || "-"]);
    }
    out.push(...table(rows));
  }
  return out.join("\n");
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => "  " + r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}
