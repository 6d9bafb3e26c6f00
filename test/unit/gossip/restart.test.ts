import { afterEach, describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import { SimCluster } from "./harness.ts";

let sim: SimCluster | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe("restart recovery", () => {
  test("GossipBackend.synced() resolves once a peer answered, with the operations in flight merged", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    sim.arrive(0, "pre-dump");
    sim.arrive(2, "pre-dump");
    sim.clock.advance(10);
    const n3 = await sim.restart(2);
    let synced: boolean | undefined;
    void n3.backend.synced(2_000).then((ok) => (synced = ok));
    sim.clock.advance(5);
    await Promise.resolve();
    expect(synced).toBe(true);
    expect(n3.engine.groups()[0]!.operation).toMatchObject({ id: "app#1", phase: { state: "aborted" } });
  });

  test("synced() gives up after its timeout when no peer answers, and retries meanwhile", async () => {
    sim = new SimCluster({ nodes: 2, net: { delayMs: 1 } });
    await sim.start();
    sim.net.filter = () => false;
    const n2 = await sim.restart(1);
    let synced: boolean | undefined;
    const sentBefore = sim.net.counts.sent;
    void n2.backend.synced(1_000).then((ok) => (synced = ok));
    sim.clock.advance(999);
    await Promise.resolve();
    expect(synced).toBeUndefined();
    sim.clock.advance(1);
    await Promise.resolve();
    expect(synced).toBe(false);
    expect(sim.net.counts.sent - sentBefore).toBeGreaterThanOrEqual(4);
  });

  test("a hook call that reconnects to a restarted daemon fails with the reason its operation aborted", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    for (const i of [0, 1, 2]) sim.arrive(i, "pre-dump");
    sim.clock.advance(10);
    const a = sim.arrive(0, "network-lock");
    sim.arrive(2, "network-lock");
    sim.clock.advance(10);
    await sim.restart(2);
    sim.clock.advance(10);
    const again = sim.arrive(2, "network-lock");
    expect(sim.reply(again)).toMatchObject({ ok: false, code: "aborted" });
    expect(sim.reply(again)!.message).toMatch(/^Operation app#1 was aborted: aborted on n[12]: node n3 restarted while hosting p3$/);
    expect(sim.reply(a)).toMatchObject({ ok: false, code: "aborted" });
  });

  test("engine: a later hook of a local participant with no record in an open operation learned from a peer aborts it", () => {
    const group = { name: "app", members: ["p1", "p2"], timeoutMs: 10_000 };
    const engine = new BarrierEngine([group], { node: "n2" });
    engine.merge(0, "n1", { group: "app", epoch: 3, kind: "dump", progress: { p1: 1 }, seq: 4 });
    const fx = engine.arrive(1, { callId: "c", group: "app", participant: "p2", hook: "post-dump", attempt: "r" });
    expect(fx.find((e) => e.type === "reply")).toMatchObject({ ok: false, code: "aborted" });
    expect(fx.find((e) => e.type === "reply")!).toHaveProperty("message", expect.stringContaining("node n2 has no record of its earlier hooks"));
    expect(fx.find((e) => e.type === "publish")).toMatchObject({ record: { epoch: 3, outcome: { state: "aborted" } } });
    expect(engine.groups()[0]!.operation!.phase.state).toBe("aborted");
  });

  test("engine: a single-node daemon still answers no-operation (nothing to recover from)", () => {
    const engine = new BarrierEngine([{ name: "app", members: ["p1"], timeoutMs: 10_000 }]);
    const fx = engine.arrive(0, { callId: "c", group: "app", participant: "p1", hook: "post-dump" });
    expect(fx).toEqual([expect.objectContaining({ ok: false, code: "no-operation" })]);
  });
});
