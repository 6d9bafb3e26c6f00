import { describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import type { Effect, GroupSpec, Reply } from "../../../src/barrier/types.ts";

const T = 30_000;
const trio: GroupSpec = { name: "web", members: ["a", "b", "c"], timeoutMs: T };

/** Drives an engine and remembers every reply by call ID. */
class Driver {
  readonly engine: BarrierEngine;
  readonly replies = new Map<string, Reply>();
  readonly events: string[] = [];
  now = 1_000;
  #n = 0;
  constructor(...groups: GroupSpec[]) {
    this.engine = new BarrierEngine(groups.length ? groups : [trio]);
  }
  take(effects: Effect[]): Reply[] {
    const rs: Reply[] = [];
    for (const e of effects) {
      if (e.type === "reply") {
        expect(this.replies.has(e.callId)).toBe(false); // every call is answered at most once
        this.replies.set(e.callId, e);
        rs.push(e);
      } else if (e.type === "event") this.events.push(e.message);
    }
    return rs;
  }
  arrive(participant: string, hook: string, opts: { group?: string; attempt?: string } = {}): string {
    const callId = `call-${++this.#n}`;
    this.take(this.engine.arrive(this.now, { callId, group: opts.group ?? "web", participant, hook, attempt: opts.attempt ?? `${participant}-run` }));
    return callId;
  }
  advance(ms: number): Reply[] {
    this.now += ms;
    return this.take(this.engine.tick(this.now));
  }
  reply(callId: string): Reply | undefined {
    return this.replies.get(callId);
  }
}

describe("BarrierEngine dump barriers", () => {
  test("the first two calls wait and the third releases all three", () => {
    const d = new Driver();
    const a = d.arrive("a", "pre-dump");
    const b = d.arrive("b", "pre-dump");
    expect(d.reply(a)).toBeUndefined();
    expect(d.reply(b)).toBeUndefined();
    d.now += 3;
    const c = d.arrive("c", "pre-dump");
    for (const id of [a, b, c]) expect(d.reply(id)).toMatchObject({ ok: true, code: "released" });
    expect(d.reply(a)!.message).toContain("after 3ms");
  });

  test("post-dump commits only when every member reached it", () => {
    const d = new Driver();
    for (const p of ["a", "b", "c"]) d.arrive(p, "pre-dump");
    const a = d.arrive("a", "post-dump");
    const b = d.arrive("b", "post-dump");
    expect(d.reply(a)).toBeUndefined();
    const c = d.arrive("c", "post-dump");
    for (const id of [a, b, c]) expect(d.reply(id)).toMatchObject({ ok: true, code: "committed" });
    expect(d.engine.groups()[0]!.operation!.phase.state).toBe("committed");
    expect(d.engine.waitingCount).toBe(0);
  });

  test("a missing member aborts every waiting call at the timeout, naming who is missing", () => {
    const d = new Driver();
    const a = d.arrive("a", "pre-dump");
    const b = d.arrive("b", "pre-dump");
    expect(d.engine.nextDeadline()).toBe(1_000 + T);
    d.advance(T - 1);
    expect(d.reply(a)).toBeUndefined();
    d.advance(1);
    for (const id of [a, b]) {
      const r = d.reply(id)!;
      expect(r.ok).toBe(false);
      expect(r.code).toBe("aborted");
      expect(r.message).toContain("Timed out at pre-dump after 30s waiting for");
      expect(r.message).toContain("c (never arrived)");
    }
    expect(d.engine.nextDeadline()).toBeUndefined();
  });

  test("a member that falls silent between hooks aborts the operation", () => {
    const d = new Driver();
    for (const p of ["a", "b", "c"]) d.arrive(p, "pre-dump");
    expect(d.engine.nextDeadline()).toBe(1_000 + T);
    d.advance(T);
    const view = d.engine.groups()[0]!.operation!;
    expect(view.phase).toMatchObject({ state: "aborted" });
    // Their later post-dump calls fail, so CRIU resumes every process.
    const a = d.arrive("a", "post-dump");
    expect(d.reply(a)).toMatchObject({ ok: false, code: "aborted" });
  });

  test("network-lock waits only for dependencies that reached it or a later hook", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    d.arrive("a", "pre-dump");
    d.arrive("b", "pre-dump");
    const a = d.arrive("a", "network-lock"); // a has its own netns, b does not
    expect(d.reply(a)).toBeUndefined();
    const b = d.arrive("b", "post-dump");
    expect(d.reply(a)).toMatchObject({ ok: true, code: "released" });
    expect(d.reply(b)).toBeUndefined(); // post-dump waits for a
    const a2 = d.arrive("a", "post-dump");
    expect(d.reply(a2)).toMatchObject({ ok: true, code: "committed" });
    expect(d.reply(b)).toMatchObject({ ok: true, code: "committed" });
  });

  test("network-unlock before post-dump means that dump failed: everyone aborts at once", () => {
    const d = new Driver();
    for (const p of ["a", "b", "c"]) d.arrive(p, "pre-dump");
    const a = d.arrive("a", "post-dump");
    const b = d.arrive("b", "network-lock");
    const bUnlock = d.arrive("c", "network-unlock");
    expect(d.reply(bUnlock)!.ok).toBe(true); // CRIU ignores it anyway
    expect(d.reply(a)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(a)!.message).toContain("dump of c failed");
    expect(d.reply(b)).toMatchObject({ ok: false });
  });

  test("network-unlock after a committed --leave-running dump is recorded, not a failure", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    for (const p of ["a", "b"]) d.arrive(p, "pre-dump");
    for (const p of ["a", "b"]) d.arrive(p, "post-dump");
    const u = d.arrive("a", "network-unlock");
    expect(d.reply(u)).toMatchObject({ ok: true, code: "recorded" });
    expect(d.engine.groups()[0]!.operation!.phase.state).toBe("committed");
  });

  test("dependencies order pre-dump one way but post-dump still waits for all", () => {
    const d = new Driver({ name: "web", members: ["frontend", "backend"], dependencies: { frontend: ["backend"] }, timeoutMs: T });
    const f = d.arrive("frontend", "pre-dump");
    expect(d.reply(f)).toBeUndefined();
    const b = d.arrive("backend", "pre-dump");
    expect(d.reply(b)).toMatchObject({ ok: true });
    expect(d.reply(f)).toMatchObject({ ok: true });
    const bp = d.arrive("backend", "post-dump");
    expect(d.reply(bp)).toBeUndefined();
    d.arrive("frontend", "post-dump");
    expect(d.reply(bp)).toMatchObject({ ok: true, code: "committed" });
  });

  test("a member with no dependencies passes pre-dump alone", () => {
    const d = new Driver({ name: "web", members: ["frontend", "backend"], dependencies: { frontend: ["backend"] }, timeoutMs: T });
    const b = d.arrive("backend", "pre-dump");
    expect(d.reply(b)).toMatchObject({ ok: true, code: "released" });
  });
});

