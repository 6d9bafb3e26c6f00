import { describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import type { Effect, EngineEvent, GroupSpec, OpRecord, Reply } from "../../../src/barrier/types.ts";

const T = 30_000;
const web: GroupSpec = { name: "web", members: ["a", "b", "c"], timeoutMs: T };

/** Several federated engines; records are ferried by hand so each test picks the delivery order. */
class Cluster {
  readonly engines = new Map<string, BarrierEngine>();
  readonly replies = new Map<string, Reply>();
  readonly events: EngineEvent[] = [];
  /** Records published and not yet delivered: [from, record]. */
  readonly outbox: [string, OpRecord][] = [];
  now = 1_000;
  #n = 0;
  constructor(nodes: string[], spec = web) {
    for (const n of nodes) this.engines.set(n, new BarrierEngine([spec], { node: n }));
  }
  take(from: string, effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === "reply") this.replies.set(e.callId, e);
      else if (e.type === "event") this.events.push(e);
      else this.outbox.push([from, e.record]);
    }
  }
  arrive(node: string, participant: string, hook: string): string {
    const callId = `${node}-${++this.#n}`;
    this.take(node, this.e(node).arrive(this.now, { callId, group: "web", participant, hook, attempt: `${participant}-run` }));
    return callId;
  }
  /** Delivers every pending record to every other node (in publish order), until quiet. */
  deliver(): void {
    while (this.outbox.length > 0) {
      const [from, rec] = this.outbox.shift()!;
      for (const [n, e] of this.engines) if (n !== from) this.take(n, e.merge(this.now, from, rec));
    }
  }
  e(node: string): BarrierEngine {
    return this.engines.get(node)!;
  }
  code(callId: string): string | undefined {
    return this.replies.get(callId)?.code;
  }
}

