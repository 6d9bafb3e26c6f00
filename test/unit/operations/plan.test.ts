import { describe, expect, test } from "bun:test";
import { memberDirName, operationId, planCheckpoint, rootsOf } from "../../../src/operations/plan.ts";

describe("rootsOf()", () => {
  test.each([
    ["a lone process is its own root", [{ pid: 10, ppid: 1, member: "web", via: "process-name" }], { web: [10] }],
    [
      "forked workers with the same comm belong to the topmost one",
      [
        { pid: 10, ppid: 1, member: "web", via: "process-name" },
        { pid: 11, ppid: 10, member: "web", via: "process-name" },
        { pid: 12, ppid: 11, member: "web", via: "process-name" },
      ],
      { web: [10] },
    ],
    [
      "two unrelated trees of one member are two roots",
      [
        { pid: 10, ppid: 1, member: "web", via: "process-name" },
        { pid: 20, ppid: 1, member: "web", via: "process-name" },
      ],
      { web: [10, 20] },
    ],
    [
      "a child matching another member is that member's root",
      [
        { pid: 10, ppid: 1, member: "web", via: "process-name" },
        { pid: 11, ppid: 10, member: "db", via: "process-name" },
      ],
      { web: [10], db: [11] },
    ],
  ] as const)("%s", (_, procs, want) => {
    const got = Object.fromEntries(rootsOf(procs).map((f) => [f.member, f.roots]));
    expect(got).toEqual(want as unknown as Record<string, number[]>);
  });
});

describe("planCheckpoint()", () => {
  const found = (member: string, roots: number[], via = "process-name" as const) => ({ member, via, roots });

  test("every member found once on a reachable node: one assignment each", () => {
    const plan = planCheckpoint(["a", "b"], [{ node: "n1", found: [found("a", [10])], problems: [] }, { node: "n2", found: [found("b", [20])], problems: [] }], []);
    expect(plan).toEqual({ ok: true, assignments: [{ member: "a", node: "n1", pid: 10 }, { member: "b", node: "n2", pid: 20 }] });
  });

  test("a Podman container member is assigned with its container ID, a process member without", () => {
    const id = "a".repeat(64);
    const ctr = { member: "web", via: "name" as const, roots: [4242], container: id };
    const plan = planCheckpoint(["web", "db"], [{ node: "n1", found: [ctr, found("db", [20])], problems: [] }], []);
    expect(plan).toEqual({ ok: true, assignments: [{ member: "web", node: "n1", pid: 4242, container: id }, { member: "db", node: "n1", pid: 20 }] });
  });

  test("rootsOf keeps the container of a container's topmost process", () => {
    const id = "b".repeat(64);
    const roots = rootsOf([
      { pid: 50, ppid: 40, member: "web", via: "name", container: id },
      { pid: 51, ppid: 50, member: "web", via: "name", container: id },
    ]);
    expect(roots).toEqual([{ member: "web", via: "name", roots: [50], container: id }]);
  });

  test("an unreachable node, a missing member and a node problem are all listed", () => {
    const plan = planCheckpoint(["a", "b"], [{ node: "n1", found: [found("a", [10])], problems: ["CRIU is not installed"] }], ["node n2 (10.0.0.2:7946) is unreachable: no answer"]);
    expect(plan).toEqual({
      ok: false,
      problems: ["node n2 (10.0.0.2:7946) is unreachable: no answer", "node n1: CRIU is not installed", "member b is not running on any reachable node"],
    });
  });

  test.each([
    ["on two nodes", [{ node: "n1", found: [found("a", [10])], problems: [] }, { node: "n2", found: [found("a", [11])], problems: [] }], "member a runs on several nodes: n1 (pid 10), n2 (pid 11)"],
    ["as two trees", [{ node: "n1", found: [found("a", [10, 30])], problems: [] }], "member a matches 2 separate process trees on node n1 (pids 10, 30): name it more precisely"],
    ["as a container Podman does not run", [{ node: "n1", found: [found("a", [10], "name" as "process-name")], problems: [] }], "member a on node n1 is a container (matched by name) that Podman does not run"],
  ])("a member found %s is refused", (_, scans, message) => {
    const plan = planCheckpoint(["a"], scans, []);
    expect(plan.ok).toBe(false);
    expect(plan.ok ? "" : plan.problems[0]).toContain(message);
  });
});

describe("names", () => {
  test("operation ids sort by time and are safe file names", () => {
    expect(operationId("pair", new Date("2026-11-29T07:16:36.123Z"), () => 0.5)).toBe("pair-20261129T071636Z-8000");
  });

  test("a Kubernetes member gets a directory name without slashes", () => {
    expect(memberDirName("default/redis-0/redis")).toBe("default~redis-0~redis");
  });
});
