/**
 * More faults on the federated setup (criu-federated-faults.test.ts): two nodes, one daemon each,
 * the TCP server on node a and the client on node b.
 *
 * 1. CRIU SIGKILLed on node b mid-dump, its process frozen. The daemon watches each CRIU run
 *    through a pidfd (src/daemon/criu-runs.ts) and aborts the round, so a's dump fails and a resumes; b's
 *    process is released by the kernel when its tracer dies (ptrace detach). What the dead CRIU
 *    leaves depends on how far it got: killed at network-lock, nothing (CRIU runs those scripts
 *    before it locks and before it dumps the sockets). Killed at post-dump: its network lock
 *    (exact iptables rules asserted) and b's TCP socket in repair mode, in which recv() of queued
 *    data fails with EPERM (tcp-node then exits: seen in about half of the runs, so the tests
 *    SIGSTOP b before the kill). Turning repair off (programs/tcp-repair.py) and removing exactly
 *    CRIU's rules brings the connection back with nothing lost: TCP retransmits what was dropped.
 * 2. Restore faults: a second action-script failing at pre-restore on node b (both restores fail,
 *    nothing half-restored runs, a retry of both works) and at post-restore (CRIU runs every
 *    script and ORs the results, so our hook has already said yes and the group commits: a runs,
 *    b's copy is killed and b's node stays locked; restoring b alone recovers, nothing lost).
 *
 * Side b's CRIU also runs log-hook.sh, listed after the coordinator: CRIU runs action scripts in
 * reverse command-line order, so log-hook.sh runs first at every hook, and can hold CRIU there
 * (HOOK_SLEEP_AT) or fail (HOOK_FAIL_AT).
 */
import { afterEach, describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  COORDINATOR_BIN,
  type CoordinatorDaemon,
  criuDump,
  criuRestore,
  type CriuResult,
  type CriuWay,
  coordinatedTest,
  expectCriuOk,
  expectHealthy,
  expectNoLeftovers,
  federatedPair,
  groupOperation,
  hooks,
  isRunning,
  Lab,
  lastProgress,
  LOG_HOOK,
  mustRun,
  type Node,
  pairGroupToml,
  PROGRAMS,
  procState,
  processesUnder,
  type Side,
  signal,
  waitFor,
  waitReaped,
  waitStreamGrows,
} from "./harness.ts";

const e2e = await coordinatedTest("test/e2e/criu-more-faults.test.ts");

const GROUP_TIMEOUT_S = 6;
const TEST_TIMEOUT_MS = 60_000;
const PAIR = pairGroupToml(GROUP_TIMEOUT_S);
/** How long log-hook.sh holds b's CRIU at the hook where it is killed. */
const HOLD_S = 2;

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.cleanup();
  lab = null;
});

interface Fed {
  lab: Lab;
  daemons: CoordinatorDaemon[];
  sides: [Side, Side];
  way: CriuWay;
}

async function setUp(name: string, way: CriuWay): Promise<Fed> {
  const l = new Lab(name);
  lab = l;
  return { lab: l, way, ...(await federatedPair(l, PAIR, way)) };
}

/** log-hook.sh settings per side (null: that side runs only the coordinator). */
type LogHookEnv = [Record<string, string> | null, Record<string, string> | null];

/** log-hook.sh's log of side i for one CRIU command ("dump", "restore-1", ...). */
const hookLog = (f: Fed, i: number, what: string) => join(f.lab.dir, `hooks-${what}-${f.sides[i]!.node.label}.log`);

/** The options of side i's CRIU run through its own node's daemon, plus log-hook.sh if asked. */
function criuOptions(f: Fed, i: number, what: string, lh: Record<string, string> | null) {
  const s = f.sides[i]!;
  return {
    way: f.way,
    node: s.node,
    imagesDir: s.img,
    workDir: f.lab.path(`${what}-${s.node.label}`),
    actionScripts: lh ? [COORDINATOR_BIN, LOG_HOOK] : [COORDINATOR_BIN],
    env: { ...f.daemons[i]!.env, ...(lh ? { HOOK_LOG: hookLog(f, i, what), ...lh } : {}) },
  };
}

