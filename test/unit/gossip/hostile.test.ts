import { afterEach, describe, expect, test } from "bun:test";
import { Sealer } from "../../../src/gossip/security.ts";
import { encode } from "../../../src/gossip/wire.ts";
import { KEY, SimCluster } from "./harness.ts";

let sim: SimCluster | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const N1 = "10.0.0.1:7946";
const N2 = "10.0.0.2:7946";

describe("GossipBackend against hostile traffic", () => {
  test("garbage, oversize and forged packets are dropped and counted; nothing changes", async () => {
    sim = new SimCluster({ nodes: 2 });
    await sim.start();
    const a = sim.arrive(0, "pre-dump");
    const forger = new Sealer([new Uint8Array(32).fill(9)]);
    const fake = encode({ t: "push", id: 1, records: [{ node: "n2", gen: 1001, rec: { group: "app", epoch: 1, kind: "dump", progress: { p2: 0 }, seq: 99 } }], ts: sim.clock.now(), gen: 1001, n: 1e6, addr: N2, inc: 0, updates: [] });
    for (let i = 0; i < 50; i++) sim.net.inject("6.6.6.6:1", N1, crypto.getRandomValues(new Uint8Array(1 + i * 7)));
    sim.net.inject("6.6.6.6:1", N1, new Uint8Array(70_000));
    sim.net.inject(N2, N1, forger.seal(fake.type, "n2", fake.data));
    sim.clock.advance(10);
    const c = sim.nodes[0]!.backend.status().counters;
    expect((c.dropped_malformed ?? 0) + (c.dropped_version ?? 0)).toBeGreaterThan(40);
    expect(c.dropped_oversize).toBe(1);
    expect(c.dropped_decrypt).toBeGreaterThanOrEqual(1);
    expect(sim.reply(a)).toBeUndefined(); // the forged progress of p2 did not release p1
    expect(Object.values(sim.states(0))).toEqual(["alive", "alive"]);
  });

  test("a replayed push is dropped and counted", async () => {
    sim = new SimCluster({ nodes: 2 });
    await sim.start();
    const captured: Uint8Array[] = [];
    sim.net.filter = (from, to, data) => {
      if (from === N2 && to === N1) captured.push(data);
      return true;
    };
    sim.arrive(1, "pre-dump");
    sim.clock.advance(10);
    sim.net.filter = undefined;
    const before = sim.nodes[0]!.backend.status().counters.dropped_replayed ?? 0;
    for (const p of captured) sim.net.inject(N2, N1, p);
    sim.clock.advance(1);
    expect((sim.nodes[0]!.backend.status().counters.dropped_replayed ?? 0) - before).toBe(captured.length);
    // Replays an hour later are stale even for a receiver that forgot its windows.
    sim.clock.advance(3_600_000);
    for (const p of captured) sim.net.inject(N2, N1, p);
    sim.clock.advance(1);
    expect(sim.nodes[0]!.backend.status().counters.dropped_stale).toBe(captured.length);
  });

  test("a node with the wrong key never joins and changes nothing", async () => {
    sim = new SimCluster({ nodes: 3, keys: (i) => (i === 2 ? [new Uint8Array(32).fill(3)] : [KEY]) });
    await sim.start(10_000);
    expect(sim.states(0)).toEqual({ n1: "alive", n2: "alive" });
    expect(sim.states(2)).toEqual({ n3: "alive" });
    expect(sim.nodes[0]!.backend.status().counters.dropped_decrypt).toBeGreaterThan(0);
  });

  test("rotating keys: a node with [new, old] talks to nodes with [old]", async () => {
    const NEW = new Uint8Array(32).fill(8);
    sim = new SimCluster({ nodes: 3, keys: (i) => (i === 0 ? [NEW, KEY] : [KEY, NEW]) });
    await sim.start();
    for (let i = 0; i < 3; i++) expect(Object.values(sim.states(i))).toEqual(["alive", "alive", "alive"]);
  });
});
