import { describe, expect, test } from "bun:test";
import { finalManifest, initialManifest, newestOf, outcomeOf, parseManifest, restoreProblems, withRestore } from "../../../src/operations/manifest.ts";
import type { MemberProgress, StoredOperation } from "../../../src/operations/types.ts";

const member = (m: string, node: string, state: MemberProgress["state"], extra: Partial<MemberProgress> = {}): MemberProgress => ({ member: m, node, pid: 10, dir: `/ops/x/${m}`, state, hook: null, ...extra });
const planned = [member("a", "n1", "planned"), member("b", "n2", "planned")];
const start = initialManifest("g-1", "g", "2026-11-29T07:00:00.000Z", false, planned);

/** Every node's copy of manifest `m`. */
const copies = (m = start, missing: Record<string, string[]> = {}): StoredOperation[] =>
  m.nodes.map((node) => ({ node, dir: "/ops/x", bytes: 100, manifest: m, missing: missing[node] ?? [] }));

describe("outcomeOf()", () => {
  test.each([
    ["all ok", ["ok", "ok"], "committed"],
    ["one still running", ["ok", "running"], "running"],
    ["one failed", ["ok", "failed"], "failed"],
    ["one node silent", ["ok", "unknown"], "failed"],
  ] as const)("%s → %s", (_, states, want) => {
    expect(outcomeOf(states.map((s, i) => member(`m${i}`, "n1", s))).state).toBe(want);
  });

  test("a member whose own CRIU run failed is named before those aborted because of it", () => {
    const members = [member("a", "n1", "failed", { message: "criu-coordinator: g/a at post-dump: Operation g#1 aborted" }), member("b", "n2", "failed", { message: "Error (criu/pstree.c:304)" })];
    expect(outcomeOf(members).reason).toBe("b on n2: Error (criu/pstree.c:304); a on n1: criu-coordinator: g/a at post-dump: Operation g#1 aborted");
  });

  test("a failure names the member, its node and why", () => {
    expect(outcomeOf([member("a", "n1", "ok"), member("b", "n2", "failed", { message: "Timed out at pre-dump" })]).reason).toBe("b on n2: Timed out at pre-dump");
  });
});

describe("restoreProblems()", () => {
  const committed = finalManifest(start, "2026-11-29T07:00:01.000Z", [member("a", "n1", "ok"), member("b", "n2", "ok")]);

  test("a checkpoint committed on every node is restorable, again and again", () => {
    expect(restoreProblems("g-1", copies(committed))).toEqual([]);
    const restored = withRestore(committed, { id: "g-2", at: "2026-11-29T07:01:00.000Z", outcome: "committed" });
    expect(restoreProblems("g-1", copies(restored))).toEqual([]);
  });

  test("a checkpoint that failed on one member is refused with the reason", () => {
    const failed = finalManifest(start, "t", [member("a", "n1", "ok"), member("b", "n2", "failed", { message: "CRIU exited 1" })]);
    expect(restoreProblems("g-1", copies(failed))).toEqual(["the checkpoint did not commit everywhere: b on n2: CRIU exited 1"]);
  });

  test("a node whose manifest still says running, or that lacks a copy or images, is named", () => {
    const mixed: StoredOperation[] = [{ node: "n1", dir: "/ops/x", bytes: 1, manifest: committed, missing: ["a"] }];
    expect(restoreProblems("g-1", mixed)).toEqual(["node n1 lacks the images of a", "node n2 holds no manifest of g-1: its images are missing"]);
    const interrupted: StoredOperation[] = [copies(committed)[0]!, { ...copies(committed)[1]!, manifest: start }];
    expect(restoreProblems("g-1", interrupted)).toEqual(["node n2 never recorded the outcome of g-1 (the checkpoint was interrupted)"]);
  });

  test("a node whose members are all restored elsewhere (restore --on) is not needed", () => {
    const onlyN1: StoredOperation[] = [copies(committed)[0]!];
    expect(restoreProblems("g-1", onlyN1, new Set(["n1"]))).toEqual([]);
    expect(restoreProblems("g-1", onlyN1, new Set(["n1", "n2"]))).toEqual(["node n2 holds no manifest of g-1: its images are missing"]);
  });

  test("an unknown operation is refused", () => {
    expect(restoreProblems("nope", copies(committed))).toEqual(["No node holds images of operation nope"]);
  });
});

describe("manifests", () => {
  test("newestOf() picks the newest checkpoint of the group", () => {
    const older = { ...start, id: "g-0", createdAt: "2026-11-28T00:00:00.000Z" };
    const other = { ...start, id: "h-9", group: "h", createdAt: "2027-01-01T00:00:00.000Z" };
    expect(newestOf("g", [...copies(older), ...copies(start), ...copies(other)])?.id).toBe("g-1");
  });

  test("parseManifest() accepts what initialManifest() writes and rejects damage", () => {
    expect(parseManifest(JSON.parse(JSON.stringify(start)))).toEqual(start);
    expect(parseManifest({ ...start, outcome: "maybe" })).toBe(`field "outcome" must be running, committed or failed`);
    expect(parseManifest({ ...start, members: [{ member: "a" }] })).toBe(`field "members" must be a list of members`);
    expect(parseManifest([])).toBe("not a version 1 manifest");
  });
});