const dumpBoth = (f: Fed, lh: LogHookEnv = [null, null]): Promise<CriuResult[]> =>
  Promise.all(f.sides.map((s, i) => criuDump({ ...criuOptions(f, i, "dump", lh[i]!), pid: s.w.pid })));

const restoreBoth = (f: Fed, what: string, lh: LogHookEnv = [null, null]): Promise<CriuResult[]> =>
  Promise.all(f.sides.map((_, i) => criuRestore(criuOptions(f, i, what, lh[i]!))));

/** Running and not stopped by a tracer or a signal (`t`, `T`), not a zombie. */
function expectNotFrozen(s: Side): void {
  const state = procState(s.w.pid);
  expect(`${s.w.comm}: ${state}`).toMatch(/: [RSD]$/);
}

/** The workload runs: it keeps writing progress lines (every 100 ms, whether or not data comes in). */
async function expectProgressing(sides: Side[]): Promise<void> {
  const counts = sides.map((s) => s.w.log().progress.length);
  await waitFor("both workloads to log progress", () => sides.every((s, i) => s.w.log().progress.length >= counts[i]! + 3), {
    timeoutMs: 3_000,
    state: () => sides.map((s) => `${s.w.comm} ${procState(s.w.pid)}`).join(", "),
  });
}

const IPTABLES = ["iptables", "ip6tables"] as const;

/** `-S` of iptables and ip6tables in the node, without the chain policies (`-P ...`). */
async function lockRules(node: Node): Promise<Record<(typeof IPTABLES)[number], string[]>> {
  const rules = async (tool: string) =>
    (await mustRun(["nsenter", `--net=${node.netnsPath}`, tool, "-S"])).split("\n").filter((l) => l && !l.startsWith("-P "));
  return { iptables: await rules("iptables"), ip6tables: await rules("ip6tables") };
}

/**
 * What CRIU's network lock leaves in node b. c1 (CRIU in the node's netns): one DROP rule per
 * direction of the dumped connection, for packets without CRIU's mark 0xc114 (criu/netfilter.c).
 * c2 (the node's netns is external): the CRIU chain, hooked into INPUT and OUTPUT, for IPv4 and IPv6.
 */
function expectedLock(f: Fed): Record<(typeof IPTABLES)[number], string[]> {
  const [a, b] = f.sides;
  if (f.way === "c2") {
    const chain = ["-N CRIU", "-A INPUT -j CRIU", "-A OUTPUT -j CRIU", "-A CRIU -m mark --mark 0xc114 -j ACCEPT", "-A CRIU -j DROP"];
    return { iptables: chain, ip6tables: chain };
  }
  const port = /connected local=\('[\d.]+', (\d+)\)/.exec(readFileSync(b.w.logPath, "utf8"))?.[1];
  return {
    iptables: [
      `-A INPUT -s ${a.node.addr}/32 -d ${b.node.addr}/32 -p tcp -m mark ! --mark 0xc114 -m tcp --sport 7000 --dport ${port} -j DROP`,
      `-A OUTPUT -s ${b.node.addr}/32 -d ${a.node.addr}/32 -p tcp -m mark ! --mark 0xc114 -m tcp --sport ${port} --dport 7000 -j DROP`,
    ],
    ip6tables: [],
  };
}

/** Removes exactly CRIU's lock from the node, as an operator would: `-D` of each rule, then the chain. */
async function removeCriuLock(f: Fed, node: Node): Promise<void> {
  const ns = ["nsenter", `--net=${node.netnsPath}`];
  const lock = expectedLock(f);
  for (const tool of IPTABLES) {
    for (const rule of lock[tool].filter((r) => r.startsWith("-A ") && !r.startsWith("-A CRIU "))) {
      await mustRun([...ns, tool, "-D", ...rule.slice(3).split(" ")]);
    }
    if (lock[tool].includes("-N CRIU")) {
      await mustRun([...ns, tool, "-F", "CRIU"]);
      await mustRun([...ns, tool, "-X", "CRIU"]);
    }
  }
}

