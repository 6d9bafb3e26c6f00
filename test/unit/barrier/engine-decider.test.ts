/**
 * The engine with an external decider (`decider: "external"`): commit waiters are held until the
 * recorded outcome arrives through decide(); proposals come from pendingDecisions(). A tiny store
 * plays the single etcd transaction: the first outcome recorded per operation wins.
 */
import { describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import type { Decision, Effect, EngineEvent, GroupSpec, OpRecord, Reply } from "../../../src/barrier/types.ts";

const T = 10_000;
const web: GroupSpec = { name: "web", members: ["a", "b", "c"], timeoutMs: T };
const HOSTS = { a: "n1", b: "n2", c: "n3" } as const;

class Cluster {
  readonly engines = new Map<string, BarrierEngine>();
  readonly replies = new Map<string, Reply>();
  readonly events: (EngineEvent & { node: string })[] = [];
  readonly outbox: [string, OpRecord][] = [];
  /** The store: operation id → the first outcome recorded. */
  readonly recorded = new Map<string, Decision>();
  now = 1_000;
  #n = 0;
  constructor(nodes = ["n1", "n2", "n3"], spec = web) {
    for (const n of nodes) this.engines.set(n, new BarrierEngine([spec], { node: n, decider: "external" }));
  }
  take(node: string, effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === "reply") this.replies.set(e.callId, e);
      else if (e.type === "event") this.events.push({ ...e, node });
      else this.outbox.push([node, e.record]);
    }
  }
  arrive(participant: keyof typeof HOSTS, hook: string, attempt = `${participant}-run`): string {
    const node = HOSTS[participant];
    const callId = `${node}-${++this.#n}`;
    this.take(node, this.e(node).arrive(this.now, { callId, group: "web", participant, hook, attempt }));
    return callId;
  }
  deliver(): void {
    while (this.outbox.length > 0) {
      const [from, rec] = this.outbox.shift()!;
      for (const [n, e] of this.engines) if (n !== from) this.take(n, e.merge(this.now, from, rec));
    }
  }
  /** Node `by` records its first proposal (if none is recorded yet); every node learns the record. */
  record(by: string): Decision | undefined {
    const p = this.e(by).pendingDecisions()[0];
    if (!p) return undefined;
    const id = `${p.group}#${p.epoch}`;
    if (!this.recorded.has(id)) this.recorded.set(id, { ...p, by });
    const d = this.recorded.get(id)!;
    for (const [n, e] of this.engines) this.take(n, e.decide(this.now, d));
    return d;
  }
  tick(ms: number): void {
    this.now += ms;
    for (const [n, e] of this.engines) this.take(n, e.tick(this.now));
  }
  e(node: string): BarrierEngine {
    return this.engines.get(node)!;
  }
  code(callId: string): string | undefined {
    return this.replies.get(callId)?.code;
  }
  phase(node: string): string | undefined {
    return this.e(node).groups()[0]!.operation?.phase.state;
  }
  allAt(hook: string): string[] {
    const ids = (["a", "b", "c"] as const).map((p) => this.arrive(p, hook));
    this.deliver();
    return ids;
  }
}

