/**
 * Real CRIU, no coordinator: two nodes (netns + veth), a TCP server in A and a client in B
 * exchanging numbered lines. Baseline for the coordinated tests: both ways of running CRIU
 * (criu-hooks.md §2.3) keep the stream intact, the hooks fire in the documented order, and a
 * failing hook leaves the process running with its connection.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  criuDump,
  criuRestore,
  type CriuWay,
  describeTcpLog,
  e2eSkipReason,
  expectCriuOk,
  expectHealthy,
  hooks,
  iptablesRules,
  isRunning,
  Lab,
  lastProgress,
  LOG_HOOK,
  longestPause,
  procComm,
  readDumpStats,
  readRestoreStats,
  waitFor,
  waitStreamGrows,
} from "./harness.ts";

const skipReason = await e2eSkipReason();
if (skipReason) console.warn(`SKIPPING criu-tcp e2e tests: ${skipReason}`);
const e2e = test.skipIf(skipReason !== null);

const TEST_TIMEOUT_MS = 60_000;

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.cleanup();
  lab = null;
});

const EXPECTED_HOOKS: Record<CriuWay, { dump: string[]; restore: string[] }> = {
  c1: {
    dump: ["pre-dump", "post-dump"],
    restore: ["pre-restore", "post-restore", "pre-resume", "post-resume"],
  },
  c2: {
    dump: ["pre-dump", "network-lock", "post-dump"],
    restore: [
      "pre-restore",
      "setup-namespaces",
      "post-setup-namespaces",
      "post-restore",
      "network-unlock",
      "pre-resume",
      "post-resume",
    ],
  },
};

describe("criu-tcp (no coordinator)", () => {
  for (const way of ["c1", "c2"] as const) {
    e2e(`${way}: dumping both sides (kill mode) and restoring them keeps the TCP stream with no gap and no reset, hooks in documented order`, async () => {
      lab = new Lab(`tcp-${way}`);
      const [a, b] = await lab.nodePair();
      const { server, client } = await lab.tcpPair(a, b);
      const sides = [
        { node: a, w: server, img: lab.path("img-a") },
        { node: b, w: client, img: lab.path("img-b") },
      ];
      const hookLog = (side: string, op: string): string => join(lab!.dir, `hooks-${side}-${op}.log`);

      const dumps = await Promise.all(sides.map((s) =>
        criuDump({
          way,
          node: s.node,
          pid: s.w.pid,
          imagesDir: s.img,
          actionScripts: [LOG_HOOK],
          env: { HOOK_LOG: hookLog(s.node.label, "dump") },
        })));
      dumps.forEach((d, i) => expectCriuOk(d, `dump of ${sides[i]!.w.comm}`));
      const atDump = sides.map((s) => lastProgress(s.w.log()).rx);
      for (const s of sides) {
        // Kill mode: the process is gone, and the runner (its parent) reaps it at once.
        await waitFor(`${s.w.comm} to exit after the dump`, () => !isRunning(s.w.pid), { timeoutMs: 2_000 });
        // The node stays locked until the restore (c1: per-connection DROP rules; c2: CRIU chain).
        expect(await iptablesRules(s.node)).toContain("0xc114");
        const stats = readDumpStats(s.img);
        expect(stats).not.toBeNull();
        console.log(`${way} dump ${s.w.comm}: frozen ${(stats!.frozenTimeUs / 1000).toFixed(1)} ms, ` +
          `criu wall ${dumps[sides.indexOf(s)]!.ms.toFixed(0)} ms, pages ${stats!.pagesWritten}`);
      }

      // A pause while both are down: no side may see an error or a gap after restore.
      await Bun.sleep(500);
      const restores = await Promise.all(sides.map((s) =>
        criuRestore({
          way,
          node: s.node,
          imagesDir: s.img,
          actionScripts: [LOG_HOOK],
          env: { HOOK_LOG: hookLog(s.node.label, "restore") },
        })));
      restores.forEach((r, i) => expectCriuOk(r, `restore of ${sides[i]!.w.comm}`));
      for (const [i, s] of sides.entries()) {
        const st = readRestoreStats(s.img);
        console.log(`${way} restore ${s.w.comm}: criu wall ${restores[i]!.ms.toFixed(0)} ms, ` +
          `restore_time ${((st?.restoreTimeUs ?? 0) / 1000).toFixed(1)} ms`);
        // Same PID, same name, running again.
        expect(isRunning(s.w.pid)).toBe(true);
        expect(procComm(s.w.pid)).toBe(s.w.comm);
      }

      // 200 more lines each way (about 1 s at 5 ms) after the restore, and still clean.
      await waitStreamGrows(sides.map((s) => s.w), atDump, 200, 20_000);
      for (const s of sides) {
        expectHealthy(s.w);
        // It really was stopped across the dump/restore (the progress log has a hole).
        const pause = longestPause(s.w.log());
        console.log(`${way} ${s.w.comm}: stopped for ${pause.toFixed(2)} s`);
        expect(pause).toBeGreaterThanOrEqual(0.5);
        expect(await iptablesRules(s.node)).not.toContain("0xc114");
      }

      for (const s of sides) {
        const d = hooks(hookLog(s.node.label, "dump"));
        const r = hooks(hookLog(s.node.label, "restore"));
        expect(d.map((h) => h.action)).toEqual(EXPECTED_HOOKS[way].dump);
        expect(r.map((h) => h.action)).toEqual(EXPECTED_HOOKS[way].restore);
        // pre-dump: still running; post-dump: frozen (ptrace stop); pre-restore: no PID yet.
        expect(d[0]!.initPid).toBe(String(s.w.pid));
        expect(["R", "S"]).toContain(d[0]!.state);
        expect(d.at(-1)!.state).toBe("t");
        expect(r[0]!.initPid).toBe("none");
        expect(r.at(-1)!.initPid).toBe(String(s.w.pid));
      }
    }, TEST_TIMEOUT_MS);
  }

  const faults = [
    { way: "c1", failAt: "pre-dump", rc: 1 },
    { way: "c2", failAt: "network-lock", rc: 1 },
    { way: "c2", failAt: "post-dump", rc: 255 },
  ] as const;
  for (const f of faults) {
    e2e(`${f.way}: a hook failing at ${f.failAt} fails the dump (exit ${f.rc}) and the process keeps running with its connection`, async () => {
      lab = new Lab(`fail-${f.failAt}`);
      const [a, b] = await lab.nodePair();
      const { server, client } = await lab.tcpPair(a, b);
      const d = await criuDump({
        way: f.way,
        node: a,
        pid: server.pid,
        imagesDir: lab.path("img-a"),
        actionScripts: [LOG_HOOK],
        env: { HOOK_FAIL_AT: f.failAt },
      });
      expect(d.code, d.log.split("\n").slice(-10).join("\n")).toBe(f.rc);
      expect(d.log).toContain(`log-hook: failing on purpose at ${f.failAt}`);
      expect(isRunning(server.pid)).toBe(true);
      expect(await iptablesRules(a)).not.toContain("0xc114");
      const now = [lastProgress(server.log()).rx, lastProgress(client.log()).rx];
      await waitStreamGrows([server, client], now, 100, 10_000);
      expectHealthy(server);
      expectHealthy(client);
    }, TEST_TIMEOUT_MS);
  }
});
