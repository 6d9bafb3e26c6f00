import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  globalConfigPath,
  matchGlobalEntry,
  parseGlobalConfig,
  parseLocalConfig,
  readGlobalConfig,
  readLocalConfig,
  writeLocalConfig,
  type GlobalConfig,
} from "../../../src/compat/legacy-config.ts";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("per-process criu-coordinator.json", () => {
  test.each([
    [`{"id":"A","dependencies":"B:C","address":"10.0.0.1","port":"9000","log-file":"c.log"}`, { id: "A", dependencies: ["B", "C"], address: "10.0.0.1", port: 9000, logFile: "c.log" }],
    [`{"id":"A","dependencies":["B","C"],"port":9000}`, { id: "A", dependencies: ["B", "C"], port: 9000 }],
    [`{"id":"test","dependencies":"test"}`, { id: "test", dependencies: [] }],
    [`{"id":"A"}`, { id: "A", dependencies: [] }],
  ])("%s", (text, expected) => {
    expect(parseLocalConfig(text, "f.json")).toEqual({ source: "f.json", ...expected });
  });

  test.each([
    [`{"dependencies":"B"}`, `f.json: "id" is required`],
    [`{"id":"A","dependencies":{"B":1}}`, "f.json: dependencies must be"],
    [`{"id":"A","port":"http"}`, `f.json: "port" must be a number from 1 to 65535, got "http"`],
    [`{"id":"A",`, "f.json: not valid JSON"],
  ])("%s is an error", (text, message) => {
    expect(parseLocalConfig(text, "f.json")).toContain(message);
  });

  test("is written back in the reference's exact format and read again", () => {
    dir = mkdtempSync(join(tmpdir(), "ccoord-legacy-"));
    expect(readLocalConfig(dir)).toBeNull();
    writeLocalConfig(dir, "A", ["B", "C"]);
    expect(readFileSync(join(dir, "criu-coordinator.json"), "utf8")).toBe(`{\n   "id": "A",\n   "dependencies": "B:C"\n}`);
    expect(readLocalConfig(dir)).toMatchObject({ id: "A", dependencies: ["B", "C"] });
  });
});

describe("global /etc/criu/criu-coordinator.json", () => {
  const text = JSON.stringify({
    address: "127.0.0.1",
    port: "18080",
    "log-file": "/var/log/criu-coordinator.log",
    dependencies: { A: ["B", "C"], B: "C:A", C: ["A"], "0123456789ab": [], "0123456789abcd": [], loop: [], "loop-1": ["loop-2"] },
  });
  const global = parseGlobalConfig(text, "g.json") as GlobalConfig;

  test("dependencies as lists or colon-separated strings", () => {
    expect(global).toMatchObject({ address: "127.0.0.1", port: 18080, logFile: "/var/log/criu-coordinator.log" });
    expect(global.dependencies.B).toEqual(["C", "A"]);
  });

  test.each([
    ["A", { id: "A", dependencies: ["B", "C"] }],
    ["loop-1", { id: "loop-1", dependencies: ["loop-2"] }], // exact wins over the prefix "loop"
    ["loop-7", { id: "loop", dependencies: [] }],
    ["0123456789abcd" + "0".repeat(50), "matches several dependency keys (0123456789ab, 0123456789abcd)"],
    ["0123456789abff" + "0".repeat(50), { id: "0123456789ab", dependencies: [] }],
    ["sleep", null],
  ])("matchGlobalEntry(%s)", (detected, expected) => {
    const got = matchGlobalEntry(global, detected);
    if (typeof expected === "string") expect(got).toContain(expected);
    else expect(got).toEqual(expected);
  });

  test("a map that is not an object is an error; the path can be overridden", () => {
    expect(parseGlobalConfig(`{"dependencies":["A"]}`, "g.json")).toContain(`"dependencies" must be an object`);
    expect(globalConfigPath({})).toBe("/etc/criu/criu-coordinator.json");
    expect(globalConfigPath({ CRIU_COORDINATOR_LEGACY_CONFIG: "/tmp/x.json" })).toBe("/tmp/x.json");
    dir = mkdtempSync(join(tmpdir(), "ccoord-legacy-"));
    expect(readGlobalConfig(join(dir, "missing.json"))).toBeNull();
    writeFileSync(join(dir, "g.json"), text);
    expect(readGlobalConfig(join(dir, "g.json"))).toMatchObject({ port: 18080 });
  });
});