describe("BarrierEngine with an external decider", () => {
  test("barriers before the commit hook release on merged records alone", () => {
    const c = new Cluster();
    const pre = c.allAt("pre-dump");
    expect(pre.map((id) => c.code(id))).toEqual(["released", "released", "released"]);
    const lock = c.allAt("network-lock");
    expect(lock.map((id) => c.code(id))).toEqual(["released", "released", "released"]);
    for (const e of c.engines.values()) expect(e.pendingDecisions()).toEqual([]);
  });

  test("every member at post-dump commits nowhere until the outcome is recorded, then everywhere", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const post = c.allAt("post-dump");
    expect(post.map((id) => c.code(id))).toEqual([undefined, undefined, undefined]);
    for (const n of ["n1", "n2", "n3"]) {
      expect(c.phase(n)).toBe("open");
      expect(c.e(n).pendingDecisions()).toEqual([{ group: "web", epoch: 1, kind: "dump", outcome: { state: "committed" } }]);
    }
    c.record("n2");
    expect(post.map((id) => c.code(id))).toEqual(["committed", "committed", "committed"]);
    for (const n of ["n1", "n2", "n3"]) {
      expect(c.phase(n)).toBe("committed");
      expect(c.e(n).pendingDecisions()).toEqual([]);
    }
    expect(c.events.some((e) => e.message.includes("web#1 committed (recorded by n2)"))).toBe(true);
  });

  test("a commit recorded by a node whose view is complete releases a node that has not merged the last record yet", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const a = c.arrive("a", "post-dump");
    const b = c.arrive("b", "post-dump");
    c.deliver();
    c.arrive("c", "post-dump");
    const last = c.outbox.splice(0); // n3's record has not reached n1 and n2
    c.record("n3");
    expect([c.code(a), c.code(b)]).toEqual(["committed", "committed"]);
    for (const [from, rec] of last) for (const [n, e] of c.engines) if (n !== from) c.take(n, e.merge(c.now, from, rec));
    expect(c.events.filter((e) => e.code === "outcome-disagreement")).toEqual([]);
  });

  test("a deadline before the commit hook fails those waiters at once and proposes the abort", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const a = c.arrive("a", "network-lock");
    c.deliver();
    c.tick(T);
    expect(c.replies.get(a)).toMatchObject({ ok: false, code: "aborted" });
    expect(c.e("n1").pendingDecisions()).toEqual([
      { group: "web", epoch: 1, kind: "dump", outcome: { state: "aborted", reason: expect.stringContaining("Timed out at network-lock") } },
    ]);
    c.deliver();
    // The others learned the abort from n1's record and propose it too; one is recorded.
    expect(c.e("n3").pendingDecisions()[0]?.outcome.state).toBe("aborted");
    c.record("n3");
    for (const n of ["n1", "n2", "n3"]) expect(c.phase(n)).toBe("aborted");
  });

  test("a local abort holds commit waiters until the abort is recorded, with the same reason on every node", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const a = c.arrive("a", "post-dump");
    const b = c.arrive("b", "post-dump");
    c.deliver();
    c.take("n3", c.e("n3").nodeLost(c.now, "n1", "lease expired"));
    expect(c.phase("n3")).toBe("aborted");
    c.deliver();
    expect([c.code(a), c.code(b)]).toEqual([undefined, undefined]);
    const d = c.record("n3")!;
    expect(d.outcome).toEqual({ state: "aborted", reason: "node n1 lease expired while hosting a" });
    for (const id of [a, b]) expect(c.replies.get(id)).toMatchObject({ ok: false, code: "aborted", message: "Operation web#1 aborted: node n1 lease expired while hosting a" });
  });

  test("a commit recorded before a node's own abort stands there too, reported as a disagreement", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const post = c.allAt("post-dump");
    // n2 aborts on its own (its CRIU run ended) just after n1 recorded the commit.
    c.take("n2", c.e("n2").runEnded(c.now, "b-run", "exited"));
    expect(c.phase("n2")).toBe("aborted");
    const commit: Decision = { group: "web", epoch: 1, kind: "dump", outcome: { state: "committed" }, by: "n1" };
    for (const [n, e] of c.engines) c.take(n, e.decide(c.now, commit));
    expect(post.map((id) => c.code(id))).toEqual(["committed", "committed", "committed"]);
    expect(c.phase("n2")).toBe("committed");
    expect(c.events.filter((e) => e.code === "outcome-disagreement").map((e) => e.node)).toEqual(["n2"]);
  });

  test("a commit waiter with no recorded outcome by its deadline fails and says the outcome is uncertain", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const post = c.allAt("post-dump");
    c.tick(T);
    for (const id of post) expect(c.replies.get(id)).toMatchObject({ ok: false, code: "aborted", message: expect.stringContaining("waiting for the recorded outcome of web#1") });
    expect(c.events.filter((e) => e.code === "outcome-uncertain").map((e) => e.node).sort()).toEqual(["n1", "n2", "n3"]);
    expect(c.e("n1").pendingDecisions()[0]?.outcome.state).toBe("aborted");
    // The abort is recorded once the store is reachable again; nothing changes for the answered calls.
    c.record("n1");
    for (const n of ["n1", "n2", "n3"]) expect(c.phase(n)).toBe("aborted");
  });

  test("a commit call that reconnects after a local abort waits for the recorded outcome", () => {
    const c = new Cluster();
    c.allAt("pre-dump");
    const a = c.arrive("a", "post-dump");
    c.take("n1", c.e("n1").fail(c.now, "web", "etcd unreachable"));
    expect(c.code(a)).toBeUndefined();
    c.take("n1", c.e("n1").disconnect(c.now, a));
    const again = c.arrive("a", "post-dump");
    expect(c.code(again)).toBeUndefined();
    c.record("n1");
    expect(c.replies.get(again)).toMatchObject({ ok: false, code: "aborted", message: "Operation web#1 aborted: etcd unreachable" });
  });

  test("a recorded outcome of an operation never heard of teaches the epoch; older and repeated ones change nothing", () => {
    const c = new Cluster(["n1"], { ...web, members: ["a"] });
    const e = c.e("n1");
    c.take("n1", e.decide(c.now, { group: "web", epoch: 7, kind: "dump", outcome: { state: "committed" } }));
    expect(e.groups()[0]!.operation).toMatchObject({ id: "web#7", phase: { state: "committed" } });
    c.take("n1", e.decide(c.now, { group: "web", epoch: 7, kind: "dump", outcome: { state: "committed" } }));
    c.take("n1", e.decide(c.now, { group: "web", epoch: 3, kind: "dump", outcome: { state: "aborted", reason: "old" } }));
    expect(c.events.filter((x) => x.code === "outcome-disagreement")).toEqual([]);
    c.take("n1", e.decide(c.now, { group: "web", epoch: 7, kind: "dump", outcome: { state: "aborted", reason: "x" } }));
    expect(c.events.filter((x) => x.code === "outcome-disagreement")).toHaveLength(1);
    const id = c.arrive("a", "pre-dump");
    expect(c.code(id)).toBe("released");
    expect(e.groups()[0]!.operation!.id).toBe("web#8");
  });

  test("the default local decider is unchanged: no proposals, decide() ignored, commit on its own", () => {
    const e = new BarrierEngine([{ ...web, members: ["a"] }], { node: "n1" });
    e.arrive(0, { callId: "1", group: "web", participant: "a", hook: "pre-dump" });
    const fx = e.arrive(0, { callId: "2", group: "web", participant: "a", hook: "post-dump" });
    expect(fx.find((x) => x.type === "reply")).toMatchObject({ code: "committed" });
    expect(e.pendingDecisions()).toEqual([]);
    expect(e.decide(0, { group: "web", epoch: 1, kind: "dump", outcome: { state: "aborted", reason: "x" } })).toEqual([]);
    expect(e.groups()[0]!.operation!.phase.state).toBe("committed");
  });
});