/** Neither side receives anything for 1 s: b's node drops the connection's packets both ways. */
async function expectBlocked(sides: Side[]): Promise<void> {
  const rx = sides.map((s) => lastProgress(s.w.log()).rx);
  await Bun.sleep(1_000);
  expect(sides.map((s) => lastProgress(s.w.log()).rx)).toEqual(rx);
}

/** TCP repair mode of each TCP socket of the side's process (programs/tcp-repair.py); `off` clears it. */
async function tcpRepair(s: Side, off = false): Promise<string[]> {
  const out = await mustRun([join(PROGRAMS, "tcp-repair.py"), String(s.w.pid), ...(off ? ["--off"] : [])]);
  return out.trim().split("\n").map((l) => l.replace(/^fd=\d+ /, ""));
}

/** Every process a test started under the lab dir is gone, except the daemons and the workloads. */
async function waitNothingLeft(f: Fed, timeoutMs: number): Promise<void> {
  const ours = new Set(f.sides.map((s) => s.w.pid));
  const left = () => processesUnder(f.lab.dir).filter((p) => !ours.has(p.pid) && !p.cmdline.includes(" daemon "));
  await waitFor("every CRIU run and hook call to end", () => left().length === 0, {
    timeoutMs,
    state: () => JSON.stringify(left()),
  });
}

