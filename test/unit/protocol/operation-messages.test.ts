/** Local-socket requests of the checkpoint, restore and operations commands. */
import { describe, expect, test } from "bun:test";
import { parseRequest } from "../../../src/protocol/messages.ts";

describe("operation requests", () => {
  test.each([
    [{ v: 1, type: "checkpoint", group: "pair" }],
    [{ v: 1, type: "checkpoint", group: "pair", leaveRunning: true, dir: "/srv/ckpt" }],
    [{ v: 1, type: "restore", group: "pair" }],
    [{ v: 1, type: "restore", group: "pair", from: "pair-20261129T071636Z-3fa2" }],
    [{ v: 1, type: "restore", group: "pair", placement: { "tcp-server": "n2" } }],
    [{ v: 1, type: "operation", id: "pair-20261129T071636Z-3fa2" }],
    [{ v: 1, type: "operation", id: "pair-20261129T071636Z-3fa2", after: "1k2j3h4g5f" }],
    [{ v: 1, type: "operations" }],
    [{ v: 1, type: "operations", group: "pair" }],
  ])("accepts %j", (req) => {
    expect(parseRequest(req)).toEqual(req as never);
  });

  test.each([
    [{ v: 1, type: "checkpoint" }, `Field "group" must be a non-empty string of at most 256 characters`],
    [{ v: 1, type: "checkpoint", group: "g", leaveRunning: "yes" }, `Field "leaveRunning" must be a boolean`],
    [{ v: 1, type: "checkpoint", group: "g", dir: "images" }, `Field "dir" must be an absolute path`],
    [{ v: 1, type: "restore", group: "g", from: "../../etc" }, `Field "from" must be an operation id (letters, digits, ".", "_", "-")`],
    [{ v: 1, type: "operation" }, `Field "id" must be an operation id (letters, digits, ".", "_", "-")`],
    [{ v: 1, type: "restore", group: "g", placement: ["a", "n2"] }, `Field "placement" must map member names to node names (at most 256 characters each)`],
    [{ v: 1, type: "restore", group: "g", placement: { a: 2 } }, `Field "placement" must map member names to node names (at most 256 characters each)`],
    [{ v: 1, type: "operation", id: "g-1", after: 7 }, `Field "after" must be a string of at most 64 characters`],
    [{ v: 1, type: "operations", group: "" }, `Field "group" must be a non-empty string of at most 256 characters`],
  ])("rejects %j", (req, why) => {
    expect(parseRequest(req)).toBe(why);
  });
});
