/** Request/reply between daemons over the gossip channel: once-only handling, retries, deadlines. */
import { afterEach, describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import { FakeClock } from "../../../src/gossip/clock.ts";
import { GossipBackend } from "../../../src/gossip/gossip-backend.ts";
import type { RequestBody } from "../../../src/gossip/requests.ts";
import { MemoryNetwork } from "../../../src/gossip/transport.ts";
import { KEY } from "./harness.ts";

let backends: GossipBackend[] = [];
afterEach(async () => {
  for (const b of backends) await b.close();
  backends = [];
});

/** Two backends on a lossy-or-not in-memory network; n2 counts the requests it handles. */
async function pair(loss = 0) {
  const clock = new FakeClock();
  const net = new MemoryNetwork(clock, { loss, seed: 3 });
  const handled: RequestBody[] = [];
  const make = (i: number) =>
    new GossipBackend({
      node: `n${i}`,
      listen: `10.0.0.${i}:7946`,
      advertise: `10.0.0.${i}:7946`,
      peers: i === 1 ? [] : ["10.0.0.1:7946"],
      keys: [KEY],
      engine: new BarrierEngine([], { node: `n${i}` }),
      dispatch: () => {},
      clock,
      transport: net.transport(`10.0.0.${i}:7946`),
      generation: i,
      onRequest: async (from, body) => {
        handled.push(body);
        return { from, echo: body.x };
      },
    });
  backends = [make(1), make(2)];
  for (const b of backends) await b.start();
  clock.advance(3_000);
  return { clock, net, handled, n1: backends[0]!, n2: backends[1]! };
}

/** Advances the fake clock in small steps until `p` settles. */
async function settle<T>(clock: FakeClock, p: Promise<T>, maxMs = 10_000): Promise<T> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) {
    clock.advance(10);
    await Bun.sleep(0);
  }
  return p;
}

describe("gossip requests", () => {
  test("a request reaches the peer's handler and its reply comes back", async () => {
    const { clock, handled, n1 } = await pair();
    expect(await settle(clock, n1.ask("n2", { x: 42 }, 2_000))).toEqual({ from: "n1", echo: 42 });
    expect(handled).toEqual([{ x: 42 }]);
  });

  test("on a lossy network the request is resent but handled once", async () => {
    const { clock, handled, n1 } = await pair(0.4);
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await settle(clock, n1.ask("n2", { x: i }, 8_000)));
    expect(replies.map((r) => r.echo)).toEqual([0, 1, 2, 3, 4]);
    expect(handled.map((b) => b.x)).toEqual([0, 1, 2, 3, 4]);
  });

  test("a peer that never answers makes the request fail at its deadline", async () => {
    const { clock, net, n1 } = await pair();
    net.partition(["10.0.0.1:7946"], ["10.0.0.2:7946"]);
    await expect(settle(clock, n1.ask("n2", { x: 1 }, 1_000))).rejects.toThrow("node n2 did not answer within 1000 ms");
  });

  test("an unknown node is refused at once", async () => {
    const { n1 } = await pair();
    await expect(n1.ask("nowhere", {}, 1_000)).rejects.toThrow("node nowhere is not a reachable cluster member");
  });
});