describe("BarrierEngine federation", () => {
  test("participants on three nodes release each other once records are merged", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    const a = c.arrive("n1", "a", "pre-dump");
    const b = c.arrive("n2", "b", "pre-dump");
    c.deliver();
    expect(c.code(a)).toBeUndefined();
    const cc = c.arrive("n3", "c", "pre-dump");
    expect(c.code(cc)).toBe("released"); // n3 already knows a and b
    expect(c.code(a)).toBeUndefined();
    c.deliver();
    expect([c.code(a), c.code(b)]).toEqual(["released", "released"]);
    const ids = [...c.engines.values()].map((e) => e.groups()[0]!.operation!.id);
    expect(new Set(ids)).toEqual(new Set(["web#1"]));
  });

  test("post-dump commits on every node, and no node commits early", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    for (const [n, p] of [["n1", "a"], ["n2", "b"], ["n3", "c"]] as const) c.arrive(n, p, "pre-dump");
    c.deliver();
    const a = c.arrive("n1", "a", "post-dump");
    const b = c.arrive("n2", "b", "post-dump");
    c.deliver();
    expect(c.code(a)).toBeUndefined();
    const cc = c.arrive("n3", "c", "post-dump");
    c.deliver();
    expect([c.code(a), c.code(b), c.code(cc)]).toEqual(["committed", "committed", "committed"]);
    for (const e of c.engines.values()) expect(e.groups()[0]!.operation!.phase.state).toBe("committed");
    expect(c.e("n1").groups()[0]!.operation!.participants.map((p) => p.node)).toEqual(["n1", "n2", "n3"]);
  });

  test("merging is idempotent and order-insensitive: stale and duplicate records change nothing", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    c.arrive("n1", "a", "pre-dump");
    const [, first] = c.outbox[0]!;
    c.deliver();
    c.arrive("n1", "a", "network-lock");
    const [, second] = c.outbox[0]!;
    c.deliver();
    const n2 = c.e("n2");
    for (const r of [first, second, first]) c.take("n2", n2.merge(c.now, "n1", r));
    const a = n2.groups()[0]!.operation!.participants[0]!;
    expect(a.hook).toBe("network-lock");
  });

  test("an abort on one node aborts waiters everywhere and is sticky", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    c.arrive("n1", "a", "pre-dump");
    c.arrive("n2", "b", "pre-dump");
    c.deliver();
    const a = c.arrive("n1", "a", "post-dump");
    c.take("n2", c.e("n2").fail(c.now, "web", "criu failed on b"));
    c.deliver();
    expect(c.code(a)).toBe("aborted");
    expect(c.replies.get(a)!.message).toContain("aborted on n2: criu failed on b");
    const late = c.arrive("n2", "b", "post-dump");
    expect(c.code(late)).toBe("aborted");
  });

  test("nodeLost aborts operations with participants on that node, not others", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    const a = c.arrive("n1", "a", "pre-dump");
    c.deliver();
    c.take("n2", c.e("n2").nodeLost(c.now, "n3", "declared dead"));
    expect(c.e("n2").openOperations).toBe(1);
    c.take("n2", c.e("n2").nodeLost(c.now, "n1", "declared dead"));
    c.deliver();
    expect(c.code(a)).toBe("aborted");
    expect(c.replies.get(a)!.message).toContain("node n1 declared dead while hosting a");
  });

  test("concurrent opens of the same kind pick the same epoch; different kinds abort", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    const a = c.arrive("n1", "a", "pre-dump");
    const b = c.arrive("n2", "b", "pre-dump");
    c.deliver();
    expect([c.code(a), c.code(b)]).toEqual(["released", "released"]);

    const d = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    const x = d.arrive("n1", "a", "pre-dump");
    const y = d.arrive("n2", "b", "pre-restore");
    d.deliver();
    expect([d.code(x), d.code(y)]).toEqual(["aborted", "aborted"]);
    const x2 = d.arrive("n1", "a", "pre-dump");
    d.deliver();
    const y2 = d.arrive("n2", "b", "pre-dump");
    d.deliver();
    expect([d.code(x2), d.code(y2)]).toEqual(["released", "released"]);
    expect(d.e("n2").groups()[0]!.operation!.id).toBe("web#2");
  });

  test("a record of a later epoch supersedes a stale open operation", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    const a = c.arrive("n1", "a", "pre-dump"); // n1 opens web#1, never delivered
    c.outbox.length = 0;
    c.take("n1", c.e("n1").merge(c.now, "n2", { group: "web", epoch: 3, kind: "dump", progress: { b: 0 }, seq: 9 }));
    expect(c.code(a)).toBe("aborted");
    expect(c.e("n1").groups()[0]!.operation!.id).toBe("web#3");
  });

  test("the same participant reported by two nodes aborts, and garbage ranks are ignored", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    const a = c.arrive("n1", "a", "pre-dump");
    c.take("n1", c.e("n1").merge(c.now, "n2", { group: "web", epoch: 1, kind: "dump", progress: { zz: 1, b: 99 }, seq: 1 }));
    expect(c.code(a)).toBeUndefined();
    c.take("n1", c.e("n1").merge(c.now, "n2", { group: "web", epoch: 1, kind: "dump", progress: { a: 0 }, seq: 2 }));
    expect(c.code(a)).toBe("aborted");
  });

  test("aborting after someone reached post-dump warns that outcomes may differ; a contrary outcome is flagged", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    c.arrive("n1", "a", "pre-dump");
    c.arrive("n2", "b", "pre-dump");
    c.deliver();
    c.arrive("n1", "a", "post-dump");
    c.deliver();
    c.arrive("n2", "b", "post-dump"); // n2 commits; its record is lost
    c.outbox.length = 0;
    c.now += T;
    c.take("n1", c.e("n1").tick(c.now)); // n1 times out
    expect(c.events.some((e) => e.code === "outcome-uncertain")).toBe(true);
    c.deliver();
    expect(c.events.some((e) => e.code === "outcome-disagreement")).toBe(true);
    expect(c.e("n2").groups()[0]!.operation!.phase.state).toBe("committed");
  });

  test("no outcome-uncertain warning when the member holding the round back is hosted here", () => {
    const c = new Cluster(["n1", "n2"], { ...web, members: ["a", "b"] });
    c.arrive("n1", "a", "pre-dump");
    c.arrive("n2", "b", "pre-dump");
    c.deliver();
    c.arrive("n2", "b", "post-dump");
    c.deliver();
    // a (hosted on n1) never reaches post-dump: its CRIU run died. Nobody can have committed.
    c.take("n1", c.e("n1").fail(c.now, "web", "the CRIU run of a ended"));
    c.deliver();
    expect(c.events.filter((e) => e.code === "outcome-uncertain")).toEqual([]);
    expect(c.e("n2").groups()[0]!.operation!.phase.state).toBe("aborted");
  });

  test("an engine without a node name emits no publish effects", () => {
    const e = new BarrierEngine([web]);
    const fx = e.arrive(0, { callId: "x", group: "web", participant: "a", hook: "pre-dump" });
    expect(fx.filter((f) => f.type === "publish")).toEqual([]);
    expect(e.localRecords()).toEqual([]);
  });
});
