/**
 * The real compiled daemon with [backend] kind = "etcd": one daemon per network namespace (n1–n3),
 * a throw-away etcd in a fourth namespace, joined by a bridge (netns.ts). Barriers across nodes, a
 * daemon killed mid-barrier (its lease expires: abort), etcd killed mid-operation (abort, never a
 * commit), and the etcd keys inspected: one outcome per operation, written by one transaction.
 * Needs root, iproute2, etcd-server and etcd-client; skipped loudly otherwise.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { request } from "../../src/hook/client.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { ensureBinary, Sandbox, until } from "../support/binary.ts";
import { EtcdServer, etcdMissing } from "./etcd-server.ts";
import { canUseNetns, Lab } from "./netns.ts";
import { canDropPackets, MEMBERS, percentile, type Timed } from "./real-daemons.ts";

const NETNS = canUseNetns();
const MISSING = etcdMissing();
const WHY = !NETNS ? "needs root and `ip netns` (iproute2)" : MISSING;
if (WHY) console.warn(`!! SKIPPING test/cluster/etcd-daemons.test.ts: ${WHY}`);

const PREFIX = "/criu-coordinator";
const DUMP = ["pre-dump", "network-lock", "post-dump"];

class EtcdCluster {
  readonly lab = new Lab();
  readonly box = new Sandbox();
  readonly etcd: EtcdServer;
  readonly sockets: string[] = [];
  readonly configs: string[] = [];
  readonly procs: Subprocess<"ignore", "pipe", "pipe">[] = [];
  readonly logs: string[] = [];

  constructor(readonly size = 3, timeout = "10s") {
    const addrs = this.lab.build(size + 1);
    const host = addrs[size]!.split(":")[0]!;
    this.etcd = new EtcdServer(host, this.lab.ns(size + 1));
    for (let i = 1; i <= size; i++) {
      const socket = join(this.box.dir, `n${i}.sock`);
      const config = join(this.box.dir, `n${i}.toml`);
      const members = MEMBERS.slice(0, size).map((m) => `"${m}"`).join(", ");
      writeFileSync(
        config,
        `[daemon]\nsocket = "${socket}"\nlog_level = "debug"\n\n[backend]\nkind = "etcd"\nendpoints = ["${this.etcd.clientUrl}"]\nprefix = "${PREFIX}"\nlease_ttl = "2s"\n\n[cluster]\nnode = "n${i}"\n\n[[group]]\nname = "trio"\nmembers = [${members}]\ntimeout = "${timeout}"\n`,
      );
      this.sockets.push(socket);
      this.configs.push(config);
    }
  }

  async start(): Promise<this> {
    await this.etcd.start();
    for (let i = 0; i < this.size; i++) this.startDaemon(i);
    for (let i = 0; i < this.size; i++) await until(async () => (await this.status(i).catch(() => null))?.backend?.health === "ok", 15_000, `n${i + 1} connected to etcd; log:\n${this.logs[i]}`);
    return this;
  }

  startDaemon(i: number): void {
    const proc = Bun.spawn(["nsenter", `--net=/run/netns/${this.lab.ns(i + 1)}`, ensureBinary(), "daemon", "--config", this.configs[i]!], { stdout: "pipe", stderr: "pipe" });
    this.procs[i] = proc;
    this.logs[i] = "";
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) this.logs[i] += new TextDecoder().decode(c);
    };
    void collect(proc.stdout);
    void collect(proc.stderr);
  }

  async status(i: number): Promise<any> {
    const res = await request(this.sockets[i]!, { v: PROTOCOL_VERSION, type: "status" }, 2_000);
    if (res.type !== "status") throw new Error(`status of n${i + 1}: ${JSON.stringify(res)}`);
    return res.status;
  }

  arrive(i: number, hook: string, member = MEMBERS[i]!): Promise<Timed> {
    const req = { v: PROTOCOL_VERSION, type: "arrive", group: "trio", participant: member, hook, attempt: `test-${member}` } as const;
    return request(this.sockets[i]!, req, 30_000).then((r) => {
      if (r.type !== "result") throw new Error(`${member} at ${hook}: ${JSON.stringify(r)}`);
      return { ...r, at: performance.now() };
    });
  }

  /** Every member passes pre-dump; then alpha (n1) and bravo (n2) wait at `hook` for charlie (n3). */
  async n3Awaited(hook: string): Promise<Promise<Timed>[]> {
    await Promise.all([0, 1, 2].map((i) => this.arrive(i, "pre-dump")));
    const waiting = [0, 1].map((i) => this.arrive(i, hook));
    await this.waiting(0, 1);
    await this.waiting(1, 1);
    return waiting;
  }

  async waiting(i: number, count: number): Promise<void> {
    await until(async () => (await this.status(i)).waiting === count, 10_000, `${count} call(s) waiting on n${i + 1}`);
  }

  /** Outcome keys in etcd: operation id → parsed value. */
  outcomes(): Map<string, any> {
    const out = new Map<string, any>();
    for (const [k, v] of this.etcd.get(`${PREFIX}/`)) if (k.endsWith("/outcome")) out.set(`${k.split("/")[2]}#${Number(k.split("/")[4])}`, JSON.parse(v));
    return out;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) p?.kill("SIGKILL");
    await this.etcd.destroy();
    this.lab.destroy();
    this.box.cleanup();
  }
}

