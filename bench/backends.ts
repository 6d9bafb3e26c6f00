/**
 * Gossip and etcd side by side, on the same group: N real daemons (one per node, on 127.0.0.x),
 * one member per node, through pre-dump, network-lock and post-dump; the sample is the time from
 * the last arrival until the call on every node has its answer (post-dump: the commit, which with
 * etcd is one recorded transaction). Needs etcd (apt-get install etcd-server etcd-client).
 *
 *   ./node_modules/.bin/bun bench/backends.ts [sizes=2,3,8] [operations=15]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { generateKey } from "../src/gossip/keyring.ts";
import { request } from "../src/hook/client.ts";
import { PROTOCOL_VERSION } from "../src/protocol/messages.ts";
import { etcdMissing, EtcdServer } from "../test/cluster/etcd-server.ts";
import { BIN, daemonStatus as status, report, requireBinary, stats, waitUntil as until, type Stats } from "./lib.ts";

const sizes = (process.argv[2] ?? "2,3,8").split(",").map(Number);
const operations = Number(process.argv[3] ?? 15);
const HOOKS = ["pre-dump", "network-lock", "post-dump"];

async function run(kind: "gossip" | "etcd", n: number, etcdUrl: string): Promise<{ release: number[]; commit: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), `ccbk-${kind}-`));
  const keyFile = join(dir, "cluster.key");
  writeFileSync(keyFile, `${generateKey()}\n`, { mode: 0o600 });
  const members = Array.from({ length: n }, (_, i) => `p${i}`);
  const sockets = members.map((_, i) => join(dir, `n${i}.sock`));
  const prefix = `/bench-${process.pid}-${n}`;
  const procs: Subprocess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const addr = (j: number) => `127.0.0.${j + 1}:${17946 + n}`;
      const cluster =
        kind === "gossip"
          ? `[cluster]\nnode = "n${i}"\nlisten = "${addr(i)}"\npeers = [${[0, 1].filter((j) => j !== i && j < n).map((j) => `"${addr(j)}"`).join(", ")}]\nkey_file = "${keyFile}"\n`
          : `[cluster]\nnode = "n${i}"\n\n[backend]\nkind = "etcd"\nendpoints = ["${etcdUrl}"]\nprefix = "${prefix}"\n`;
      const config = join(dir, `n${i}.toml`);
      writeFileSync(config, `[daemon]\nsocket = "${sockets[i]}"\nlog_level = "error"\n\n${cluster}\n[[group]]\nname = "bench"\nmembers = [${members.map((m) => `"${m}"`).join(", ")}]\ntimeout = "60s"\n`);
      procs.push(Bun.spawn([BIN, "daemon", "--config", config], { stdout: "ignore", stderr: "inherit" }));
    }
    for (const s of sockets) {
      await until(`${kind}: ${n} daemons to be ready`, 60_000, async () => {
        const st = await status(s).catch(() => null);
        if (!st) return false;
        return kind === "etcd" ? true : st.cluster?.nodes?.filter((x: { state: string }) => x.state === "alive").length === n;
      });
    }
    const release: number[] = [];
    const commit: number[] = [];
    for (let op = 0; op < operations; op++) {
      for (const hook of HOOKS) {
        const arrive = (i: number) =>
          request(sockets[i]!, { v: PROTOCOL_VERSION, type: "arrive", group: "bench", participant: members[i]!, hook, attempt: `b-${i}` }, 30_000).then((res) => {
            if (res.type !== "result" || !res.ok) throw new Error(`${kind} p${i} at ${hook}: ${JSON.stringify(res)}`);
            return performance.now();
          });
        const first = members.slice(0, -1).map((_, i) => arrive(i));
        // The sample is the last arrival alone: wait until its node has heard of all the others.
        await until(`${hook} to spread`, 10_000, async () => {
          const ps = (await status(sockets[n - 1]!)).groups[0].operation?.participants ?? [];
          return ps.filter((p: { hook: string | null }) => p.hook === hook).length === n - 1;
        });
        await Bun.sleep(2);
        const t0 = performance.now();
        const all = await Promise.all([...first, arrive(n - 1)]);
        (hook === "post-dump" ? commit : release).push(Math.max(...all) - t0);
      }
    }
    return { release, commit };
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function backends(): Promise<void> {
  const missing = etcdMissing();
  if (missing) {
    console.log(`\n!! SKIPPING the gossip/etcd comparison: ${missing}`);
    return;
  }
  requireBinary();
  const etcd = await new EtcdServer().start();
  try {
    const rows: [string, Stats, string][] = [];
    for (const n of sizes) {
      for (const kind of ["gossip", "etcd"] as const) {
        const r = await run(kind, n, etcd.clientUrl);
        rows.push([`${kind}, ${n} daemons: barrier release (pre-dump, network-lock)`, stats(r.release), ""]);
        rows.push([`${kind}, ${n} daemons: commit (post-dump)`, stats(r.commit), ""]);
      }
    }
    report("gossip vs etcd on the same group (last arrival → answered on every node; loopback)", "ms", rows);
  } finally {
    await etcd.destroy();
  }
}

if (import.meta.main) await backends();