describe("BarrierEngine rounds", () => {
  test("progress from an aborted round never releases a later round", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    d.arrive("x", "pre-dump");
    d.arrive("y", "pre-dump"); // round 1: both pass pre-dump, then the dumps die
    d.advance(T); // round 1 aborts for lack of progress
    const x = d.arrive("x", "pre-dump"); // round 2: x alone
    expect(d.reply(x)).toBeUndefined();
    d.advance(T);
    expect(d.reply(x)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(x)!.message).toContain("web#2");
  });

  test("a committed dump does not release the next dump's pre-dump", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    for (const h of ["pre-dump", "post-dump"]) for (const p of ["x", "y"]) d.arrive(p, h);
    const x = d.arrive("x", "pre-dump");
    expect(d.reply(x)).toBeUndefined();
    expect(d.engine.groups()[0]!.operation!.id).toBe("web#2");
  });

  test("a participant that starts again aborts its stale round and opens a new one", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    const x1 = d.arrive("x", "pre-dump", { attempt: "run-1" });
    const x2 = d.arrive("x", "pre-dump", { attempt: "run-2" });
    expect(d.reply(x1)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(x2)).toBeUndefined();
    const y = d.arrive("y", "pre-dump");
    expect(d.reply(x2)).toMatchObject({ ok: true });
    expect(d.reply(y)).toMatchObject({ ok: true });
  });

  test("the same CRIU run reconnecting replaces its wait instead of conflicting", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    d.arrive("x", "pre-dump");
    d.arrive("y", "pre-dump");
    const first = d.arrive("x", "post-dump", { attempt: "r" });
    const again = d.arrive("x", "post-dump", { attempt: "r" });
    expect(d.engine.waitingCount).toBe(1);
    d.arrive("y", "post-dump");
    expect(d.reply(again)).toMatchObject({ ok: true, code: "committed" });
    expect(d.reply(first)).toBeUndefined(); // its connection is gone; nobody to answer
  });

  test("two processes sharing a participant ID: the second is refused", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    d.arrive("x", "pre-dump", { attempt: "p1" });
    d.arrive("y", "pre-dump");
    d.arrive("x", "post-dump", { attempt: "p1" });
    const dup = d.arrive("x", "post-dump", { attempt: "p2" });
    expect(d.reply(dup)).toMatchObject({ ok: false, code: "duplicate" });
  });

  test("a restore while a dump is undecided aborts the dump", () => {
    const d = new Driver({ name: "web", members: ["x", "y"], timeoutMs: T });
    const x = d.arrive("x", "pre-dump");
    const y = d.arrive("y", "pre-restore");
    expect(d.reply(x)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(y)).toBeUndefined();
    expect(d.engine.groups()[0]!.operation!.kind).toBe("restore");
  });

  test("a later hook with no operation fails if it can veto, passes if CRIU ignores it", () => {
    const d = new Driver();
    expect(d.reply(d.arrive("a", "post-dump"))).toMatchObject({ ok: false, code: "no-operation" });
    expect(d.reply(d.arrive("a", "post-resume"))).toMatchObject({ ok: true, code: "recorded" });
  });

  test("a waiting call whose connection closes aborts the operation", () => {
    const d = new Driver();
    const a = d.arrive("a", "pre-dump");
    const b = d.arrive("b", "pre-dump");
    d.take(d.engine.disconnect(d.now, a));
    expect(d.reply(b)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(b)!.message).toContain("a went away while waiting at pre-dump");
  });

  test("an explicit failure report aborts the operation in flight", () => {
    const d = new Driver();
    const a = d.arrive("a", "pre-dump");
    d.take(d.engine.fail(d.now, "web", "operator abort"));
    expect(d.reply(a)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(a)!.message).toContain("operator abort");
  });
});

