/**
 * Barrier release latency across nodes: N GossipBackend + engine pairs in this process, each on
 * its own UDP socket on loopback (real sockets, real crypto, real clock). For each barrier, every
 * participant but one arrives, then the last one arrives at t0; the sample is the time until the
 * waiting call on *every* node is released. Prints p50/p99 per N.
 *
 *   ./node_modules/.bin/bun bench/gossip-release.ts [sizes=2,8,32] [operations=40]
 */
import { BarrierEngine } from "../src/barrier/engine.ts";
import type { Effect } from "../src/barrier/types.ts";
import { generateKey } from "../src/gossip/keyring.ts";
import { GossipBackend } from "../src/gossip/gossip-backend.ts";
import { UdpTransport } from "../src/gossip/udp-transport.ts";

const sizes = (process.argv[2] ?? "2,8,32").split(",").map(Number);
const operations = Number(process.argv[3] ?? 40);
const key = new Uint8Array(Buffer.from(generateKey(), "base64"));

async function run(n: number): Promise<number[]> {
  const members = Array.from({ length: n }, (_, i) => `p${i}`);
  const group = { name: "bench", members, timeoutMs: 60_000 };
  const done = new Map<string, number>();
  const nodes: { engine: BarrierEngine; backend: GossipBackend }[] = [];
  const transports = await Promise.all(members.map(() => UdpTransport.bind("127.0.0.1:0")));
  for (let i = 0; i < n; i++) {
    const engine = new BarrierEngine([group], { node: `n${i}` });
    const node = { engine, backend: undefined! as GossipBackend };
    const dispatch = (fx: Effect[]) => apply(node, fx);
    node.backend = new GossipBackend({ node: `n${i}`, listen: transports[i]!.address, peers: i ? [transports[0]!.address] : [], keys: [key], engine, dispatch, transport: transports[i]! });
    nodes.push(node);
  }
  function apply(node: (typeof nodes)[0], fx: Effect[]): void {
    for (const e of fx) {
      if (e.type === "reply") done.set(e.callId, performance.now());
      else if (e.type === "publish") node.backend.publish(e);
    }
  }
  for (const x of nodes) await x.backend.start();
  const t = performance.now();
  while (!nodes.every((x) => x.backend.status().nodes.filter((s) => s.state === "alive").length === n)) {
    if (performance.now() - t > 30_000) throw new Error(`Cluster of ${n} did not converge in 30s`);
    await Bun.sleep(20);
  }
  const samples: number[] = [];
  let call = 0;
  for (let op = 0; op < operations; op++) {
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      const ids: string[] = [];
      for (let i = 0; i < n - 1; i++) {
        const id = `c${++call}`;
        ids.push(id);
        apply(nodes[i]!, nodes[i]!.engine.arrive(Date.now(), { callId: id, group: "bench", participant: `p${i}`, hook }));
      }
      // Let the first n-1 arrivals spread (every push acked) so the sample is the last arrival only.
      while (nodes.some((x) => (x.backend.status().counters.pushes_pending ?? 0) > 0)) await Bun.sleep(1);
      await Bun.sleep(2);
      const t0 = performance.now();
      const last = `c${++call}`;
      apply(nodes[n - 1]!, nodes[n - 1]!.engine.arrive(Date.now(), { callId: last, group: "bench", participant: `p${n - 1}`, hook }));
      const deadline = t0 + 5_000;
      while (!ids.every((id) => done.has(id)) && performance.now() < deadline) await new Promise((r) => setImmediate(r));
      if (!ids.every((id) => done.has(id))) throw new Error(`Barrier ${hook} of operation ${op} did not release within 5s at N=${n}`);
      samples.push(Math.max(...ids.map((id) => done.get(id)!)) - t0);
    }
  }
  for (const x of nodes) await x.backend.close();
  return samples;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
console.log("nodes  samples  p50_ms  p99_ms  max_ms   (release at every node after the last arrival; UDP loopback, AES-256-GCM)");
for (const n of sizes) {
  const s = await run(n);
  console.log(`${String(n).padStart(5)}  ${String(s.length).padStart(7)}  ${pct(s, 50).toFixed(2).padStart(6)}  ${pct(s, 99).toFixed(2).padStart(6)}  ${Math.max(...s).toFixed(2).padStart(6)}`);
}
