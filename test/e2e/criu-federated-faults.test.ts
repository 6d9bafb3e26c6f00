/**
 * Fault matrix on the federated setup (criu-federated.test.ts): two nodes, one daemon each,
 * gossip between them, the TCP server on node a and the client on node b, both dumped at the same
 * time. One thing goes wrong on one side in each case, and every case must end with
 *
 *   - both dumps failed, both processes running, and the connection carrying data again
 *     (the other allowed outcome, "both dumped", can not happen here: every fault strikes before
 *     the commit point),
 *   - within the group timeout + 5 s (the hook's own grace) + a small margin,
 *   - no CRIU run or hook call left, and no operation committed on either daemon.
 *
 * To strike at a precise moment, side b's CRIU also runs log-hook.sh, which logs each hook call
 * and can sleep at one (HOOK_SLEEP_AT): CRIU runs action scripts in reverse command-line order, so
 * log-hook.sh runs first and holds side b's CRIU at post-dump, processes frozen, before b's
 * coordinator call; meanwhile side a's call waits at post-dump for b.
 */
import { afterEach, describe, expect } from "bun:test";
import { join } from "node:path";
import {
  COORDINATOR_BIN,
  type CoordinatorDaemon,
  criuDump,
  criuRestore,
  type CriuResult,
  type CriuWay,
  coordinatedTest,
  expectBothKeptRunning,
  expectCriuOk,
  expectHealthy,
  expectNoLeftovers,
  federatedPair,
  groupOperation,
  hooks,
  isRunning,
  Lab,
  pairGroupToml,
  lastProgress,
  LOG_HOOK,
  mustRun,
  type Side,
  waitFor,
  waitStreamGrows,
} from "./harness.ts";

const e2e = await coordinatedTest("test/e2e/criu-federated-faults.test.ts");

/** Short, so that the cases that must wait for it stay quick; a dump here takes ~0.2 s. */
const GROUP_TIMEOUT_S = 6;
/** Group timeout + the hook's 5 s grace + margin for CRIU's own unfreeze and exit. */
const BOUND_MS = (GROUP_TIMEOUT_S + 5 + 2) * 1000;
const TEST_TIMEOUT_MS = 60_000;
const PAIR = pairGroupToml(GROUP_TIMEOUT_S);

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.cleanup();
  lab = null;
});

interface Fed {
  lab: Lab;
  daemons: CoordinatorDaemon[];
  sides: [Side, Side];
  /** log-hook.sh's log of side a and side b. */
  hookLogs: [string, string];
}

async function setUp(name: string, way: CriuWay): Promise<Fed> {
  const l = new Lab(name);
  lab = l;
  return { lab: l, ...(await federatedPair(l, PAIR, way)), hookLogs: [join(l.dir, "hooks-a.log"), join(l.dir, "hooks-b.log")] };
}

/** log-hook.sh settings (HOOK_FAIL_AT, HOOK_SLEEP_AT, ...) per side; a side without runs no log-hook.sh. */
type LogHookEnv = [Record<string, string> | null, Record<string, string> | null];

/**
 * Dumps both sides at once through their own daemons; a side with log-hook settings also runs
 * log-hook.sh. Side a's images go to `imagesA` if given.
 */
function dumpBoth(f: Fed, way: CriuWay, logHook: LogHookEnv, imagesA?: string): Promise<CriuResult[]> {
  return Promise.all(f.sides.map((s, i) => {
    const lh = logHook[i];
    return criuDump({
      way,
      node: s.node,
      pid: s.w.pid,
      imagesDir: i === 0 ? (imagesA ?? s.img) : s.img,
      workDir: f.lab.path(`work-${s.node.label}`),
      actionScripts: lh ? [COORDINATOR_BIN, LOG_HOOK] : [COORDINATOR_BIN],
      env: { ...f.daemons[i]!.env, ...(lh ? { HOOK_LOG: f.hookLogs[i]!, ...lh } : {}) },
    });
  }));
}

