/**
 * Real CRIU with the real coordinator: `dist/criu-coordinator` is CRIU's --action-script, one
 * daemon (single node for now: both netns share the host's unix socket path, since nsenter --net
 * keeps the mount namespace). Group "pair" = the two workloads, named by their comm.
 *
 * Every case ends in one of the two allowed states: both sides dumped (and restorable), or both
 * still running with their connection intact. No CRIU or hook process is left behind.
 */
import { afterEach, describe, expect } from "bun:test";
import { join } from "node:path";
import {
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
  groupOperation,
  hooks,
  isRunning,
  Lab,
  pairGroupToml,
  lastProgress,
  LOG_HOOK,
  procState,
  readDumpStats,
  type Side,
  waitFor,
  waitReaped,
  waitStreamGrows,
} from "./harness.ts";

const e2e = await coordinatedTest("test/e2e/criu-coordinated.test.ts");

const TEST_TIMEOUT_MS = 60_000;
/** The group timeout in the config; fault cases must end well within it plus a margin. */
const GROUP_TIMEOUT_S = 10;
const PAIR = pairGroupToml(GROUP_TIMEOUT_S);

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.cleanup();
  lab = null;
});

async function setUp(name: string): Promise<{ lab: Lab; daemon: CoordinatorDaemon; sides: [Side, Side] }> {
  const l = new Lab(name);
  lab = l;
  const daemon = await l.coordinator(PAIR);
  const [a, b] = await l.nodePair();
  const { server, client } = await l.tcpPair(a, b);
  const sides: [Side, Side] = [
    { node: a, w: server, img: l.path("img-a") },
    { node: b, w: client, img: l.path("img-b") },
  ];
  return { lab: l, daemon, sides };
}

/** The group's operation as `status --json` shows it. */
const operation = (daemon: CoordinatorDaemon) => groupOperation(daemon, "pair");

