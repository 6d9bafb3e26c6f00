import { describe, expect, test } from "bun:test";
import { initialManifest } from "../../../src/operations/manifest.ts";
import { parsePeerCommand } from "../../../src/operations/peer.ts";
import { formatBytes, operationsTable, progressLines } from "../../../src/operations/render.ts";
import type { OperationSnapshot } from "../../../src/operations/types.ts";

const manifest = initialManifest("g-1", "g", "2026-11-29T07:00:00.000Z", false, [{ member: "a", node: "n1", pid: 5, dir: "/ops/g-1/a", state: "planned", hook: null }]);
const CTR = "c".repeat(64);
const withContainer = initialManifest("g-1", "g", "2026-11-29T07:00:00.000Z", false, [{ member: "a", node: "n1", pid: 5, dir: "/ops/g-1/a", container: CTR, state: "planned", hook: null }]);

describe("parsePeerCommand()", () => {
  test.each([
    [{ c: "scan", group: "g" }],
    [{ c: "dump", manifest, targets: [{ member: "a", pid: 5 }] }],
    [{ c: "dump", manifest: withContainer, targets: [{ member: "a", pid: 5, container: CTR }] }],
    [{ c: "finish", manifest: withContainer }],
    [{ c: "dump", manifest, targets: [], dir: "/srv/ckpt" }],
    [{ c: "restore", op: "g-2", checkpoint: "g-1", group: "g", members: ["a"] }],
    [{ c: "restore", op: "g-2", checkpoint: "g-1", group: "g", members: ["a"], entries: [{ member: "a", pid: 5, dir: "/shared/g-1/a" }] }],
    [{ c: "check", entries: [{ member: "a", pid: 5, dir: "/shared/g-1/a", container: CTR }] }],
    [{ c: "report", op: "g-1" }],
    [{ c: "report", op: "g-1", after: "abc", waitMs: 10000 }],
    [{ c: "list" }],
    [{ c: "finish", manifest }],
  ])("accepts %j", (cmd) => {
    expect(parsePeerCommand(JSON.parse(JSON.stringify(cmd)))).toEqual(cmd as never);
  });

  test.each([
    [null, "Command must be an object"],
    [{ c: "rm -rf" }, `Unknown command "rm -rf"`],
    [{ c: "dump", manifest, targets: [{ member: "a", pid: -1 }] }, `Field "targets" must be a list of { member, pid }`],
    [{ c: "dump", manifest, targets: [{ member: "a", pid: 5, container: "web; rm -rf /" }] }, `Field "targets" must be a list of { member, pid }`],
    [{ c: "finish", manifest: { ...withContainer, members: [{ ...withContainer.members[0], container: "../x" }] } }, `Field "manifest": field "members" must be a list of members`],
    [{ c: "dump", manifest, targets: [], dir: "relative" }, `Field "dir" must be an absolute path`],
    [{ c: "report", op: "../etc" }, `Field "op" must be an operation id`],
    [{ c: "check", entries: [{ member: "a", pid: 5, dir: "relative/a" }] }, `Field "entries" must be a list of { member, pid, dir[, container] }`],
    [{ c: "restore", op: "g-2", checkpoint: "g-1", group: "g", members: ["a"], entries: "a" }, `Field "entries" must be a list of { member, pid, dir[, container] }`],
    [{ c: "report", op: "g-1", waitMs: 3_600_000 }, `Field "waitMs" must be an integer from 0 to 30000`],
    [{ c: "report", op: "g-1", after: "x".repeat(65) }, `Field "after" must be a string of at most 64 characters`],
    [{ c: "finish", manifest: { version: 2 } }, `Field "manifest": not a version 1 manifest`],
  ])("rejects %j", (cmd, why) => {
    expect(parsePeerCommand(cmd)).toBe(why);
  });
});

describe("render", () => {
  const snap = (state: "running" | "ok", hook: string | null): OperationSnapshot => ({
    id: "g-1", kind: "checkpoint", group: "g", checkpoint: "g-1", state: "running", startedAt: "t",
    members: [{ member: "a", node: "n1", pid: 5, dir: "/d", state, hook, ...(state === "ok" ? { bytes: 4_300_000 } : {}) }],
  });

  test("progress lines name only what changed", () => {
    expect(progressLines(undefined, snap("running", null))).toEqual(["  a on n1: running CRIU"]);
    expect(progressLines(snap("running", null), snap("running", "pre-dump"))).toEqual(["  a on n1: at pre-dump"]);
    expect(progressLines(snap("running", "pre-dump"), snap("running", "pre-dump"))).toEqual([]);
    expect(progressLines(snap("running", "post-dump"), snap("ok", "post-dump"))).toEqual(["  a on n1: done (4.1 MiB)"]);
  });

  test("sizes and the operations table", () => {
    expect([formatBytes(512), formatBytes(2048), formatBytes(5 * 1024 ** 3)]).toEqual(["512 B", "2.0 KiB", "5.0 GiB"]);
    const rows = operationsTable([{ node: "n1", dir: "/ops/g-1", bytes: 2048, manifest, missing: [] }]);
    expect(rows[1]).toBe("  g-1        g      2026-11-29T07:00:00Z  running  0         2.0 KiB  n1:/ops/g-1");
  });
});
