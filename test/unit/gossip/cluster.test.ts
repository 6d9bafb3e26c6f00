import { afterEach, describe, expect, test } from "bun:test";
import { SimCluster } from "./harness.ts";

let sim: SimCluster | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe("GossipBackend on an in-memory network", () => {
  test("nodes discover each other through one seed", async () => {
    sim = new SimCluster({ nodes: 5 });
    await sim.start();
    for (let i = 0; i < 5; i++) {
      expect(Object.values(sim.states(i))).toEqual(["alive", "alive", "alive", "alive", "alive"]);
    }
  });

  test("a barrier releases on every node one one-way delay after the last arrival", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    const b = sim.arrive(1, "pre-dump");
    sim.clock.advance(5);
    expect(sim.reply(a)).toBeUndefined();
    const t0 = sim.clock.now();
    const c = sim.arrive(2, "pre-dump");
    expect(sim.reply(c)?.code).toBe("released");
    sim.clock.advance(1);
    for (const id of [a, b]) expect(sim.reply(id)).toMatchObject({ code: "released", at: t0 + 1 });
  });

  test("a full dump commits on every node", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      const ids = [0, 1, 2].map((i) => sim!.arrive(i, hook));
      sim.clock.advance(5);
      const want = hook === "post-dump" ? "committed" : "released";
      expect(ids.map((id) => sim!.reply(id)?.code)).toEqual([want, want, want]);
    }
    for (const n of sim.nodes) expect(n.engine.groups()[0]!.operation!.phase.state).toBe("committed");
  });

  test("with 30% packet loss every barrier still releases, through retransmits", async () => {
    sim = new SimCluster({ nodes: 4, net: { delayMs: 1, loss: 0.3, seed: 42 } });
    await sim.start(5_000);
    const ids = [0, 1, 2, 3].map((i) => sim!.arrive(i, "pre-dump"));
    sim.clock.advance(1_000);
    expect(ids.map((id) => sim!.reply(id)?.code)).toEqual(["released", "released", "released", "released"]);
    expect(sim.nodes.some((n) => (n.backend.status().counters.push_retransmits ?? 0) > 0)).toBe(true);
  });

  test("anti-entropy repairs a push that was lost entirely", async () => {
    sim = new SimCluster({ nodes: 2, net: { delayMs: 1 } });
    await sim.start();
    sim.net.filter = () => false; // every packet lost while p1 arrives: the push gives up
    const a = sim.arrive(0, "pre-dump");
    sim.clock.advance(5_000);
    sim.net.filter = undefined;
    const b = sim.arrive(1, "pre-dump"); // n2 learned nothing of p1 yet
    expect(sim.reply(b)).toBeUndefined();
    sim.clock.advance(3_000);
    expect([sim.reply(a)?.code, sim.reply(b)?.code]).toEqual(["released", "released"]);
  });

  test("a node that dies mid-barrier aborts the operation on every other node", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    const c = sim.arrive(2, "pre-dump");
    sim.clock.advance(10);
    await sim.nodes[2]!.backend.close(); // n3's daemon is killed
    sim.clock.advance(10_000);
    expect(sim.reply(a)).toMatchObject({ ok: false, code: "aborted" });
    expect(sim.reply(a)!.message).toContain("node n3 declared dead");
    expect(sim.reply(c)).toBeUndefined(); // its daemon is gone; CRIU's hook fails on its own
    expect(sim.states(0).n3).toBe("dead");
    expect(sim.states(1).n3).toBe("dead");
    // n2 had no participant of its own but learned the abort too.
    expect(sim.nodes[1]!.engine.groups()[0]!.operation!.phase.state).toBe("aborted");
  });

  test("a partition aborts the operation on both sides, and the cluster is whole again after it heals", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    const c = sim.arrive(2, "pre-dump");
    sim.clock.advance(10);
    sim.net.partition(["10.0.0.3:7946"], ["10.0.0.1:7946", "10.0.0.2:7946"]);
    sim.clock.advance(10_000);
    expect(sim.reply(a)).toMatchObject({ code: "aborted" });
    expect(sim.reply(c)).toMatchObject({ code: "aborted" });
    expect(sim.states(0).n3).toBe("dead");
    expect(sim.states(2).n1).toBe("dead");
    sim.net.heal();
    sim.clock.advance(12_000);
    for (let i = 0; i < 3; i++) expect(Object.values(sim.states(i))).toEqual(["alive", "alive", "alive"]);
    // The next operation works across the healed cluster.
    const ids = [0, 1, 2].map((i) => sim!.arrive(i, "pre-dump"));
    sim.clock.advance(5);
    expect(ids.map((id) => sim!.reply(id)?.code)).toEqual(["released", "released", "released"]);
    expect(new Set(sim.nodes.map((n) => n.engine.groups()[0]!.operation!.id)).size).toBe(1);
  });

  test("a daemon restart aborts the operation it had participants in, everywhere", async () => {
    sim = new SimCluster({ nodes: 3, net: { delayMs: 1 } });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    sim.arrive(2, "pre-dump");
    sim.clock.advance(10);
    const n3 = await sim.restart(2);
    sim.clock.advance(3_000);
    expect(sim.reply(a)).toMatchObject({ code: "aborted" });
    expect(sim.reply(a)!.message).toContain("node n3 restarted");
    // The restarted daemon learned the operation and its outcome from its peers.
    expect(n3.engine.groups()[0]!.operation).toMatchObject({ id: "app#1", phase: { state: "aborted" } });
    expect(Object.values(sim.states(0))).toEqual(["alive", "alive", "alive"]);
  });

  test("a node cut off from every peer of its operation fences itself, even while SWIM sees them alive", async () => {
    // n1 and n2 can not talk, but n3 relays their indirect probes, so SWIM keeps both alive.
    const group = { name: "app", members: ["p1", "p2", "p4"], timeoutMs: 600_000 };
    sim = new SimCluster({ nodes: 3, group, net: { delayMs: 1 } });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    const b = sim.arrive(1, "pre-dump");
    sim.clock.advance(10);
    sim.net.partition(["10.0.0.1:7946"], ["10.0.0.2:7946"]);
    sim.clock.advance(4_000);
    expect(sim.reply(a)).toBeUndefined();
    sim.clock.advance(4_000);
    expect(sim.reply(a)?.message).toContain("Self-fenced: no word from n2");
    expect(sim.reply(b)?.code).toBe("aborted");
    expect(sim.states(0).n2).not.toBe("dead");
  });
});
