/**
 * Exhaustive check of the engine: every interleaving of hook calls for small groups, with and
 * without a failure injected at every point, checked against the barrier's safety rules.
 */
import { describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import { hookInfo, type OperationKind } from "../../../src/barrier/hooks.ts";
import type { GroupSpec, Reply } from "../../../src/barrier/types.ts";

const TIMEOUT = 10_000;

interface Scenario {
  kind: OperationKind;
  /** Hooks each participant's CRIU calls, in order. */
  scripts: Record<string, string[]>;
  dependencies?: Record<string, string[]>;
  /** Inject: this participant's CRIU run ends before calling its hook number `at`. */
  failure?: { who: string; at: number; how: "vanish" | "disconnect" };
}

type Move = { who: string };

interface Outcome {
  replies: Map<string, (Reply & { hook: string })[]>; // participant → replies in order
  committed: boolean;
  violations: string[];
}

function play(sc: Scenario, choices: number[], onLeaf: (o: Outcome) => void, countOnly = false): number {
  const members = Object.keys(sc.scripts);
  const spec: GroupSpec = { name: "g", members, dependencies: sc.dependencies, timeoutMs: TIMEOUT };
  const engine = new BarrierEngine([spec]);
  const reached = new Map<string, number>(); // our own model: highest rank each participant reached
  const idx = new Map(members.map((m) => [m, 0]));
  const pending = new Map<string, { callId: string; hook: string; who: string }>();
  const replies = new Map<string, (Reply & { hook: string })[]>(members.map((m) => [m, []]));
  const failed = new Set<string>();
  const violations: string[] = [];
  let now = 0;
  let n = 0;
  let committed = false;

  const absorb = (effects: ReturnType<BarrierEngine["arrive"]>) => {
    for (const e of effects) {
      if (e.type !== "reply") continue;
      const p = pending.get(e.callId);
      if (!p) {
        violations.push(`reply to unknown or already answered call ${e.callId}`);
        continue;
      }
      pending.delete(e.callId);
      replies.get(p.who)!.push({ ...e, hook: p.hook });
      const info = hookInfo(sc.kind, p.hook)!;
      if (!e.ok || info.role === "progress") continue;
      const needed = info.role === "commit" ? members.filter((m) => m !== p.who) : deps(p.who);
      for (const d of needed) {
        if ((reached.get(d) ?? -1) < info.rank) violations.push(`${p.who} released at ${p.hook} before ${d} reached it`);
      }
      if (info.role === "commit") committed = true;
    }
  };
  const deps = (who: string) => (sc.dependencies ? (sc.dependencies[who] ?? []) : members.filter((m) => m !== who));
  const busy = (who: string) => [...pending.values()].some((p) => p.who === who);
  const lastOk = (who: string) => {
    const rs = replies.get(who)!;
    return rs.length === 0 || rs[rs.length - 1]!.ok;
  };

  let step = 0;
  for (;;) {
    const enabled: Move[] = members
      .filter((m) => !failed.has(m) && !busy(m) && lastOk(m) && idx.get(m)! < sc.scripts[m]!.length)
      .map((who) => ({ who }));
    if (enabled.length === 0) {
      if (pending.size === 0) break;
      now += TIMEOUT;
      absorb(engine.tick(now));
      if (pending.size > 0) {
        violations.push(`calls still waiting after the timeout: ${[...pending.values()].map((p) => `${p.who}@${p.hook}`).join(", ")}`);
        break;
      }
      continue;
    }
    if (step >= choices.length) {
      // Branch: every enabled move is a new schedule.
      let leaves = 0;
      for (let i = 0; i < enabled.length; i++) leaves += play(sc, [...choices, i], onLeaf, countOnly);
      return leaves;
    }
    const { who } = enabled[choices[step++]!]!;
    const at = idx.get(who)!;
    const f = sc.failure;
    if (f && f.who === who && f.at === at) {
      failed.add(who);
      if (f.how === "vanish" && sc.kind === "dump" && (reached.get(who) ?? -1) >= 1) {
        // CRIU unlocks the network of a failed dump that had locked it.
        const callId = `c${++n}`;
        pending.set(callId, { callId, hook: "network-unlock", who });
        absorb(engine.arrive(now, { callId, group: "g", participant: who, hook: "network-unlock", attempt: who }));
      }
      continue;
    }
    const hook = sc.scripts[who]![at]!;
    idx.set(who, at + 1);
    reached.set(who, hookInfo(sc.kind, hook)!.rank);
    const callId = `c${++n}`;
    pending.set(callId, { callId, hook, who });
    now += 1;
    absorb(engine.arrive(now, { callId, group: "g", participant: who, hook, attempt: who }));
    if (f && f.how === "disconnect" && f.who === who && f.at === at + 1 && pending.has(callId)) {
      failed.add(who);
      pending.delete(callId);
      absorb(engine.disconnect(now, callId));
    }
  }
  onLeaf({ replies, committed, violations });
  return 1;
}

function explore(sc: Scenario): Outcome[] {
  const leaves: Outcome[] = [];
  play(sc, [], (o) => leaves.push(o));
  return leaves;
}

const dumpScripts: Record<string, Record<string, string[]>> = {
  "two members, host netns": { a: ["pre-dump", "post-dump"], b: ["pre-dump", "post-dump"] },
  "three members, one with its own netns": {
    a: ["pre-dump", "network-lock", "post-dump"],
    b: ["pre-dump", "post-dump"],
    c: ["pre-dump", "network-lock", "post-dump"],
  },
  "three members, --leave-running in netns": {
    a: ["pre-dump", "network-lock", "post-dump", "network-unlock"],
    b: ["pre-dump", "network-lock", "post-dump", "network-unlock"],
    c: ["pre-dump", "post-dump"],
  },
};

describe("every interleaving without failures", () => {
  for (const [name, scripts] of Object.entries(dumpScripts)) {
    test(`dump, ${name}: all commit, no early release`, () => {
      const leaves = explore({ kind: "dump", scripts });
      expect(leaves.length).toBeGreaterThan(1);
      for (const o of leaves) {
        expect(o.violations).toEqual([]);
        expect(o.committed).toBe(true);
        expect([...o.replies.values()].flat().filter((r) => !r.ok)).toEqual([]);
      }
    });
  }

  test("dump with one-way dependencies: all commit, no early release", () => {
    const scripts = dumpScripts["three members, one with its own netns"]!;
    const leaves = explore({ kind: "dump", scripts, dependencies: { a: ["b"], b: [], c: ["a", "b"] } });
    for (const o of leaves) {
      expect(o.violations).toEqual([]);
      expect(o.committed).toBe(true);
    }
  });

  test("restore, three members: all commit, no early release", () => {
    const scripts = {
      a: ["pre-restore", "setup-namespaces", "post-restore", "network-unlock", "pre-resume"],
      b: ["pre-restore", "post-restore", "pre-resume"],
      c: ["pre-restore", "post-restore", "network-unlock"],
    };
    const leaves = explore({ kind: "restore", scripts });
    expect(leaves.length).toBeGreaterThan(1);
    for (const o of leaves) {
      expect(o.violations).toEqual([]);
      expect(o.committed).toBe(true);
    }
  });
});

describe("a failure injected at every hook of every member", () => {
  for (const [name, scripts] of Object.entries(dumpScripts)) {
    for (const how of ["vanish", "disconnect"] as const) {
      test(`dump, ${name}, ${how}: nobody commits and every call is answered`, () => {
        let cases = 0;
        for (const who of Object.keys(scripts)) {
          const postDumpAt = scripts[who]!.indexOf("post-dump");
          // Failing before post-dump (or while waiting in it) must stop every commit.
          for (let at = 0; at <= postDumpAt; at++) {
            if (how === "disconnect" && at === 0) continue; // nothing to disconnect from yet
            for (const o of explore({ kind: "dump", scripts, failure: { who, at, how } })) {
              cases++;
              if (o.violations.length > 0 || o.committed) {
                expect({ who, at, violations: o.violations, committed: o.committed }).toEqual({ who, at, violations: [], committed: false });
              }
              const committedPostDump = [...o.replies.values()].flat().filter((r) => r.hook === "post-dump" && r.ok);
              expect(committedPostDump).toEqual([]);
            }
          }
        }
        expect(cases).toBeGreaterThan(2);
      });
    }
  }

  test("restore: a member that fails before post-restore stops every commit", () => {
    const scripts = {
      a: ["pre-restore", "post-restore", "network-unlock", "pre-resume"],
      b: ["pre-restore", "post-restore", "pre-resume"],
    };
    for (const who of ["a", "b"]) {
      for (let at = 0; at <= 1; at++) {
        for (const o of explore({ kind: "restore", scripts, failure: { who, at, how: "vanish" } })) {
          expect(o.violations).toEqual([]);
          expect(o.committed).toBe(false);
        }
      }
    }
  });
});
