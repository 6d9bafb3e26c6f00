/**
 * Real CRIU, real coordinator, federated: two nodes (netns + veth), ONE DAEMON EACH, joined by
 * authenticated gossip. Node a runs the TCP server, node b the client; each node's CRIU runs
 * `dist/criu-coordinator` as its action-script with `CRIU_COORDINATOR_CONFIG` naming its own
 * node's config, so every hook call talks only to the daemon of its node.
 *
 * Both sides are dumped at the same time and restored at the same time, and the numbered stream
 * must go on with no gap and no reset, both ways of running CRIU (criu-hooks.md §2.3), in kill
 * mode and with --leave-running.
 *
 * In the c2 way the daemons run in "host" namespaces apart from the workloads' (see federatedPair).
 */
import { afterEach, describe, expect } from "bun:test";
import {
  clusterNodeName,
  COORDINATOR_BIN,
  type CoordinatorDaemon,
  criuDump,
  criuRestore,
  type CriuWay,
  coordinatedTest,
  expectBothKeptRunning,
  expectCriuOk,
  expectHealthy,
  expectNoLeftovers,
  federatedPair,
  groupOperation,
  isRunning,
  Lab,
  pairGroupToml,
  lastProgress,
  readDumpStats,
  type Side,
  waitFor,
  waitStreamGrows,
} from "./harness.ts";

const e2e = await coordinatedTest("test/e2e/criu-federated.test.ts");

const TEST_TIMEOUT_MS = 60_000;
const PAIR = pairGroupToml(10);

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.cleanup();
  lab = null;
});

async function federatedSetUp(name: string, groupsToml: string, way: CriuWay): Promise<{ lab: Lab; daemons: CoordinatorDaemon[]; sides: [Side, Side] }> {
  const l = new Lab(name);
  lab = l;
  return { lab: l, ...(await federatedPair(l, groupsToml, way)) };
}

/** Both daemons agree on the operation: same id and kind, committed, each member on its node. */
async function expectCommittedEverywhere(daemons: CoordinatorDaemon[], sides: Side[], kind: "dump" | "restore"): Promise<void> {
  const where = sides.map((s) => `${s.w.comm}@${clusterNodeName(s.node)}`).sort();
  const ids = new Set<unknown>();
  for (const d of daemons) {
    const op = (await groupOperation(d, "pair")) as { id: string; participants: { name: string; node: string }[] };
    expect(op).toMatchObject({ kind, phase: { state: "committed" } });
    expect(op.participants.map((p) => `${p.name}@${p.node}`).sort()).toEqual(where);
    ids.add(op.id);
  }
  expect(ids.size).toBe(1);
}

describe("coordinated CRIU, one federated daemon per node", () => {
  for (const way of ["c1", "c2"] as const satisfies CriuWay[]) {
    e2e(`${way}: both sides dumped at once (kill mode) through their own node's daemon, restored at once, TCP stream intact`, async () => {
      const { lab: l, daemons, sides } = await federatedSetUp(`fed-${way}`, PAIR, way);
      const opts = (i: number) => ({ way, node: sides[i]!.node, imagesDir: sides[i]!.img, actionScripts: [COORDINATOR_BIN], env: daemons[i]!.env });
      const dumps = await Promise.all(sides.map((s, i) => criuDump({ ...opts(i), pid: s.w.pid })));
      dumps.forEach((d, i) => expectCriuOk(d, `federated dump of ${sides[i]!.w.comm}\n${daemons[i]!.log}`));
      for (const [i, s] of sides.entries()) {
        expect(dumps[i]!.log).toContain(`pair/${s.w.comm} at post-dump`);
        const st = readDumpStats(s.img)!;
        console.log(`federated ${way} dump ${s.w.comm}: criu wall ${dumps[i]!.ms.toFixed(0)} ms, frozen ${(st.frozenTimeUs / 1000).toFixed(1)} ms`);
        await waitFor(`${s.w.comm} to be gone after the dump`, () => !isRunning(s.w.pid), { timeoutMs: 2_000 });
      }
      await expectCommittedEverywhere(daemons, sides, "dump");
      const atDump = sides.map((s) => lastProgress(s.w.log()).rx);

      const restores = await Promise.all(sides.map((_, i) => criuRestore(opts(i))));
      restores.forEach((r, i) => expectCriuOk(r, `federated restore of ${sides[i]!.w.comm}\n${daemons[i]!.log}`));
      for (const [i, s] of sides.entries()) {
        console.log(`federated ${way} restore ${s.w.comm}: criu wall ${restores[i]!.ms.toFixed(0)} ms`);
        expect(restores[i]!.log).toContain(`pair/${s.w.comm} at post-restore`);
      }
      await expectCommittedEverywhere(daemons, sides, "restore");
      const t0 = performance.now();
      await waitStreamGrows(sides.map((s) => s.w), atDump, 200, 20_000);
      console.log(`federated ${way}: stream +200 lines each way ${(performance.now() - t0).toFixed(0)} ms after both restores`);
      for (const s of sides) expectHealthy(s.w);
      expectNoLeftovers(l.dir);
    }, TEST_TIMEOUT_MS);

    e2e(`${way}: --leave-running dump of both sides through their own node's daemon: both dumped, both kept running, no gap`, async () => {
      const { lab: l, daemons, sides } = await federatedSetUp(`fed-${way}-R`, PAIR, way);
      const dumps = await Promise.all(sides.map((s, i) =>
        criuDump({ way, node: s.node, pid: s.w.pid, imagesDir: s.img, leaveRunning: true, actionScripts: [COORDINATOR_BIN], env: daemons[i]!.env })));
      dumps.forEach((d, i) => expectCriuOk(d, `federated -R dump of ${sides[i]!.w.comm}\n${daemons[i]!.log}`));
      for (const [i, s] of sides.entries()) {
        const st = readDumpStats(s.img)!;
        expect(st.pagesWritten).toBeGreaterThan(0);
        console.log(`federated ${way} -R dump ${s.w.comm}: criu wall ${dumps[i]!.ms.toFixed(0)} ms, frozen ${(st.frozenTimeUs / 1000).toFixed(1)} ms`);
      }
      await expectCommittedEverywhere(daemons, sides, "dump");
      await expectBothKeptRunning(sides);
      expectNoLeftovers(l.dir);
    }, TEST_TIMEOUT_MS);
  }
});