describe("coordinated CRIU (one daemon)", () => {
  for (const way of ["c1", "c2"] as const satisfies CriuWay[]) {
    e2e(`${way}: both sides dumped at once through the coordinator (kill mode), restored through it, TCP stream intact`, async () => {
      const { lab: l, daemon, sides } = await setUp(`coord-${way}`);
      const common = { way, actionScripts: [COORDINATOR_BIN], env: daemon.env };
      const dumps = await Promise.all(sides.map((s) => criuDump({ ...common, node: s.node, pid: s.w.pid, imagesDir: s.img })));
      dumps.forEach((d, i) => expectCriuOk(d, `coordinated dump of ${sides[i]!.w.comm}\n${daemon.log}`));
      for (const [i, s] of sides.entries()) {
        expect(dumps[i]!.log).toContain(`pair/${s.w.comm} at post-dump`);
        const st = readDumpStats(s.img)!;
        console.log(`coordinated ${way} dump ${s.w.comm}: criu wall ${dumps[i]!.ms.toFixed(0)} ms, frozen ${(st.frozenTimeUs / 1000).toFixed(1)} ms`);
        await waitFor(`${s.w.comm} to be gone after the dump`, () => !isRunning(s.w.pid), { timeoutMs: 2_000 });
      }
      expect(await operation(daemon)).toMatchObject({ kind: "dump", phase: { state: "committed" } });
      const atDump = sides.map((s) => lastProgress(s.w.log()).rx);

      const restores = await Promise.all(sides.map((s) => criuRestore({ ...common, node: s.node, imagesDir: s.img })));
      restores.forEach((r, i) => expectCriuOk(r, `coordinated restore of ${sides[i]!.w.comm}\n${daemon.log}`));
      for (const [i, s] of sides.entries()) {
        console.log(`coordinated ${way} restore ${s.w.comm}: criu wall ${restores[i]!.ms.toFixed(0)} ms`);
        expect(restores[i]!.log).toContain(`pair/${s.w.comm} at post-restore`);
      }
      expect(await operation(daemon)).toMatchObject({ kind: "restore", phase: { state: "committed" } });
      await waitStreamGrows(sides.map((s) => s.w), atDump, 200, 20_000);
      for (const s of sides) expectHealthy(s.w);
      expectNoLeftovers(l.dir);
    }, TEST_TIMEOUT_MS);
  }

  e2e("c1: --leave-running dump of both sides through the coordinator: both dumped, both kept running, no gap", async () => {
    const { lab: l, daemon, sides } = await setUp("coord-leave-running");
    const dumps = await Promise.all(sides.map((s) =>
      criuDump({ node: s.node, pid: s.w.pid, imagesDir: s.img, leaveRunning: true, actionScripts: [COORDINATOR_BIN], env: daemon.env })));
    dumps.forEach((d, i) => expectCriuOk(d, `coordinated -R dump of ${sides[i]!.w.comm}\n${daemon.log}`));
    for (const s of sides) expect(readDumpStats(s.img)!.pagesWritten).toBeGreaterThan(0);
    expect(await operation(daemon)).toMatchObject({ kind: "dump", phase: { state: "committed" } });
    await expectBothKeptRunning(sides);
    expectNoLeftovers(l.dir);
  }, TEST_TIMEOUT_MS);

  const HOOK_FAULTS = [
    // Side b's CRIU aborts before freezing; side a passes pre-dump and waits at post-dump.
    { way: "c1", failAt: "pre-dump", failingSideHooks: ["pre-dump"] },
    // Side b is frozen; its CRIU unlocks the network before post-dump, which the coordinator
    // takes as that member's failure.
    { way: "c2", failAt: "network-lock", failingSideHooks: ["pre-dump", "network-lock", "network-unlock"] },
  ] as const;
  for (const f of HOOK_FAULTS) {
    e2e(`${f.way}: a second action-script failing at ${f.failAt} on one side aborts both dumps; both keep running and connected`, async () => {
      const { lab: l, daemon, sides } = await setUp(`coord-fail-${f.failAt}`);
      const started = performance.now();
      const dumps = await Promise.all(sides.map((s, i) =>
        criuDump({
          way: f.way,
          node: s.node,
          pid: s.w.pid,
          imagesDir: s.img,
          // Side b (the client) also runs log-hook.sh, which fails at f.failAt.
          actionScripts: i === 1 ? [COORDINATOR_BIN, LOG_HOOK] : [COORDINATOR_BIN],
          env: { ...daemon.env, HOOK_FAIL_AT: f.failAt, HOOK_LOG: join(l.dir, `hooks-${s.node.label}.log`) },
        })));
      const ms = performance.now() - started;
      console.log(`${f.failAt} failure on one side: both CRIU runs ended after ${ms.toFixed(0)} ms; codes ${dumps.map((d) => d.code)}`);
      for (const d of dumps) expect(d.code).not.toBe(0);
      expect(dumps[1]!.log).toContain(`log-hook: failing on purpose at ${f.failAt}`);
      expect(hooks(join(l.dir, "hooks-b.log")).map((h) => h.action)).toEqual([...f.failingSideHooks]);
      expect(ms).toBeLessThan((GROUP_TIMEOUT_S + 5) * 1000);
      await expectBothKeptRunning(sides);
      expectNoLeftovers(l.dir);
      expect(await operation(daemon)).toMatchObject({ kind: "dump" });
      expect(JSON.stringify(await operation(daemon))).not.toContain("committed");
      // The daemon says what happened: the round aborted.
      expect(daemon.log).toMatch(/pair#1 aborted: /);
    }, TEST_TIMEOUT_MS);
  }

  e2e("c1: one side's dump fails after the freeze (images dir on a full filesystem); both sides resume and stay connected", async () => {
    const { lab: l, daemon, sides } = await setUp("coord-enospc");
    // The server's pages (several MiB) do not fit in 256 KiB: CRIU fails while writing them,
    // with the process frozen. The log goes to a work dir elsewhere so it is not lost.
    const fullImg = await l.smallFs("img-a-full", 256);
    const started = performance.now();
    const dumps = await Promise.all(sides.map((s, i) =>
      criuDump({
        node: s.node,
        pid: s.w.pid,
        imagesDir: i === 0 ? fullImg : s.img,
        workDir: l.path(`work-${s.node.label}`),
        actionScripts: [COORDINATOR_BIN],
        env: daemon.env,
      })));
    const ms = performance.now() - started;
    console.log(`ENOSPC on one side: both CRIU runs ended after ${ms.toFixed(0)} ms; codes ${dumps.map((d) => d.code)}`);
    expect(dumps[0]!.code).not.toBe(0);
    expect(dumps[0]!.log).toMatch(/No space left on device|ENOSPC|Can't write/i);
    // The client reached the commit point but must not pass it: its CRIU resumes it.
    expect(dumps[1]!.code).not.toBe(0);
    expect(ms).toBeLessThan((GROUP_TIMEOUT_S + 5) * 1000);
    await expectBothKeptRunning(sides);
    expectNoLeftovers(l.dir);
    expect(JSON.stringify(await operation(daemon))).not.toContain("committed");
    expect(daemon.log).toMatch(/pair#1 aborted: .*tcp-server/);
  }, TEST_TIMEOUT_MS);

  e2e("c1: a member that is never dumped makes the other side's dump fail at the group timeout; it keeps running and connected", async () => {
    const { lab: l, daemon, sides } = await setUp("coord-missing-member");
    const [server] = sides;
    const started = performance.now();
    const d = await criuDump({ node: server.node, pid: server.w.pid, imagesDir: server.img, actionScripts: [COORDINATOR_BIN], env: daemon.env });
    const ms = performance.now() - started;
    console.log(`missing member: the lone dump ended after ${ms.toFixed(0)} ms with code ${d.code}`);
    expect(d.code).not.toBe(0);
    expect(d.log).toContain("tcp-client (never arrived)");
    expect(ms).toBeGreaterThan(GROUP_TIMEOUT_S * 1000 - 500);
    expect(ms).toBeLessThan((GROUP_TIMEOUT_S + 5) * 1000);
    await expectBothKeptRunning(sides);
    expectNoLeftovers(l.dir);
    expect(daemon.log).toMatch(/pair#1 aborted: .*tcp-client/);
  }, TEST_TIMEOUT_MS);

  e2e("c1: the daemon SIGKILLed while a dump waits at pre-dump: the dump fails within timeout + 5 s, the process keeps running and connected", async () => {
    const { lab: l, daemon, sides } = await setUp("coord-daemon-killed");
    const [server] = sides;
    const started = performance.now();
    const dump = criuDump({ node: server.node, pid: server.w.pid, imagesDir: server.img, actionScripts: [COORDINATOR_BIN], env: daemon.env });
    await waitFor("the server's hook to wait at pre-dump", () => /tcp-server arrived at pre-dump/.test(daemon.log), {
      timeoutMs: 5_000,
      state: () => daemon.log,
    });
    daemon.proc.kill("SIGKILL");
    const d = await dump;
    const ms = performance.now() - started;
    console.log(`daemon killed mid-barrier: the dump ended after ${ms.toFixed(0)} ms with code ${d.code}`);
    expect(d.code).not.toBe(0);
    expect(ms).toBeLessThan((GROUP_TIMEOUT_S + 5 + 3) * 1000);
    await expectBothKeptRunning(sides);
    expectNoLeftovers(l.dir);
  }, TEST_TIMEOUT_MS);

  e2e("c1: a pre-restore failure on one side fails both restores, nothing half-restored runs, and a retry of both restores the stream", async () => {
    const { lab: l, daemon, sides } = await setUp("coord-fail-pre-restore");
    const common = { actionScripts: [COORDINATOR_BIN], env: daemon.env };
    const dumps = await Promise.all(sides.map((s) => criuDump({ ...common, node: s.node, pid: s.w.pid, imagesDir: s.img })));
    dumps.forEach((d, i) => expectCriuOk(d, `coordinated dump of ${sides[i]!.w.comm}`));
    const atDump = sides.map((s) => lastProgress(s.w.log()).rx);
    for (const s of sides) await waitFor(`${s.w.comm} gone`, () => !isRunning(s.w.pid), { timeoutMs: 2_000 });

    const started = performance.now();
    const failed = await Promise.all(sides.map((s, i) =>
      criuRestore({
        node: s.node,
        imagesDir: s.img,
        workDir: l.path(`restore-1-${s.node.label}`),
        actionScripts: i === 1 ? [COORDINATOR_BIN, LOG_HOOK] : [COORDINATOR_BIN],
        env: { ...daemon.env, HOOK_FAIL_AT: "pre-restore" },
      })));
    const ms = performance.now() - started;
    console.log(`pre-restore failure on one side: both restores ended after ${ms.toFixed(0)} ms; codes ${failed.map((r) => r.code)}`);
    for (const r of failed) expect(r.code).not.toBe(0);
    expect(ms).toBeLessThan((GROUP_TIMEOUT_S + 5) * 1000);
    // No half-restored application: neither PID runs (the server's copy was killed by its CRIU),
    // and neither copy ran application code (no progress line after the dump).
    for (const s of sides) {
      const seen = procState(s.w.pid);
      const t0 = performance.now();
      await waitFor(`${s.w.comm}'s restored copy to die`, () => !isRunning(s.w.pid), {
        timeoutMs: 3_000,
        state: () => `state ${procState(s.w.pid)}`,
      });
      console.log(`${s.w.comm}: state ${seen} right after the failed restore, dead after ${(performance.now() - t0).toFixed(0)} ms`);
      expect(lastProgress(s.w.log()).rx, `${s.w.comm} ran after the failed restore`).toBe(atDump[sides.indexOf(s)]!);
    }
    expectNoLeftovers(l.dir);
    expect(daemon.log).toMatch(/pair#\d+ aborted: /);

    // The images are intact and the nodes still locked: restoring both again works, once the
    // killed copy (re-parented to PID 1 when its CRIU exited) has been reaped and its PID is free.
    for (const s of sides) console.log(`${s.w.comm}: PID free after ${(await waitReaped(s.w.pid)).toFixed(0)} ms`);
    const retry = await Promise.all(sides.map((s) =>
      criuRestore({ ...common, node: s.node, imagesDir: s.img, workDir: l.path(`restore-2-${s.node.label}`) })));
    retry.forEach((r, i) => expectCriuOk(r, `second restore of ${sides[i]!.w.comm}\n${daemon.log}`));
    await waitStreamGrows(sides.map((s) => s.w), atDump, 200, 20_000);
    for (const s of sides) expectHealthy(s.w);
  }, TEST_TIMEOUT_MS);
});
