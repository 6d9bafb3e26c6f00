import { describe, expect, test } from "bun:test";
import { KeyLayout } from "../../../src/etcd/keys.ts";

const k = new KeyLayout("/cc");

describe("etcd key layout", () => {
  test("every key parses back to what it was made from", () => {
    expect(k.parse(k.epoch("web"))).toEqual({ type: "epoch", group: "web" });
    expect(k.parse(k.record("web", 3, "node a/1"))).toEqual({ type: "record", group: "web", epoch: 3, node: "node a/1" });
    expect(k.parse(k.outcome("web", 3))).toEqual({ type: "outcome", group: "web", epoch: 3 });
    expect(k.parse(k.node("n1"))).toEqual({ type: "node", node: "n1" });
    expect(k.parse(k.request("n2", "n1", "a1.b2.3"))).toEqual({ type: "request", to: "n2", from: "n1", id: "a1.b2.3" });
    expect(k.parse(k.reply("n1", "n2", "a1.b2.3"))).toEqual({ type: "reply", to: "n1", from: "n2", id: "a1.b2.3" });
  });

  test("daemon keys can not be taken for a group's, and malformed keys are ignored", () => {
    // "@" can not start a group name, so "@node/epoch" is a node called "epoch", not a group's epoch.
    expect(k.parse("/cc/@node/epoch")).toEqual({ type: "node", node: "epoch" });
    for (const bad of ["/cc/@node", "/cc/@req/n2/n1", "/cc/@req/n2/n1/id with space", "/cc/@rep/%E0/n1/x", "/cc/@what/x", "/other/@node/n1"]) {
      expect({ key: bad, parsed: k.parse(bad) }).toEqual({ key: bad, parsed: undefined });
    }
  });
});
