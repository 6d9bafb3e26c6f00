import { describe, expect, test } from "bun:test";
import type { Effect, Reply } from "../../../src/barrier/types.ts";
import { component } from "../../../src/compat/graph.ts";
import { ImplicitGroups } from "../../../src/compat/implicit-groups.ts";
import { tokenFor } from "../../../src/compat/replies.ts";

// Sorted: the order of replies released together does not matter.
const replies = (effects: Effect[]) => effects.filter((e): e is Reply => e.type === "reply").map((r) => `${r.callId}:${r.ok ? "ok" : r.code}`).sort();

describe("component()", () => {
  test("follows declarations in both directions", () => {
    const declared = new Map([["A", ["B"]], ["C", ["B"]], ["X", ["Y"]]]);
    expect(component(declared, "A")).toEqual(["A", "B", "C"]);
    expect(component(declared, "Y")).toEqual(["X", "Y"]);
    expect(component(declared, "lonely")).toEqual(["lonely"]);
  });
});

describe("ImplicitGroups", () => {
  test("a client waits only for what it declared (B none, A → B), as in the reference", () => {
    const g = new ImplicitGroups(1000);
    expect(replies(g.arrive(0, "a", "A", "pre-dump", ["B"]))).toEqual([]);
    expect(replies(g.arrive(1, "b", "B", "pre-dump", []))).toEqual(["a:ok", "b:ok"]);
    expect(replies(g.arrive(2, "b2", "B", "network-lock", []))).toEqual(["b2:ok"]);
    expect(replies(g.arrive(3, "a2", "A", "network-lock", ["B"]))).toEqual(["a2:ok"]);
    // post-dump is a commit: the checkpoint completes for both or for neither.
    expect(replies(g.arrive(4, "b3", "B", "post-dump", []))).toEqual([]);
    expect(replies(g.arrive(5, "a3", "A", "post-dump", ["B"]))).toEqual(["a3:ok", "b3:ok"]);
    expect(g.groups()).toHaveLength(1);
    expect(g.groups()[0]!.operation?.phase.state).toBe("committed");
  });

  test("a group that grows while a round is in flight keeps that round's progress", () => {
    const g = new ImplicitGroups(1000);
    expect(replies(g.arrive(0, "b", "B", "pre-dump", []))).toEqual(["b:ok"]); // alone so far
    expect(replies(g.arrive(1, "c", "C", "pre-dump", ["A"]))).toEqual([]); // a second group: {A, C}
    // A joins both: one group {A, B, C}; B's pre-dump and C's waiting call carry over.
    expect(replies(g.arrive(2, "a", "A", "pre-dump", ["B"]))).toEqual(["a:ok", "c:ok"]);
    expect(g.groups().map((v) => v.members)).toEqual([["A", "B", "C"]]);
    expect(g.waitingCount).toBe(0);
    expect(g.nextDeadline()).toBe(1002); // the round's silence deadline, no replayed waiter left
  });

  test("a waiter whose dependency never comes gets the reference's timeout", () => {
    const g = new ImplicitGroups(500);
    g.arrive(0, "x", "X", "pre-dump", ["Y"]);
    expect(g.nextDeadline()).toBe(500);
    const out = g.tick(500).filter((e): e is Reply => e.type === "reply");
    expect(out.map((r) => tokenFor(r, "pre-dump"))).toEqual(["timeout"]);
  });

  test("a dropped client aborts its round, and the next round starts clean", () => {
    const g = new ImplicitGroups(1000);
    g.arrive(0, "a", "A", "pre-dump", ["B"]);
    g.arrive(0, "c", "C", "pre-dump", ["A", "B"]);
    const out = g.disconnect(1, "a").filter((e): e is Reply => e.type === "reply");
    expect(out.map((r) => [r.callId, tokenFor(r, "pre-dump")])).toEqual([["c", "aborted"]]);
    expect(replies(g.arrive(2, "a2", "A", "pre-dump", ["B"]))).toEqual([]);
    expect(replies(g.arrive(3, "b2", "B", "pre-dump", []))).toEqual(["a2:ok", "b2:ok"]);
  });

  test("a finished round never releases a later one (the reference's stale state)", () => {
    const g = new ImplicitGroups(1000);
    g.arrive(0, "x", "X", "pre-dump", ["Y"]);
    g.arrive(0, "y", "Y", "pre-dump", ["X"]);
    // X starts again without Y: it must wait for Y's new pre-dump, not pass on the old one.
    expect(replies(g.arrive(10, "x2", "X", "pre-dump", ["Y"]))).toEqual([]);
    expect(replies(g.arrive(11, "y2", "Y", "pre-dump", ["X"]))).toEqual(["x2:ok", "y2:ok"]);
  });

  test("network-unlock after a dump's post-dump answers at once (no wait-timeout stall)", () => {
    const g = new ImplicitGroups(30_000);
    for (const hook of ["pre-dump", "post-dump"]) {
      g.arrive(0, `a-${hook}`, "A", hook, ["B"]);
      g.arrive(0, `b-${hook}`, "B", hook, ["A"]);
    }
    expect(replies(g.arrive(1, "a-unlock", "A", "network-unlock", ["B"]))).toEqual(["a-unlock:ok"]);
  });

  test("later hooks keep the dependencies declared at the start of the round", () => {
    const g = new ImplicitGroups(1000);
    g.arrive(0, "a", "A", "pre-dump", ["B"]);
    g.arrive(0, "b", "B", "pre-dump", []);
    expect(replies(g.arrive(1, "a2", "A", "network-lock", ["B", "Z"]))).toEqual([]);
    expect(g.declared("A")).toEqual(["B"]);
    expect(replies(g.arrive(2, "b2", "B", "network-lock", []))).toEqual(["a2:ok", "b2:ok"]);
  });

  test("failAll answers every waiting call", () => {
    const g = new ImplicitGroups(1000);
    g.arrive(0, "a", "A", "pre-dump", ["B"]);
    expect(replies(g.failAll(1, "stopping"))).toEqual(["a:aborted"]);
    expect(g.waitingCount).toBe(0);
  });
});