/** The `criu dump` of `side` (its CRIU's helpers, if any, are children named criu too). */
function criuRunOf(f: Fed, side: Side): number {
  const runs = processesUnder(f.lab.dir).filter((p) => p.comm === "criu" && p.cmdline.includes(` -D ${side.img} `));
  const top = runs.filter((p) => !runs.some((q) => q.pid === parentOf(p.pid)));
  if (top.length !== 1) throw new Error(`Expected one CRIU run dumping ${side.img}: ${JSON.stringify(runs)}`);
  return top[0]!.pid;
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

describe("federated coordinated CRIU: CRIU SIGKILLed on one side mid-dump", () => {
  const CASES = [
    {
      way: "c2",
      name: "c2: node b's CRIU SIGKILLed at network-lock (process frozen; CRIU runs that hook before it installs its lock and before it dumps the sockets): the daemons abort, a's dump fails and a resumes, b is released by ptrace detach and runs; nothing of CRIU's stays in b's netns and the connection carries on with no gap",
      // b held by log-hook.sh at network-lock before its coordinator call; a's call waits there for b.
      hold: [null, { HOOK_SLEEP_AT: "network-lock", HOOK_SLEEP_S: String(HOLD_S) }] as LogHookEnv,
      waitFor: [1, "log-hook", "network-lock"] as const,
      aWaitsAt: "network-lock",
    },
    {
      way: "c2",
      name: "c2: node b's CRIU SIGKILLed at post-dump before its coordinator call (process frozen, images written): the daemons abort, a's dump fails and a resumes; b is released by ptrace detach with its socket left in TCP repair mode (a recv then fails with EPERM, so the test SIGSTOPs b first) and its netns keeps CRIU's CRIU chain (IPv4 and IPv6); turning repair off and removing exactly that chain brings the connection back with no gap",
      hold: [null, { HOOK_SLEEP_AT: "post-dump", HOOK_SLEEP_S: String(HOLD_S) }] as LogHookEnv,
      waitFor: [1, "log-hook", "post-dump"] as const,
      aWaitsAt: "post-dump",
    },
    {
      way: "c1",
      name: "c1: node b's CRIU SIGKILLed at post-dump before its coordinator call (process frozen, images written): the daemons abort, a's dump fails and a resumes; b is released by ptrace detach with its socket left in TCP repair mode (a recv then fails with EPERM, so the test SIGSTOPs b first) and its node keeps the connection's two DROP rules (mark 0xc114); turning repair off and removing exactly those rules brings the connection back with no gap",
      hold: [null, { HOOK_SLEEP_AT: "post-dump", HOOK_SLEEP_S: String(HOLD_S) }] as LogHookEnv,
      waitFor: [1, "log-hook", "post-dump"] as const,
      aWaitsAt: "post-dump",
    },
    {
      way: "c1",
      name: "c1: node b's CRIU SIGKILLed while its coordinator hook waits at post-dump: the orphaned hook is answered and exits, a's dump fails and a resumes; turning repair off on b's socket and removing b's two DROP rules (mark 0xc114) brings the connection back with no gap",
      // a held by log-hook.sh at post-dump before its coordinator call: b's coordinator call waits for a.
      hold: [{ HOOK_SLEEP_AT: "post-dump", HOOK_SLEEP_S: String(HOLD_S) }, {}] as LogHookEnv,
      waitFor: [1, "coordinator", "post-dump"] as const,
      aWaitsAt: null,
    },
  ] as const;

  for (const c of CASES) {
    e2e(c.name, async () => {
      const fed = await setUp(`more-criu-killed-${c.way}`, c.way);
      const [a, b] = fed.sides;
      const t0 = performance.now();
      const dumping = dumpBoth(fed, c.hold);
      const [, by, at] = c.waitFor;
      if (by === "log-hook") {
        await waitFor(`b's CRIU to reach ${at}`, () => hooks(hookLog(fed, 1, "dump")).some((h) => h.action === at), { timeoutMs: 10_000 });
      } else {
        await waitFor(`b's hook to wait at ${at}`, () => fed.daemons[1]!.log.includes(`tcp-client arrived at ${at}`), { timeoutMs: 10_000 });
      }
      if (c.aWaitsAt) {
        await waitFor(`a's hook to wait at ${c.aWaitsAt}`, () => fed.daemons[0]!.log.includes(`tcp-server arrived at ${c.aWaitsAt}`), { timeoutMs: 5_000 });
      }
      // Both processes are frozen now (ptrace-stopped by their CRIU), and nothing is decided.
      for (const s of fed.sides) expect(`${s.w.comm}: ${procState(s.w.pid)}`).toBe(`${s.w.comm}: t`);
      for (const d of fed.daemons) expect(JSON.stringify(await groupOperation(d, "pair"))).not.toMatch(/committed|aborted/);
      const criuB = criuRunOf(fed, b);
      // After post-dump b's socket is in TCP repair mode (see below): a recv() of data already in
      // its receive queue fails with EPERM, and tcp-node then exits (it did in about half of the
      // runs without this). A SIGSTOP queued now stops b as soon as the kernel releases it, before
      // it runs any code, so that the state CRIU left can be checked and undone.
      const leftB = at === "post-dump";
      if (leftB) signal(b.w.pid, "SIGSTOP");
      const killedAt = performance.now();
      signal(criuB, "SIGKILL");
      const dumps = await dumping;
      const ms = performance.now() - t0;
      const afterKill = performance.now() - killedAt;
      console.log(`${c.way} CRIU killed at ${at}: dumps ended ${ms.toFixed(0)} ms after the start, ${afterKill.toFixed(0)} ms after the kill; codes ${dumps.map((d) => d.code)}`);
      expect(dumps[1]!.code).toBe(128 + 9);
      expect(dumps[0]!.code).not.toBe(0);
      // b's daemon saw the run vanish (src/daemon/criu-runs.ts), a's heard it from b's.
      const gone = new RegExp(`pair#1 aborted: .*The CRIU run of tcp-client ended .*\\(CRIU pid ${criuB} exited\\)`);
      for (const d of fed.daemons) expect(d.log).toMatch(gone);
      expect(dumps[0]!.log).toMatch(new RegExp(`pair/tcp-server at ${c.aWaitsAt ?? "post-dump"}: Operation pair#1 (was )?aborted: .*CRIU run of tcp-client`));
      // a's CRIU ends after the pidfd event, gossip and its own unfreeze; when a is itself held
      // by log-hook.sh, once that ends.
      expect(afterKill).toBeLessThan(c.aWaitsAt ? 2_000 : HOLD_S * 1000 + 2_000);
      for (const d of fed.daemons) expect(JSON.stringify(await groupOperation(d, "pair"))).not.toContain("committed");

      // Nothing left running: b's log-hook.sh (orphaned in its sleep) ends by itself, and b's
      // orphaned coordinator call got the abort as its answer.
      await waitNothingLeft(fed, HOLD_S * 1000 + 2_000);
      expectNoLeftovers(fed.lab.dir);

      // CRIU's hold is gone: a runs; b runs too, or (post-dump) is stopped by our SIGSTOP ("T",
      // not the tracer's "t").
      expectNotFrozen(a);
      if (leftB) expect(`${b.w.comm}: ${procState(b.w.pid)}`).toBe(`${b.w.comm}: T`);
      else expectNotFrozen(b);
      await expectProgressing(leftB ? [a] : fed.sides);

      // What the dead CRIU leaves in b's node depends on how far it got. At network-lock: nothing
      // (CRIU runs the network-lock scripts before it locks, and dumps the sockets later). At
      // post-dump: its network lock, which blocks the connection, and every dumped TCP socket in
      // repair mode, which only that CRIU run would have turned off (the first data received would
      // fail with EPERM). a's CRIU undid both on a's side when it resumed a.
      expect(await lockRules(a.node)).toEqual({ iptables: [], ip6tables: [] });
      expect(await tcpRepair(a)).toEqual(["repair=0"]);
      expect(await lockRules(b.node)).toEqual(leftB ? expectedLock(fed) : { iptables: [], ip6tables: [] });
      expect(await tcpRepair(b)).toEqual([`repair=${leftB ? 1 : 0}`]);
      if (leftB) {
        await expectBlocked([a]);
        // Undo exactly that: repair off, then CRIU's rules; TCP retransmits what they dropped.
        expect(await tcpRepair(b, true)).toEqual(["repair=0 (was 1)"]);
        await removeCriuLock(fed, b.node);
        expect(await lockRules(b.node)).toEqual({ iptables: [], ip6tables: [] });
        signal(b.w.pid, "SIGCONT");
        await expectProgressing([b]);
      }
      const now = fed.sides.map((s) => lastProgress(s.w.log()).rx);
      await waitStreamGrows(fed.sides.map((s) => s.w), now, 100, 20_000);
      for (const s of fed.sides) expectHealthy(s.w);
    }, TEST_TIMEOUT_MS);
  }
});

describe("federated coordinated CRIU: restore faults on one side", () => {
  /** Kill-mode dump of both sides through their daemons, checked, and each PID free again. */
  async function dumped(name: string): Promise<{ fed: Fed; atDump: number[]; progressAtDump: number[] }> {
    const fed = await setUp(name, "c1");
    const dumps = await dumpBoth(fed);
    dumps.forEach((d, i) => expectCriuOk(d, `coordinated dump of ${fed.sides[i]!.w.comm}`));
    for (const s of fed.sides) await waitReaped(s.w.pid, 2_000);
    return {
      fed,
      atDump: fed.sides.map((s) => lastProgress(s.w.log()).rx),
      progressAtDump: fed.sides.map((s) => s.w.log().progress.length),
    };
  }

  e2e("c1: a second action-script failing at pre-restore on node b fails both nodes' restores, nothing half-restored runs, and a retry of both restores the stream", async () => {
    const { fed, atDump, progressAtDump } = await dumped("more-fail-pre-restore");
    const t0 = performance.now();
    const failed = await restoreBoth(fed, "restore-1", [null, { HOOK_FAIL_AT: "pre-restore" }]);
    const ms = performance.now() - t0;
    console.log(`pre-restore failure on node b: both restores ended after ${ms.toFixed(0)} ms; codes ${failed.map((r) => r.code)}`);
    for (const r of failed) expect(r.code).not.toBe(0);
    expect(failed[1]!.log).toContain("log-hook: failing on purpose at pre-restore");
    expect(hooks(hookLog(fed, 1, "restore-1")).map((h) => h.action)).toEqual(["pre-restore"]);
    // a passed pre-restore (b's coordinator call got there too: CRIU runs every script) and
    // fails at post-restore: b's daemon sees b's CRIU exit at once (a pidfd), often before a arrives.
    expect(failed[0]!.log).toMatch(/pair\/tcp-server at post-restore: Operation pair#2 (was )?aborted: .*CRIU run of tcp-client/);
    expect(ms).toBeLessThan(3_000);
    for (const d of fed.daemons) {
      expect(d.log).toMatch(/restore pair#2 aborted: /);
      expect(JSON.stringify(await groupOperation(d, "pair"))).not.toContain("committed");
    }
    // Nothing half-restored runs: a's copy was killed by its CRIU before it ran any application
    // code (no progress line since the dump), b's was never created.
    for (const [i, s] of fed.sides.entries()) {
      await waitFor(`${s.w.comm}'s restored copy to be gone`, () => !isRunning(s.w.pid), { timeoutMs: 3_000 });
      expect(s.w.log().progress.length, `${s.w.comm} ran after the failed restore`).toBe(progressAtDump[i]!);
    }
    expectNoLeftovers(fed.lab.dir);

    // Images intact, nodes still locked: once the killed copy's PID is free, both restore.
    for (const s of fed.sides) await waitReaped(s.w.pid);
    const retry = await restoreBoth(fed, "restore-2");
    retry.forEach((r, i) => expectCriuOk(r, `second restore of ${fed.sides[i]!.w.comm}`));
    for (const d of fed.daemons) expect(await groupOperation(d, "pair")).toMatchObject({ kind: "restore", phase: { state: "committed" } });
    await waitStreamGrows(fed.sides.map((s) => s.w), atDump, 200, 20_000);
    for (const s of fed.sides) expectHealthy(s.w);
    expectNoLeftovers(fed.lab.dir);
  }, TEST_TIMEOUT_MS);

  e2e("c1: a second action-script failing at post-restore on node b can not stop the commit: a's restore succeeds and a runs alone, b's restored copy is killed by its CRIU and b's node stays locked; restoring b alone (uncoordinated) brings the stream back with no gap", async () => {
    const { fed, atDump, progressAtDump } = await dumped("more-fail-post-restore");
    const [a, b] = fed.sides;
    const t0 = performance.now();
    const restores = await restoreBoth(fed, "restore-1", [null, { HOOK_FAIL_AT: "post-restore" }]);
    const ms = performance.now() - t0;
    console.log(`post-restore failure on node b: restores ended after ${ms.toFixed(0)} ms; codes ${restores.map((r) => r.code)}`);
    // The documented limit: b's coordinator call ran too and answered yes, so the round commits.
    expectCriuOk(restores[0]!, "a's restore");
    expect(restores[0]!.log).toContain("pair/tcp-server at post-restore: pair#2 committed");
    expect(restores[1]!.code).not.toBe(0);
    expect(restores[1]!.log).toContain("log-hook: failing on purpose at post-restore");
    expect(restores[1]!.log).toContain("pair/tcp-client at post-restore: pair#2 committed");
    expect(hooks(hookLog(fed, 1, "restore-1")).map((h) => h.action)).toEqual(["pre-restore", "post-restore"]);
    for (const d of fed.daemons) expect(await groupOperation(d, "pair")).toMatchObject({ kind: "restore", phase: { state: "committed" } });

    // a runs; b's copy was killed by its CRIU before running application code.
    await waitFor(`${b.w.comm}'s restored copy to be gone`, () => !isRunning(b.w.pid), { timeoutMs: 3_000 });
    expect(b.w.log().progress.length, "b ran after its failed restore").toBe(progressAtDump[1]!);
    expectNotFrozen(a);
    await expectProgressing([a]);
    expectNoLeftovers(fed.lab.dir);
    // b's CRIU stopped before network-unlock: b's node keeps the dump's lock, so a's data waits
    // in a's send queue (no reset), and a receives nothing.
    expect(await lockRules(b.node)).toEqual(expectedLock(fed));
    expect(await lockRules(a.node)).toEqual({ iptables: [], ip6tables: [] });
    await expectBlocked([a]);
    expect(a.w.log().errors).toEqual([]);

    // Recovery: a one-member restore can not pass the group's pre-restore barrier (a is not
    // restoring), so the operator restores b without the coordinator, from its intact images.
    await waitReaped(b.w.pid);
    expectCriuOk(await criuRestore({ node: b.node, imagesDir: b.img, workDir: fed.lab.path("restore-b-alone") }), "uncoordinated restore of b");
    await waitStreamGrows(fed.sides.map((s) => s.w), atDump, 200, 20_000);
    for (const s of fed.sides) expectHealthy(s.w);
  }, TEST_TIMEOUT_MS);
});
