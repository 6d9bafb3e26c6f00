/**
 * The real compiled daemons, one per network namespace, under network faults: 5 % packet loss on
 * every node (tc netem when the kernel has sch_netem, otherwise an iptables statistic DROP rule),
 * and a partition (`ip link set down`) that heals. Needs root and iproute2; skipped loudly otherwise.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinary } from "../support/binary.ts";
import { canUseNetns } from "./netns.ts";
import { canDropPackets, MEMBERS, percentile, RealCluster } from "./real-daemons.ts";

const NETNS = canUseNetns();
if (!NETNS) console.warn("!! SKIPPING test/cluster/daemons-faults.test.ts: needs root and `ip netns` (iproute2)");
const DROP = NETNS && canDropPackets();
if (NETNS && !DROP) console.warn("!! SKIPPING the packet-loss test in test/cluster/daemons-faults.test.ts: neither tc nor iptables is installed");

let cluster: RealCluster | undefined;
afterEach(() => {
  cluster?.destroy();
  cluster = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

const DUMP = ["pre-dump", "network-lock", "post-dump"];

describe.skipIf(!NETNS)("federated daemons under network faults", () => {
  test.skipIf(!DROP)("with 5% packet loss a 3-node dump sequence commits everywhere and release latency stays bounded", async () => {
    cluster = await new RealCluster(3, "10s").start();
    const how = cluster.lossy(0.05);
    const latencies: number[] = [];
    const operations = 20;
    for (let op = 1; op <= operations; op++) {
      for (const hook of DUMP) {
        // alpha and bravo wait; charlie on the third node arrives last: the sample is the time
        // from its arrival until the call on every node has its answer.
        const first = [0, 1].map((i) => cluster!.arrive(i, MEMBERS[i]!, hook));
        await cluster.waiting(0, 1);
        await cluster.waiting(1, 1);
        const t0 = performance.now();
        const all = await Promise.all([...first, cluster.arrive(2, MEMBERS[2]!, hook)]);
        const want = hook === "post-dump" ? "committed" : "released";
        expect({ op, hook, codes: all.map((r) => r.code) }).toEqual({ op, hook, codes: [want, want, want] });
        latencies.push(Math.max(...all.map((r) => r.at)) - t0);
      }
      for (const n of cluster.nodes) {
        expect((await cluster.status(n)).groups[0].operation).toMatchObject({ id: `trio#${op}`, phase: { state: "committed" } });
      }
    }
    const counters = (await cluster.status(cluster.nodes[0]!)).cluster.counters;
    const dropped = cluster.droppedPackets();
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `5% loss (${how}): ${operations} dumps committed on 3 nodes; release latency over ${latencies.length} barriers p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ${dropped ?? "?"} packets dropped, n1 push retransmits ${counters.push_retransmits}`,
    );
    // Design goal at 5 % loss: p99 ≤ 100 ms (notes/gossip-design.md §6 row 2): a lost push or ack
    // costs one 10 ms RTO, two in a row 30 ms. The bound asserted leaves room for a slow CI box but
    // stays far below anti-entropy (1 s), so it fails if repair had to wait for it.
    expect(p99).toBeLessThan(250);
    if (dropped !== undefined) expect(dropped).toBeGreaterThan(0);
  }, 60_000);

  test("a partition aborts the operation on every node, one opened during it too; after the heal membership is whole and a dump commits", async () => {
    cluster = await new RealCluster(3, "6s").start();
    const c = cluster;
    await Promise.all(MEMBERS.map((m, i) => c.arrive(i, m, "pre-dump")));
    const alpha = c.arrive(0, "alpha", "network-lock");
    const charlie = c.arrive(2, "charlie", "network-lock");
    await c.waiting(0, 1);
    await c.waiting(2, 1);
    const t0 = performance.now();
    c.lab.link(3, false);
    const [a, ch] = await Promise.all([alpha, charlie]);
    for (const r of [a, ch]) expect(r).toMatchObject({ ok: false, code: "aborted" });
    // Either failure detection (n3 declared dead, ~5 s) or the 6 s group deadline gets there
    // first on a loaded machine; both are the partition aborting the round.
    expect(a.message).toMatch(/n3|Timed out at network-lock/);
    // bravo arrives late on n2, which learned the abort on its own (n3 declared dead) or from n1.
    expect(await c.arrive(1, "bravo", "network-lock")).toMatchObject({ ok: false, code: "aborted" });
    console.log(`partition: n1 aborted after ${Math.round(a.at - t0)} ms (${a.message}); n3 after ${Math.round(ch.at - t0)} ms (${ch.message})`);

    // An operation opened while n3 is cut off can not complete: every node aborts it.
    const t1 = performance.now();
    const during = await Promise.all(MEMBERS.map((m, i) => c.arrive(i, m, "pre-dump")));
    for (const r of during) expect(r).toMatchObject({ ok: false, code: "aborted" });
    console.log(`operation during the partition aborted on every node after ${Math.round(Math.max(...during.map((r) => r.at)) - t1)} ms`);

    const t2 = performance.now();
    c.lab.link(3, true);
    for (const n of c.nodes) await c.waitWhole(n, 30_000);
    console.log(`heal: membership whole on every node ${Math.round(performance.now() - t2)} ms after the link came back`);
    for (const hook of DUMP) {
      const all = await Promise.all(MEMBERS.map((m, i) => c.arrive(i, m, hook)));
      expect(all.map((r) => r.ok)).toEqual([true, true, true]);
    }
    for (const n of c.nodes) expect((await c.status(n)).groups[0].operation.phase.state).toBe("committed");
  }, 90_000);
});
