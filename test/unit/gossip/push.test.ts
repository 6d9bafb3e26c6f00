import { describe, expect, test } from "bun:test";
import { FakeClock } from "../../../src/gossip/clock.ts";
import { DEFAULT_GOSSIP } from "../../../src/gossip/config.ts";
import { Pusher } from "../../../src/gossip/push.ts";
import type { WireRecord } from "../../../src/gossip/wire.ts";
import { SimCluster } from "./harness.ts";

const rec = (seq: number): WireRecord => ({ node: "a", gen: 1, rec: { group: "g", epoch: 1, kind: "dump", progress: { p: 0 }, seq } });

describe("Pusher", () => {
  test("the retransmit timeout follows the peer's measured round trip, within [pushRtoMs, pushRtoMaxMs]", () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const pusher = new Pusher(clock, DEFAULT_GOSSIP, (_peer, id) => (sent.push(id), true));
    expect(pusher.rtoOf("b")).toBe(DEFAULT_GOSSIP.pushRtoMs);
    for (let i = 0; i < 20; i++) {
      pusher.push([{ name: "b", addr: "x" }], rec(i));
      clock.advance(40); // the ack comes 40 ms later: past the 10 ms floor, so this one was resent
      pusher.acked(sent.at(-1)!);
    }
    const rto = pusher.rtoOf("b");
    expect(rto).toBeGreaterThanOrEqual(40);
    expect(rto).toBeLessThanOrEqual(DEFAULT_GOSSIP.pushRtoMaxMs);
    const before = pusher.retransmits;
    pusher.push([{ name: "b", addr: "x" }], rec(99));
    clock.advance(39);
    expect(pusher.retransmits).toBe(before); // no spurious retransmit within the learned RTO
    pusher.close();
  });
});

describe("GossipBackend.publish", () => {
  test("a commit alone is not pushed (anti-entropy carries it); progress and aborts are", async () => {
    const sim = new SimCluster({ nodes: 2, net: { delayMs: 1 } });
    await sim.start();
    for (const hook of ["pre-dump", "network-lock"]) {
      for (const i of [0, 1]) sim.arrive(i, hook);
      sim.clock.advance(5);
    }
    const sent = sim.net.counts.sent;
    sim.arrive(0, "post-dump");
    sim.arrive(1, "post-dump");
    sim.clock.advance(5);
    expect(sim.net.counts.sent - sent).toBe(4); // two progress pushes and their acks; no commit pushes
    for (const n of sim.nodes) expect(n.engine.groups()[0]!.operation!.phase.state).toBe("committed");
    await sim.close();
  });
});