/** The allowed outcome of every case here: nothing dumped, everything running and connected. */
async function expectNothingLost(f: Fed, dumps: CriuResult[], ms: number, what: string, liveDaemons = f.daemons): Promise<void> {
  console.log(`${what}: both CRIU runs ended after ${ms.toFixed(0)} ms; codes ${dumps.map((d) => d.code)}`);
  dumps.forEach((d, i) => expect(d.code, `${f.sides[i]!.w.comm}'s dump must fail`).not.toBe(0));
  expect(ms).toBeLessThan(BOUND_MS);
  expectNoLeftovers(f.lab.dir);
  // Retransmissions backed off while the sides were frozen and locked: allow a few RTOs.
  await expectBothKeptRunning(f.sides, 20_000);
  for (const d of liveDaemons) {
    expect(JSON.stringify(await groupOperation(d, "pair"))).not.toContain("committed");
    // The daemon says what happened.
    expect(d.log).toMatch(/pair#1 aborted: /);
  }
}

/** Waits until side i's log-hook.sh has logged `hook` (and so is sleeping there, if asked). */
async function waitHook(f: Fed, i: number, hook: string): Promise<void> {
  await waitFor(`side ${f.sides[i]!.node.label}'s CRIU to reach ${hook}`, () => hooks(f.hookLogs[i]!).some((h) => h.action === hook), {
    timeoutMs: 10_000,
    state: () => JSON.stringify(hooks(f.hookLogs[i]!)),
  });
}

/** Hold side b's CRIU for 1 s at post-dump, processes frozen, before its coordinator call. */
const HOLD_B_AT_POST_DUMP: LogHookEnv = [null, { HOOK_SLEEP_AT: "post-dump", HOOK_SLEEP_S: "1" }];

describe("federated coordinated CRIU: faults on one side abort both, nothing is lost", () => {
  const HOOK_FAULTS = [
    // b's CRIU aborts before freezing; a passes pre-dump and waits at post-dump, frozen.
    { way: "c1", failAt: "pre-dump", bHooks: ["pre-dump"] },
    // b is frozen; its CRIU unlocks the network before post-dump: b's daemon takes that as b's
    // failure and a's daemon hears it over gossip.
    { way: "c2", failAt: "network-lock", bHooks: ["pre-dump", "network-lock", "network-unlock"] },
  ] as const;
  for (const f of HOOK_FAULTS) {
    e2e(`${f.way}: a second action-script failing at ${f.failAt} on node b aborts both nodes' dumps; both keep running and connected`, async () => {
      const fed = await setUp(`fed-fail-${f.failAt}`, f.way);
      const t0 = performance.now();
      const dumps = await dumpBoth(fed, f.way, [null, { HOOK_FAIL_AT: f.failAt }]);
      const ms = performance.now() - t0;
      expect(dumps[1]!.log).toContain(`log-hook: failing on purpose at ${f.failAt}`);
      expect(hooks(fed.hookLogs[1]).map((h) => h.action)).toEqual([...f.bHooks]);
      // a's failure line names the member that failed.
      expect(dumps[0]!.log).toMatch(/criu-coordinator: pair\/tcp-server at post-dump: .*aborted.*tcp-client/);
      await expectNothingLost(fed, dumps, ms, `${f.failAt} failure on node b`);
    }, TEST_TIMEOUT_MS);
  }

  e2e("c1: node a's dump fails after the freeze (images on a full filesystem); both nodes' dumps fail, both resume and stay connected", async () => {
    const fed = await setUp("fed-enospc", "c1");
    // The server's pages (several MiB) do not fit in 256 KiB: CRIU fails while writing them, with
    // the process frozen; no further hook runs on a (c1), so a's daemon learns it from a's CRIU
    // process exiting (src/daemon/criu-runs.ts) and tells b's daemon.
    const full = await fed.lab.smallFs("img-a-full", 256);
    const t0 = performance.now();
    const dumps = await dumpBoth(fed, "c1", [null, null], full);
    const ms = performance.now() - t0;
    expect(dumps[0]!.log).toMatch(/No space left on device|ENOSPC|Can't write/i);
    expect(fed.daemons[0]!.log).toMatch(/pair#1 aborted: .*tcp-server/);
    await expectNothingLost(fed, dumps, ms, "ENOSPC on node a");
  }, TEST_TIMEOUT_MS);

  e2e("c1: node b's daemon SIGKILLed while both processes are frozen before the commit; both dumps fail, both resume and stay connected", async () => {
    const fed = await setUp("fed-daemon-killed", "c1");
    const t0 = performance.now();
    const dumping = dumpBoth(fed, "c1", HOLD_B_AT_POST_DUMP);
    await waitHook(fed, 1, "post-dump");
    await waitFor("node a's hook to wait at post-dump", () => /tcp-server arrived at post-dump/.test(fed.daemons[0]!.log), { timeoutMs: 5_000 });
    fed.daemons[1]!.proc.kill("SIGKILL");
    const dumps = await dumping;
    const ms = performance.now() - t0;
    // a's daemon saw node b go silent; b's hook found no daemon and gave up at its deadline.
    expect(dumps[0]!.log).toMatch(/pair\/tcp-server at post-dump: .*aborted/);
    expect(dumps[1]!.log).toMatch(/pair\/tcp-client at post-dump: coordinator unreachable/);
    await expectNothingLost(fed, dumps, ms, "node b's daemon killed mid-dump", [fed.daemons[0]!]);
  }, TEST_TIMEOUT_MS);

  e2e("c1: the link between the nodes cut while both processes are frozen, before either reached the commit point; both dumps fail, both resume and reconnect once the link is back", async () => {
    const fed = await setUp("fed-link-cut", "c1");
    const b = fed.sides[1].node;
    const t0 = performance.now();
    // Both CRIUs held at post-dump before their coordinator calls: no daemon has seen any post-dump.
    const hold = { HOOK_SLEEP_AT: "post-dump", HOOK_SLEEP_S: "1" };
    const dumping = dumpBoth(fed, "c1", [hold, hold]);
    await Promise.all([waitHook(fed, 0, "post-dump"), waitHook(fed, 1, "post-dump")]);
    // The veth carries both the gossip and the TCP connection: down on one end cuts both.
    await mustRun(["ip", "-n", b.netns, "link", "set", "to-a", "down"]);
    const dumps = await dumping;
    const ms = performance.now() - t0;
    for (const [i, s] of fed.sides.entries()) expect(dumps[i]!.log).toMatch(new RegExp(`pair/${s.w.comm} at post-dump: .*aborted`));
    await mustRun(["ip", "-n", b.netns, "link", "set", "to-a", "up"]);
    await expectNothingLost(fed, dumps, ms, "link cut mid-dump");
  }, TEST_TIMEOUT_MS);

  e2e("c1: the link cut inside the commit window (b's daemon already saw a at post-dump, b not yet there): b commits, a aborts and says the outcome is uncertain; restoring b alone brings the stream back with no gap", async () => {
    // The documented limit of the gossip backend (src/gossip/gossip-backend.ts, COMMIT WINDOW):
    // the outcome splits, the daemons flag it, and nothing is lost because b's images are
    // complete and b's node stays locked until b is restored.
    const fed = await setUp("fed-commit-window", "c1");
    const [a, b] = fed.sides;
    const t0 = performance.now();
    const dumping = dumpBoth(fed, "c1", HOLD_B_AT_POST_DUMP);
    await waitHook(fed, 1, "post-dump");
    await waitFor("b's daemon to know that a reached post-dump", async () => {
      const op = (await groupOperation(fed.daemons[1]!, "pair")) as { participants?: { name: string; hook: string | null }[] } | undefined;
      return op?.participants?.find((p) => p.name === a.w.comm)?.hook === "post-dump";
    }, { timeoutMs: 5_000 });
    await mustRun(["ip", "-n", b.node.netns, "link", "set", "to-a", "down"]);
    const dumps = await dumping;
    const ms = performance.now() - t0;
    console.log(`commit window: a's dump ended with ${dumps[0]!.code}, b's with ${dumps[1]!.code} after ${ms.toFixed(0)} ms`);
    expect(dumps[1]!.code).toBe(0);
    expect(dumps[1]!.log).toContain("pair/tcp-client at post-dump: pair#1 committed");
    expect(dumps[0]!.code).not.toBe(0);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(fed.daemons[0]!.log).toContain("[outcome-uncertain] pair#1 aborted after a member reached post-dump");
    expectNoLeftovers(fed.lab.dir);
    await waitFor(`${b.w.comm} to be gone after its dump`, () => !isRunning(b.w.pid), { timeoutMs: 2_000 });
    expect(isRunning(a.w.pid)).toBe(true);

    await mustRun(["ip", "-n", b.node.netns, "link", "set", "to-a", "up"]);
    const atDump = fed.sides.map((s) => lastProgress(s.w.log()).rx);
    // A coordinated restore of b alone can not pass the group's pre-restore barrier (a is not
    // restoring), so the operator recovers b without the coordinator.
    expectCriuOk(await criuRestore({ node: b.node, imagesDir: b.img, workDir: fed.lab.path("restore-b") }), "uncoordinated restore of b");
    await waitStreamGrows(fed.sides.map((s) => s.w), atDump, 200, 30_000);
    for (const s of fed.sides) expectHealthy(s.w);
  }, TEST_TIMEOUT_MS);
});