/** All three members go through a whole dump at once, and it commits on every node. */
async function expectDumpCommits(c: EtcdCluster): Promise<void> {
  for (const hook of DUMP) {
    const all = await Promise.all([0, 1, 2].map((i) => c.arrive(i, hook)));
    const want = hook === "post-dump" ? "committed" : "released";
    expect({ hook, codes: all.map((r) => r.code) }).toEqual({ hook, codes: [want, want, want] });
  }
}

let cluster: EtcdCluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

describe.skipIf(WHY !== undefined)("daemons with the etcd backend in network namespaces", () => {
  test("barriers across three nodes release in order, every dump commits, each outcome recorded once", async () => {
    const c = (cluster = await new EtcdCluster(3).start());
    const latencies: number[] = [];
    const operations = 10;
    for (let op = 1; op <= operations; op++) {
      for (const hook of DUMP) {
        const first = [0, 1].map((i) => c.arrive(i, hook));
        await c.waiting(0, 1);
        await c.waiting(1, 1);
        const t0 = performance.now();
        const all = await Promise.all([...first, c.arrive(2, hook)]);
        const want = hook === "post-dump" ? "committed" : "released";
        expect({ op, hook, codes: all.map((r) => r.code) }).toEqual({ op, hook, codes: [want, want, want] });
        latencies.push(Math.max(...all.map((r) => r.at)) - t0);
      }
      for (let i = 0; i < 3; i++) expect((await c.status(i)).groups[0].operation).toMatchObject({ id: `trio#${op}`, phase: { state: "committed" } });
    }
    // One outcome key (the newest operation's: older ones are deleted by the next decision), committed.
    const outcomes = c.outcomes();
    expect([...outcomes.keys()]).toEqual([`trio#${operations}`]);
    expect(outcomes.get(`trio#${operations}`)).toMatchObject({ state: "committed", kind: "dump" });
    const recorded = await Promise.all([0, 1, 2].map(async (i) => (await c.status(i)).cluster.counters.decisions_recorded ?? 0));
    expect(recorded.reduce((a, b) => a + b, 0)).toBe(operations);
    const st = await c.status(0);
    expect(st.backend).toMatchObject({ kind: "etcd", health: "ok", endpoint: c.etcd.clientUrl, prefix: PREFIX });
    expect(st.cluster.nodes.map((n: { name: string }) => n.name).sort()).toEqual(["n1", "n2", "n3"]);
    const human = Bun.spawnSync([ensureBinary(), "status", "--socket", c.sockets[0]!], { stdout: "pipe" }).stdout.toString();
    expect(human).toContain("CLUSTER (this node: n1, backend etcd: ok (");
    console.log(
      `etcd backend, 3 daemons in netns: ${operations} dumps; release latency (last arrival → every call answered) over ${latencies.length} barriers p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; decisions recorded per node ${recorded.join("/")}`,
    );
  }, 60_000);

  test("a daemon killed mid-barrier: its lease expires and the operation aborts on the others, recorded once", async () => {
    const c = (cluster = await new EtcdCluster(3).start());
    await Promise.all([0, 1, 2].map((i) => c.arrive(i, "pre-dump")));
    const waiting = [0, 1].map((i) => c.arrive(i, "post-dump"));
    await c.waiting(0, 1);
    await c.waiting(1, 1);
    const t0 = performance.now();
    c.procs[2]!.kill("SIGKILL");
    const results = await Promise.all(waiting);
    const ms = Math.max(...results.map((r) => r.at)) - t0;
    for (const r of results) {
      expect(r).toMatchObject({ ok: false, code: "aborted" });
      expect(r.message).toContain("node n3 lost its etcd lease");
    }
    const outcome = c.outcomes().get("trio#1");
    expect(outcome).toMatchObject({ state: "aborted" });
    expect(["n1", "n2"]).toContain(outcome.by);
    console.log(`daemon n3 killed: post-dump calls on n1 and n2 failed ${Math.round(ms)} ms later (lease TTL 2 s); abort recorded by ${outcome.by}`);
    expect(ms).toBeLessThan(6_000);
  }, 60_000);

  test("etcd killed mid-operation: calls before the commit point fail at loss, commit calls at their deadline; nothing commits; the abort is recorded once etcd is back", async () => {
    const c = (cluster = await new EtcdCluster(3, "6s").start());
    await Promise.all([0, 1, 2].map((i) => c.arrive(i, "pre-dump")));
    await Promise.all([0, 1, 2].map((i) => c.arrive(i, "network-lock")));
    const commitCalls = [0, 1].map((i) => c.arrive(i, "post-dump")); // alpha and bravo at the commit point
    await c.waiting(0, 1);
    await c.waiting(1, 1);
    const t0 = performance.now();
    await c.etcd.kill();
    const charlie = await c.arrive(2, "post-dump"); // the last member arrives after etcd is gone
    const results = [...(await Promise.all(commitCalls)), charlie];
    for (const r of results) expect(r).toMatchObject({ ok: false, code: "aborted" });
    console.log(`etcd killed: commit calls failed after ${results.map((r) => Math.round(r.at - t0)).join("/")} ms (group timeout 6 s): ${results[0]!.message}`);
    await until(async () => (await c.status(0)).backend.health === "lost", 10_000, "n1 to report etcd lost");
    for (let i = 0; i < 3; i++) expect((await c.status(i)).groups[0].operation.phase.state).toBe("aborted");
    // Before the commit point, a loss answers at once: a new dump fails at pre-dump.
    expect(await c.arrive(0, "pre-dump")).toMatchObject({ ok: false, code: "aborted" });

    await c.etcd.start();
    for (let i = 0; i < 3; i++) await until(async () => (await c.status(i)).backend.health === "ok", 15_000, `n${i + 1} back on etcd`);
    await until(async () => c.outcomes().size > 0, 10_000, "the abort recorded");
    const outcomes = c.outcomes();
    for (const v of outcomes.values()) expect(v.state).toBe("aborted");
    console.log(`after etcd came back: ${[...outcomes].map(([id, v]) => `${id} ${v.state} by ${v.by} (${v.reason})`).join("; ")}`);
    for (let i = 0; i < 3; i++) expect(c.logs[i]).not.toContain("outcome-disagreement");
  }, 90_000);

  test("a node cut off (its link down) inside a dump: no node commits, the others abort when its lease expires; after the heal a dump commits everywhere", async () => {
    const c = (cluster = await new EtcdCluster(3, "6s").start());
    const waiting = await c.n3Awaited("network-lock");
    const t0 = performance.now();
    c.lab.link(3, false);
    // n3 saw n1 and n2 at network-lock before the cut, so it may pass that barrier on what it
    // knows; the commit point needs etcd's transaction, which it can not reach.
    const n3Lock = await c.arrive(2, "network-lock");
    const n3Last = n3Lock.ok ? await c.arrive(2, "post-dump") : n3Lock;
    const others = await Promise.all(waiting);
    for (const r of [...others, n3Last]) expect(r).toMatchObject({ ok: false, code: "aborted" });
    for (const r of others) expect(r.message).toContain("node n3 lost its etcd lease");
    const ms = [...others, n3Last].map((r) => Math.round(r.at - t0));
    console.log(`n3 cut off: n3 at network-lock ${n3Lock.code}; calls failed after ${ms.join("/")} ms (lease TTL 2 s, group timeout 6 s): n1: ${others[0]!.message}; n3 at ${n3Lock.ok ? "post-dump" : "network-lock"}: ${n3Last.message}`);
    for (const t of ms) expect(t).toBeLessThan(10_000);
    expect(c.outcomes().get("trio#1")).toMatchObject({ state: "aborted" });

    c.lab.link(3, true);
    const h0 = performance.now();
    await until(async () => (await c.status(2)).backend.health === "ok", 15_000, "n3 back on etcd");
    await until(async () => (await c.status(0)).cluster.nodes.filter((n: { state: string }) => n.state === "alive").length === 3, 15_000, "n1 to see n3 alive again");
    console.log(`heal: n3 back on etcd and seen by n1 ${Math.round(performance.now() - h0)} ms after the link came back`);
    await expectDumpCommits(c);
    for (let i = 0; i < 3; i++) expect(c.logs[i]).not.toContain("outcome-disagreement");
  }, 90_000);

  test("a daemon restarted mid-barrier: it drops its previous run's records at once, so the others abort before the lease would expire, and the call that reconnects to it fails", async () => {
    const c = (cluster = await new EtcdCluster(3, "10s").start());
    const waiting = await c.n3Awaited("network-lock");
    c.procs[2]!.kill("SIGKILL");
    await c.procs[2]!.exited;
    const t0 = performance.now();
    c.startDaemon(2);
    await until(async () => (await c.status(2).catch(() => null))?.backend?.health === "ok", 15_000, `n3 restarted; log:\n${c.logs[2]}`);
    // charlie's CRIU goes on to network-lock and reaches the new daemon.
    const reconnected = await c.arrive(2, "network-lock");
    const others = await Promise.all(waiting);
    for (const r of [...others, reconnected]) expect(r.ok).toBe(false);
    const ms = others.map((r) => Math.round(r.at - t0));
    console.log(`n3 restarted: n1/n2 calls failed ${ms.join("/")} ms after the restart began (lease TTL 2 s): ${others[0]!.message}; charlie's call on the new daemon: ${reconnected.code}: ${reconnected.message}`);
    for (const r of others) expect(r.message).toContain("node n3");
    // Either the new daemon already read the abort the others recorded, or it finds no record of
    // charlie's earlier hooks: both name n3, and neither lets charlie's CRIU go on.
    expect(reconnected.message).toMatch(/node n3 (has no record of its earlier hooks|lost its etcd lease)/);
    expect(c.logs[2]).toContain("left by its previous run");
    expect(c.outcomes().get("trio#1")).toMatchObject({ state: "aborted" });
    // A new dump commits on all three.
    await expectDumpCommits(c);
  }, 90_000);

  test.skipIf(!canDropPackets())("with 5% packet loss on every daemon's node a 3-node dump sequence commits everywhere (5% of the TCP packets arriving at each daemon's node dropped; TCP carries etcd's traffic through)", async () => {
    const c = (cluster = await new EtcdCluster(3, "10s").start());
    for (let i = 1; i <= 3; i++) {
      const r = Bun.spawnSync(["ip", "netns", "exec", c.lab.ns(i), "iptables", "-A", "INPUT", "-p", "tcp", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP"], { stderr: "pipe" });
      expect(r.exitCode, r.stderr.toString()).toBe(0);
    }
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let op = 1; op <= 20; op++) {
      for (const hook of DUMP) {
        const s0 = performance.now();
        const all = await Promise.all([0, 1, 2].map((i) => c.arrive(i, hook)));
        const want = hook === "post-dump" ? "committed" : "released";
        expect({ op, hook, codes: all.map((r) => r.code) }).toEqual({ op, hook, codes: [want, want, want] });
        latencies.push(Math.max(...all.map((r) => r.at)) - s0);
      }
    }
    const dropped = [1, 2, 3].map((i) => {
      const out = Bun.spawnSync(["ip", "netns", "exec", c.lab.ns(i), "iptables", "-L", "INPUT", "-v", "-x", "-n"], { stdout: "pipe" }).stdout.toString();
      return Number(out.split("\n").find((l) => l.includes("statistic"))?.trim().split(/\s+/)[0] ?? 0);
    });
    console.log(`etcd, 5% TCP loss: 20 dumps committed on 3 nodes in ${Math.round(performance.now() - t0)} ms; hook round p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; ${dropped.reduce((a, b) => a + b, 0)} packets dropped`);
    for (let i = 0; i < 3; i++) expect((await c.status(i)).backend.health).toBe("ok");
  }, 120_000);
});
