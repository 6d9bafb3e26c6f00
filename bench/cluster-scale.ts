/**
 * Scale across nodes: 32 real daemons, each in its own network namespace on a bridge (the same
 * topology as test/cluster), 10 groups of 32 members with member i of every group on node i
 * (320 participants). All groups go through a whole dump sequence (pre-dump, network-lock,
 * post-dump) at the same time, at the protocol level through each daemon's unix socket. Reports
 * the time per sequence, and the CPU time and peak RSS of each daemon. Needs root and iproute2.
 *
 *   ./node_modules/.bin/bun bench/cluster-scale.ts [nodes=32] [groups=10] [rounds=3]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { request } from "../src/hook/client.ts";
import { PROTOCOL_VERSION } from "../src/protocol/messages.ts";
import { canUseNetns, Lab } from "../test/cluster/netns.ts";
import { BIN, cpuOf, memoryOf, report, requireBinary, stats } from "./lib.ts";

const NODES = Number(process.argv[2] ?? 32);
const GROUPS = Number(process.argv[3] ?? 10);
const ROUNDS = Number(process.argv[4] ?? 3);
const HOOKS = ["pre-dump", "network-lock", "post-dump"];

async function status(socket: string): Promise<any> {
  const res = await request(socket, { v: PROTOCOL_VERSION, type: "status" }, 5_000);
  if (res.type !== "status") throw new Error(`status: ${JSON.stringify(res)}`);
  return res.status;
}

export async function clusterScale(): Promise<void> {
  if (!canUseNetns()) {
    console.log("\n!! SKIPPING cluster-scale benchmark: needs root and `ip netns` (iproute2)");
    return;
  }
  requireBinary();
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "ccscale-"));
  const procs: Subprocess[] = [];
  try {
    const addrs = lab.build(NODES);
    const keyFile = join(dir, "cluster.key");
    writeFileSync(keyFile, `${lab.key}\n`, { mode: 0o600 });
    const groups = Array.from({ length: GROUPS }, (_, g) => ({ name: `g${g}`, members: Array.from({ length: NODES }, (_, n) => `g${g}-n${n}`) }));
    const groupsToml = groups.map((g) => `[[group]]\nname = "${g.name}"\nmembers = [${g.members.map((m) => `"${m}"`).join(", ")}]\ntimeout = "60s"\n`).join("\n");
    const sockets = addrs.map((_, i) => join(dir, `n${i}.sock`));
    for (let i = 0; i < NODES; i++) {
      const config = join(dir, `n${i}.toml`);
      const seeds = [0, 1].filter((j) => j !== i).map((j) => `"${addrs[j]}"`);
      writeFileSync(config, `[daemon]\nsocket = "${sockets[i]}"\nlog_level = "error"\n\n[cluster]\nnode = "n${i}"\nlisten = "${addrs[i]}"\npeers = [${seeds.join(", ")}]\nkey_file = "${keyFile}"\n\n${groupsToml}`);
      procs.push(Bun.spawn(["nsenter", `--net=/run/netns/${lab.ns(i + 1)}`, BIN, "daemon", "--config", config], { stdout: "ignore", stderr: "inherit" }));
    }
    const formStart = performance.now();
    for (const s of sockets) {
      for (let t = 0; ; t++) {
        const st = await status(s).catch(() => null);
        if (st?.cluster?.nodes?.filter((x: { state: string }) => x.state === "alive").length === NODES) break;
        if (t > 3000) throw new Error(`cluster of ${NODES} did not form`);
        await Bun.sleep(20);
      }
    }
    const formMs = performance.now() - formStart;
    const cpu0 = procs.map((p) => cpuOf(p.pid));
    const seqMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      for (const hook of HOOKS) {
        const calls = groups.flatMap((g) =>
          g.members.map((m, n) =>
            request(sockets[n]!, { v: PROTOCOL_VERSION, type: "arrive", group: g.name, participant: m, hook, attempt: `r${round}-${m}` }, 60_000).then((res) => {
              if (res.type !== "result" || !res.ok) throw new Error(`${m} at ${hook}: ${JSON.stringify(res)}`);
            }),
          ),
        );
        await Promise.all(calls);
      }
      seqMs.push(performance.now() - t0);
    }
    const cpuPerRound = procs.map((p, i) => ((cpuOf(p.pid) - cpu0[i]!) * 1000) / ROUNDS);
    const mem = procs.map((p) => memoryOf(p.pid));
    report(`cluster scale: ${NODES} daemons in network namespaces, ${GROUPS * NODES} participants in ${GROUPS} groups`, "", [
      [`cluster formation, all ${NODES} see all alive (ms)`, stats([formMs]), ""],
      ["whole dump sequence, all groups at once (ms)", stats(seqMs), ""],
      ["daemon CPU per sequence, per daemon (ms)", stats(cpuPerRound), ""],
      ["daemon peak RSS, per daemon (MiB)", stats(mem.map((m) => m.peak)), ""],
      ["  anonymous part now, per daemon (MiB)", stats(mem.map((m) => m.anon)), ""],
    ]);
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await clusterScale();