describe("BarrierEngine restore barriers", () => {
  test("pre-restore, post-restore commit and the network-unlock barrier", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    const a0 = d.arrive("a", "pre-restore");
    const b0 = d.arrive("b", "pre-restore");
    expect([d.reply(a0)?.ok, d.reply(b0)?.ok]).toEqual([true, true]);
    expect(d.reply(d.arrive("a", "setup-namespaces"))).toMatchObject({ ok: true, code: "recorded" });
    const a1 = d.arrive("a", "post-restore");
    expect(d.reply(a1)).toBeUndefined();
    const b1 = d.arrive("b", "post-restore");
    expect(d.reply(a1)).toMatchObject({ code: "committed" });
    expect(d.reply(b1)).toMatchObject({ code: "committed" });
    // a unlocks its network only once b is restored and running; b has no network-unlock of its own.
    const a2 = d.arrive("a", "network-unlock");
    expect(d.reply(a2)).toBeUndefined();
    d.arrive("b", "pre-resume");
    expect(d.reply(a2)).toMatchObject({ ok: true, code: "released" });
  });

  test("a network-unlock wait past the commit point times out without aborting", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    for (const h of ["pre-restore", "post-restore"]) for (const p of ["a", "b"]) d.arrive(p, h);
    const a = d.arrive("a", "network-unlock");
    d.advance(T);
    expect(d.reply(a)).toMatchObject({ ok: false, code: "timeout" });
    expect(d.engine.groups()[0]!.operation!.phase.state).toBe("committed");
  });

  test("unknown groups, non-members and unknown hooks are refused with a reason", () => {
    const d = new Driver();
    expect(d.reply(d.arrive("a", "pre-dump", { group: "nope" }))!.message).toBe('Unknown group "nope"');
    expect(d.reply(d.arrive("zed", "pre-dump"))).toMatchObject({ ok: false, code: "not-member" });
    expect(d.reply(d.arrive("a", "pre-dumpp"))).toMatchObject({ ok: false, code: "bad-request" });
    expect(d.reply(d.arrive("a", "pre-stream"))).toMatchObject({ ok: true });
  });
});

describe("BarrierEngine CRIU runs", () => {
  test("a CRIU run that ends before the operation is decided aborts it at once", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    d.arrive("a", "pre-dump", { attempt: "criu:10:1" });
    d.arrive("b", "pre-dump", { attempt: "criu:11:1" });
    const a = d.arrive("a", "post-dump", { attempt: "criu:10:1" });
    expect(d.engine.liveAttempts().map((x) => x.attempt).sort()).toEqual(["criu:10:1", "criu:11:1"]);
    d.take(d.engine.runEnded(d.now, "criu:11:1", "pid 11 exited"));
    expect(d.reply(a)).toMatchObject({ ok: false, code: "aborted" });
    expect(d.reply(a)!.message).toContain("The CRIU run of b ended after pre-dump (pid 11 exited)");
    expect(d.engine.liveAttempts()).toEqual([]);
  });

  test("a CRIU run that ends after the commit changes nothing", () => {
    const d = new Driver({ name: "web", members: ["a", "b"], timeoutMs: T });
    for (const h of ["pre-dump", "post-dump"]) for (const p of ["a", "b"]) d.arrive(p, h, { attempt: `criu-${p}` });
    expect(d.engine.runEnded(d.now, "criu-a", "exited")).toEqual([]);
    expect(d.engine.groups()[0]!.operation!.phase.state).toBe("committed");
  });
});
