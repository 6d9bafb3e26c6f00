/**
 * Text the `checkpoint`, `restore` and `operations` commands print. Pure: snapshots in, lines out.
 * Plain progress lines name only what changed (for logs and pipes); the table is redrawn on a
 * terminal.
 */
import type { MemberProgress, OperationSnapshot, StoredOperation } from "./types.ts";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** "at post-dump", "done (4.1 MiB)", "failed: …": where one member is. */
export function memberStatus(m: MemberProgress): string {
  switch (m.state) {
    case "planned":
      return "starting";
    case "running":
      return m.hook ? `at ${m.hook}` : "running CRIU";
    case "ok":
      return m.bytes !== undefined ? `done (${formatBytes(m.bytes)})` : "done";
    case "failed":
      return `failed: ${m.message ?? `CRIU exited ${m.code}`}`;
    case "unknown":
      return "unknown: its node stopped answering";
  }
}

/** The header line of an operation. */
export function headline(s: OperationSnapshot): string {
  const nodes = new Set(s.members.map((m) => m.node)).size;
  const what = s.kind === "checkpoint" ? `Checkpoint ${s.id}${s.leaveRunning ? " (leave running)" : ""}` : `Restore ${s.id} from ${s.checkpoint}`;
  return `${what} of group "${s.group}": ${s.members.length} member(s) on ${nodes} node(s)`;
}

/** One line per member whose state or hook changed since `prev`. */
export function progressLines(prev: OperationSnapshot | undefined, cur: OperationSnapshot): string[] {
  const out: string[] = [];
  for (const m of cur.members) {
    const before = prev?.members.find((p) => p.member === m.member);
    if (before && memberStatus(before) === memberStatus(m)) continue;
    out.push(`  ${m.member} on ${m.node}: ${memberStatus(m)}`);
  }
  return out;
}

/** The table redrawn on a terminal. */
export function progressTable(s: OperationSnapshot): string[] {
  return table([["MEMBER", "NODE", "PID", "STATUS"], ...s.members.map((m) => [m.member, m.node, m.pid ? String(m.pid) : "-", memberStatus(m)])]);
}

/** The closing lines: outcome, and where the images are. */
export function summary(s: OperationSnapshot): string[] {
  const out = [s.state === "committed" ? `Committed: ${s.message ?? "every member succeeded"}` : `${s.state === "failed" ? "Failed" : "Unfinished"}: ${s.message ?? ""}`];
  if (s.kind === "checkpoint") {
    out.push("Images:", ...s.members.map((m) => `  ${m.node}:${m.dir}`));
    if (s.state === "committed") out.push(`Restore with: criu-coordinator restore ${s.group} --from ${s.id}`);
  }
  return out;
}

/** One row per operation (node copies joined): the `operations` table. */
export function operationsTable(copies: readonly StoredOperation[]): string[] {
  const ids = [...new Set(copies.map((c) => c.manifest.id))];
  const rows = [["OPERATION", "GROUP", "CREATED", "STATE", "RESTORES", "SIZE", "IMAGES"]];
  for (const id of ids) {
    const mine = copies.filter((c) => c.manifest.id === id);
    const m = mine[0]!.manifest;
    const states = new Set(mine.map((c) => c.manifest.outcome));
    const state = states.size === 1 ? m.outcome : `mixed (${[...states].join("/")})`;
    const restores = Math.max(...mine.map((c) => c.manifest.restores.length));
    const bytes = mine.reduce((n, c) => n + c.bytes, 0);
    rows.push([id, m.group, m.createdAt.replace(/\.\d+Z$/, "Z"), state, String(restores), formatBytes(bytes), mine.map((c) => `${c.node}:${c.dir}`).join(" ")]);
  }
  return table(rows);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => "  " + r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}
