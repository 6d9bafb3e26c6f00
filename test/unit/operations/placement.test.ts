import { describe, expect, test } from "bun:test";
import { parsePlacement, placeMembers } from "../../../src/operations/placement.ts";
import type { ManifestMember } from "../../../src/operations/types.ts";

describe("parsePlacement (restore --on)", () => {
  test.each([
    ["alpha=n2", { alpha: "n2" }],
    ["alpha=n2, beta=n3", { alpha: "n2", beta: "n3" }],
    ["default/redis-0/redis=n2", { "default/redis-0/redis": "n2" }],
  ])("%s", (text, want) => {
    expect(parsePlacement(text)).toEqual(want);
  });

  test.each([
    ["", "no MEMBER=NODE given"],
    ["alpha", `"alpha" is not MEMBER=NODE`],
    ["=n2", `"=n2" is not MEMBER=NODE`],
    ["alpha=", `"alpha=" is not MEMBER=NODE`],
    ["alpha=n2,alpha=n3", "member alpha is placed twice"],
  ])("rejects %p", (text, why) => {
    expect(parsePlacement(text)).toBe(why);
  });
});

describe("placeMembers", () => {
  const m = (member: string, node: string): ManifestMember => ({ member, node, pid: 10, dir: `/shared/${member}`, outcome: "ok" });
  const nodes = new Map([["n1", "dead"], ["n2", "alive"], ["n3", "alive"]] as const);

  test("a member placed elsewhere moves, the others stay, and only nodes that keep a member are needed", () => {
    const r = placeMembers([m("alpha", "n1"), m("bravo", "n2")], { alpha: "n3" }, nodes);
    expect(r.problems).toEqual([]);
    expect(r.placed.map((p) => [p.member, p.target])).toEqual([["alpha", "n3"], ["bravo", "n2"]]);
    expect([...r.needed]).toEqual(["n2"]);
  });

  test("unknown members and nodes, and dead targets, are refused", () => {
    const r = placeMembers([m("alpha", "n1")], { alpha: "n1", charlie: "n9" }, nodes);
    expect(r.problems).toEqual([
      "--on places alpha on node n1, which is declared dead",
      "--on names charlie, which is not a member of this checkpoint (members: alpha)",
      "--on places charlie on node n9, which is not in the cluster (nodes: n1, n2, n3)",
    ]);
  });
});
