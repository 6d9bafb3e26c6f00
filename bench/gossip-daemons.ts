/**
 * Barrier release latency across separate daemons: N real compiled `criu-coordinator daemon`
 * processes, one per node, each on its own loopback address 127.0.0.(i+1):7946 (UDP, AES-256-GCM),
 * one group with one member per node. Measured at the protocol level through each daemon's unix
 * socket: N-1 members arrive and wait; once the last node has heard of all of them, the last member
 * arrives at t0; the sample is the time until the call on *every* node has its answer.
 *
 *   ./node_modules/.bin/bun bench/gossip-daemons.ts [sizes=2,8,32] [operations=20]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { generateKey } from "../src/gossip/keyring.ts";
import { request } from "../src/hook/client.ts";
import { PROTOCOL_VERSION } from "../src/protocol/messages.ts";
import { BIN, daemonStatus as status, report, requireBinary, stats, waitUntil as until } from "./lib.ts";

const sizes = (process.argv[2] ?? "2,8,32").split(",").map(Number);
const operations = Number(process.argv[3] ?? 20);
const HOOKS = ["pre-dump", "network-lock", "post-dump"];

async function run(n: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), "ccgossip-"));
  const keyFile = join(dir, "cluster.key");
  writeFileSync(keyFile, `${generateKey()}\n`, { mode: 0o600 });
  const members = Array.from({ length: n }, (_, i) => `p${i}`);
  const addr = (i: number) => `127.0.0.${i + 1}:7946`;
  const sockets = members.map((_, i) => join(dir, `n${i}.sock`));
  const procs: Subprocess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const config = join(dir, `n${i}.toml`);
      const seeds = [0, 1].filter((j) => j !== i && j < n).map((j) => `"${addr(j)}"`);
      writeFileSync(
        config,
        `[daemon]\nsocket = "${sockets[i]}"\nlog_level = "error"\n\n[cluster]\nnode = "n${i}"\nlisten = "${addr(i)}"\npeers = [${seeds.join(", ")}]\nkey_file = "${keyFile}"\n\n[[group]]\nname = "bench"\nmembers = [${members.map((m) => `"${m}"`).join(", ")}]\ntimeout = "60s"\n`,
      );
      procs.push(Bun.spawn([BIN, "daemon", "--config", config], { stdout: "ignore", stderr: "inherit" }));
    }
    for (const s of sockets) {
      await until(`the cluster of ${n} to form`, 60_000, async () => {
        const st = await status(s).catch(() => null);
        return st?.cluster?.nodes?.filter((x: { state: string }) => x.state === "alive").length === n;
      });
    }
    const samples: number[] = [];
    for (let op = 0; op < operations; op++) {
      for (const hook of HOOKS) {
        const arrive = (i: number) => {
          const req = { v: PROTOCOL_VERSION, type: "arrive", group: "bench", participant: members[i]!, hook, attempt: `bench-${i}` } as const;
          return request(sockets[i]!, req, 30_000).then((res) => {
            if (res.type !== "result" || !res.ok) throw new Error(`p${i} at ${hook}: ${JSON.stringify(res)}`);
            return performance.now();
          });
        };
        const first = members.slice(0, -1).map((_, i) => arrive(i));
        // The last node has heard of every other arrival: the sample is the last arrival only.
        await until(`${hook} to spread`, 10_000, async () => {
          const ps = (await status(sockets[n - 1]!)).groups[0].operation?.participants ?? [];
          return ps.filter((p: { hook: string | null }) => p.hook === hook).length === n - 1;
        });
        // …and every push is acked, so no retransmit storm of earlier arrivals competes with it.
        await until(`${hook} pushes to be acked`, 10_000, async () => {
          const sts = await Promise.all(sockets.map((sk) => status(sk)));
          return sts.every((st) => (st.cluster.counters.pushes_pending ?? 0) === 0);
        });
        await Bun.sleep(2);
        const t0 = performance.now();
        const all = await Promise.all([...first, arrive(n - 1)]);
        samples.push(Math.max(...all) - t0);
        if (process.env.BENCH_DEBUG) console.log(`${hook} min ${(Math.min(...all) - t0).toFixed(1)} last-node ${(all[n - 1]! - t0).toFixed(1)} max ${(Math.max(...all) - t0).toFixed(1)}`);
      }
    }
    const sts = await Promise.all(sockets.map((sk) => status(sk)));
    const sum = (k: string) => sts.reduce((t, st) => t + (st.cluster.counters[k] ?? 0), 0);
    console.log(`${n} daemons: ${sum("sent")} packets sent, ${sum("push_retransmits")} push retransmits`);
    return samples;
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

requireBinary();
const rows: [string, ReturnType<typeof stats>, string][] = [];
for (const n of sizes) {
  const s = await run(n);
  rows.push([`${n} daemons (${s.length} barriers)`, stats(s), "p50 ≤ 5, p99 ≤ 20"]);
  console.log(`${n} daemons: p50 ${stats(s).median.toFixed(2)} ms, p99 ${stats(s).p99.toFixed(2)} ms`);
}
report("gossip release across separate daemon processes (last arrival → released on every node; loopback 127.0.0.x)", "ms", rows);
