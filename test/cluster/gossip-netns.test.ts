/**
 * Real daemons (engine + GossipBackend over UDP) in separate network namespaces on a bridge.
 * Needs root and iproute2; skipped otherwise. Namespaces are removed even when a test fails.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { canUseNetns, Lab, type LabNode } from "./netns.ts";

const members = ["p1", "p2", "p3"];
let lab: Lab | undefined;
afterEach(() => {
  lab?.destroy();
  lab = undefined;
});

async function cluster(): Promise<LabNode[]> {
  lab = new Lab();
  const addrs = lab.build(3);
  const nodes = addrs.map((a, i) => lab!.start(i + 1, `n${i + 1}`, a, i === 0 ? [] : [addrs[0]!], members));
  for (const n of nodes) await n.expectLine("ready");
  for (const n of nodes) {
    for (let t = 0; ; t++) {
      const s = await n.status();
      if (s.nodes.filter((x) => x.state === "alive").length === 3) break;
      if (t > 100) throw new Error(`Cluster did not form: ${JSON.stringify(s)}`);
      await Bun.sleep(50);
    }
  }
  return nodes;
}

describe.skipIf(!canUseNetns())("gossip across network namespaces", () => {
  test("a dump passes every barrier in order across three nodes and commits everywhere", async () => {
    const nodes = await cluster();
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      nodes.forEach((n, i) => n.send(`arrive ${hook}-${i} p${i + 1} ${hook}`));
      const want = hook === "post-dump" ? "committed" : "released";
      for (const [i, n] of nodes.entries()) expect(await n.expectLine(`reply ${hook}-${i} `)).toContain(` ${want} `);
    }
  }, 30_000);

  test("killing one node's daemon mid-barrier aborts the waiting calls on the others", async () => {
    const nodes = await cluster();
    nodes[0]!.send("arrive a p1 pre-dump");
    nodes[2]!.send("arrive c p3 pre-dump");
    await Bun.sleep(200);
    nodes[2]!.kill();
    const r = await nodes[0]!.expectLine("reply a ", 10_000);
    expect(r).toContain(" aborted ");
    expect(r).toContain("node n3 declared dead");
  }, 30_000);

  test("a partition aborts the operation; after it heals the membership is whole again", async () => {
    const nodes = await cluster();
    nodes[0]!.send("arrive a p1 pre-dump");
    nodes[2]!.send("arrive c p3 pre-dump");
    await Bun.sleep(200);
    lab!.link(3, false);
    expect(await nodes[0]!.expectLine("reply a ", 10_000)).toContain(" aborted ");
    expect(await nodes[2]!.expectLine("reply c ", 10_000)).toContain(" aborted ");
    lab!.link(3, true);
    for (let t = 0; ; t++) {
      const states = await Promise.all(nodes.map(async (n) => (await n.status()).nodes.map((x) => x.state).join(",")));
      if (states.every((s) => s === "alive,alive,alive")) break;
      if (t > 200) throw new Error(`Membership not whole after heal: ${states.join(" | ")}`);
      await Bun.sleep(50);
    }
  }, 40_000);
});
