/**
 * A daemon restarted mid-barrier (kill -9, then started again) with the real compiled binary in
 * network namespaces and real hook processes: the hook call that was waiting on that node
 * reconnects and fails with the reason (its node restarted, so the operation can not commit);
 * the other nodes' calls fail within the group timeout. Needs root and iproute2.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinary } from "../support/binary.ts";
import { canUseNetns } from "./netns.ts";
import { MEMBERS, RealCluster } from "./real-daemons.ts";

const NETNS = canUseNetns();
if (!NETNS) console.warn("!! SKIPPING test/cluster/daemons-restart.test.ts: needs root and `ip netns` (iproute2)");

let cluster: RealCluster | undefined;
afterEach(() => {
  cluster?.destroy();
  cluster = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

describe.skipIf(!NETNS)("a federated daemon restarted mid-barrier", () => {
  test("the hook call that reconnects to it fails with the reason, and every other node's calls fail within the timeout", async () => {
    const c = (cluster = await new RealCluster(3, "10s").start());
    const pids = MEMBERS.map((m) => c.box.spawnNamed(m));
    const images = MEMBERS.map((m) => c.box.imagesDir(m));
    const pre = await Promise.all(MEMBERS.map((_, i) => c.hook(i, "pre-dump", pids[i], images[i]!).done));
    expect(pre.map((r) => r.code)).toEqual([0, 0, 0]);
    // alpha (n1) and charlie (n3) wait at network-lock for bravo.
    const alpha = c.hook(0, "network-lock", pids[0], images[0]!);
    const charlie = c.hook(2, "network-lock", pids[2], images[2]!);
    await c.waiting(0, 1);
    await c.waiting(2, 1);

    const t0 = performance.now();
    c.nodes[2]!.proc.kill("SIGKILL");
    await c.nodes[2]!.proc.exited;
    await Bun.sleep(300); // charlie's hook retries its call meanwhile
    c.startDaemon(2);

    const [a, ch] = await Promise.all([alpha.done, charlie.done]);
    console.log(`restart: charlie's reconnected call on n3 failed after ${Math.round(ch.endedAt - t0)} ms: ${ch.output.trim()}`);
    console.log(`restart: alpha's call on n1 failed after ${Math.round(a.endedAt - t0)} ms: ${a.output.trim()}`);
    expect(ch.code).toBe(1);
    expect(ch.output).toContain("trio#1 was aborted");
    expect(ch.output).toMatch(/node n3 restarted/);
    expect(a.code).toBe(1);
    expect(a.output).toMatch(/node n3 (restarted|declared dead)/);
    expect(a.endedAt - t0).toBeLessThan(10_000);
    // bravo arrives late on n2: the operation is already aborted there.
    const b = await c.hook(1, "network-lock", pids[1], images[1]!).done;
    expect(b.code).toBe(1);
    expect(b.output).toContain("aborted");
    for (const n of c.nodes) expect((await c.status(n)).groups[0].operation).toMatchObject({ id: "trio#1", phase: { state: "aborted" } });
    // The restarted node is a full member again, and the next dump commits everywhere.
    for (const n of c.nodes) await c.waitWhole(n);
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      const all = await Promise.all(MEMBERS.map((_, i) => c.hook(i, hook, pids[i], images[i]!).done));
      expect({ hook, codes: all.map((r) => r.code) }).toEqual({ hook, codes: [0, 0, 0] });
    }
    for (const n of c.nodes) expect((await c.status(n)).groups[0].operation).toMatchObject({ id: "trio#2", phase: { state: "committed" } });
  }, 60_000);
});
