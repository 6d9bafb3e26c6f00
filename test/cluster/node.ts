/**
 * One federated daemon core (engine + GossipBackend over UDP) for multi-node tests, driven by a
 * line protocol so a test can run it inside a network namespace:
 *
 *   nsenter --net=/run/netns/NS bun test/cluster/node.ts NAME LISTEN PEERS KEY MEMBERS
 *
 * PEERS and MEMBERS are comma-separated (PEERS may be "-"); KEY is base64. Fast SWIM timings.
 * stdin:  "arrive CALL PARTICIPANT HOOK" | "status" | "quit"
 * stdout: "ready ADDR" | "reply CALL CODE MESSAGE" | "event CODE MESSAGE" | "status JSON"
 */
import { BarrierEngine } from "../../src/barrier/engine.ts";
import type { Effect } from "../../src/barrier/types.ts";
import { GossipBackend } from "../../src/gossip/gossip-backend.ts";

const [name, listen, peers, key, members] = process.argv.slice(2) as [string, string, string, string, string];
const group = { name: "app", members: members.split(","), timeoutMs: 20_000 };
const engine = new BarrierEngine([group], { node: name });
const out = (line: string) => process.stdout.write(`${line}\n`);
const dispatch = (fx: Effect[]) => {
  for (const e of fx) {
    if (e.type === "reply") out(`reply ${e.callId} ${e.code} ${e.message}`);
    else if (e.type === "event") out(`event ${e.code ?? e.level} ${e.message}`);
    else backend.publish(e);
  }
};
const backend = new GossipBackend({
  node: name,
  listen,
  peers: peers === "-" ? [] : peers.split(","),
  keys: [new Uint8Array(Buffer.from(key, "base64"))],
  engine,
  dispatch,
  config: { probeIntervalMs: 200, probeTimeoutMs: 80, joinIntervalMs: 1_000, antiEntropyMs: 300 },
});
await backend.start();
setInterval(() => dispatch(engine.tick(Date.now())), 100);
out(`ready ${backend.address}`);

for await (const chunk of console) {
  const [cmd, ...args] = chunk.trim().split(" ");
  if (cmd === "arrive") {
    const [callId, participant, hook] = args as [string, string, string];
    dispatch(engine.arrive(Date.now(), { callId, group: "app", participant, hook, attempt: `${participant}-run` }));
  } else if (cmd === "status") {
    out(`status ${JSON.stringify(backend.status())}`);
  } else if (cmd === "quit") {
    await backend.close();
    process.exit(0);
  }
}
