/** Real UDP sockets on loopback, real clock: the same backend as in production. */
import { expect, test } from "bun:test";
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import type { Effect, Reply } from "../../../src/barrier/types.ts";
import { GossipBackend } from "../../../src/gossip/gossip-backend.ts";
import { UdpTransport } from "../../../src/gossip/udp-transport.ts";
import { KEY } from "./harness.ts";

test("two daemons over UDP release a barrier across nodes within milliseconds", async () => {
  const group = { name: "app", members: ["p1", "p2"], timeoutMs: 10_000 };
  const replies = new Map<string, Reply & { at: number }>();
  const nodes: { engine: BarrierEngine; backend: GossipBackend }[] = [];
  const t1 = await UdpTransport.bind("127.0.0.1:0");
  const t2 = await UdpTransport.bind("127.0.0.1:0");
  for (const [name, t, peers] of [["n1", t1, []], ["n2", t2, [t1.address]]] as const) {
    const engine = new BarrierEngine([group], { node: name });
    const node = { engine, backend: undefined! as GossipBackend };
    const dispatch = (fx: Effect[]) => {
      for (const e of fx) {
        if (e.type === "reply") replies.set(e.callId, { ...e, at: performance.now() });
        else if (e.type === "publish") node.backend.publish(e);
      }
    };
    node.backend = new GossipBackend({ node: name, listen: t.address, peers: [...peers], keys: [KEY], engine, dispatch, transport: t });
    nodes.push(node);
  }
  try {
    for (const n of nodes) await n.backend.start();
    for (let i = 0; i < 100 && nodes[0]!.backend.status().nodes.length < 2; i++) await Bun.sleep(10);
    expect(nodes[0]!.backend.status().nodes.map((n) => n.state)).toEqual(["alive", "alive"]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const apply = (n: typeof a, fx: Effect[]) => fx.forEach((e) => e.type === "publish" && n.backend.publish(e));
    apply(a, a.engine.arrive(Date.now(), { callId: "c1", group: "app", participant: "p1", hook: "pre-dump" }));
    await Bun.sleep(20);
    const t0 = performance.now();
    apply(b, b.engine.arrive(Date.now(), { callId: "c2", group: "app", participant: "p2", hook: "pre-dump" }));
    for (let i = 0; i < 100 && !replies.has("c1"); i++) await Bun.sleep(1);
    expect(replies.get("c1")?.code).toBe("released");
    expect(replies.get("c1")!.at - t0).toBeLessThan(50);
  } finally {
    for (const n of nodes) await n.backend.close();
  }
});
