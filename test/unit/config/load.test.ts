import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../../../src/config/duration.ts";
import { ConfigError, loadConfig, parseConfig } from "../../../src/config/load.ts";
import { DEFAULTS, groupSpecs } from "../../../src/config/schema.ts";

const F = "test.toml";

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, F);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  test("the documented example", () => {
    const c = parseConfig(
      `[daemon]\nsocket = "/run/x.sock"\n\n[[group]]\nname = "web"\nmembers = ["frontend", "backend"]\ndependencies = { frontend = ["backend"] }\ntimeout = "30s"\n`,
      F,
    );
    expect(c.daemon).toEqual({ socket: "/run/x.sock", logLevel: "info" });
    expect(c.groups).toEqual([{ name: "web", members: ["frontend", "backend"], dependencies: { frontend: ["backend"] }, timeoutMs: 30_000 }]);
    expect(groupSpecs(c)[0]!.timeoutMs).toBe(30_000);
  });

  test("defaults fill what is left out", () => {
    const c = parseConfig(`[[group]]\nname = "g"\nmembers = ["a"]\n`, F);
    expect(c.daemon.socket).toBe(DEFAULTS.socket);
    expect(c.groups[0]!.timeoutMs).toBe(DEFAULTS.timeoutMs);
    expect(c.groups[0]!.dependencies).toBeUndefined();
    expect(c.hook.unreachable).toBe("fail");
  });

  test.each([
    [`[[group]]\nname = "web"\nmembers = ["a", "b"\n`, 4, 1, "Invalid TOML"],
    [`[daemon]\nsocket = "relative.sock"\n`, 2, 1, "expected an absolute path"],
    [`[daemon]\nsockt = "/x"\n`, 2, 1, 'unknown key "sockt" in [daemon]; expected one of: socket, log_level'],
    [`[deamon]\n`, 1, 1, 'unknown key "deamon" in the top level'],
    [`[[group]]\nname = "a"\nmembers = []\n`, 3, 1, 'group "a" has no members'],
    [`[[group]]\nname = "a"\nmembers = ["x"]\n\n[[group]]\nname = "b"\nmembers = ["x"]\n`, 7, 1, 'member "x" is in groups "a" and "b"'],
    [`[[group]]\nname = "a"\nmembers = ["x"]\n[[group]]\nname = "a"\nmembers = ["y"]\n`, 5, 1, 'group "a" is defined twice'],
    [`[[group]]\nname = "a"\nmembers = ["x", 3]\n`, 3, 1, "expected a list of non-empty strings for group.members"],
    [`[[group]]\nname = "a"\nmembers = ["x"]\ndependencies = { y = ["x"] }\n`, 4, 18, 'dependencies name "y", which is not a member'],
    [`[[group]]\nname = "a"\nmembers = ["x"]\ntimeout = "-1s"\n`, 4, 1, "timeout: expected a duration"],
    [`[[group]]\nname = "a b"\nmembers = ["x"]\n`, 2, 1, "expected a group name"],
    [`[hook]\nunreachable = "maybe"\n`, 2, 1, 'expected one of "fail", "skip"'],
    [`[cluster]\nlisten = "nope"\n`, 2, 1, 'expected host:port for cluster.listen, got "nope"'],
  ])("error at the right place: %#", (text, line, column, message) => {
    const e = errorOf(text);
    expect(e.detail).toContain(message);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toStartWith(`${F}:${line}:${column}: `);
  });

  test("the second group's error points into the second group", () => {
    const e = errorOf(`[[group]]\nname = "a"\nmembers = ["x"]\ntimeout = "1s"\n\n[[group]]\nname = "b"\nmembers = ["y"]\ntimeout = "often"\n`);
    expect(e.line).toBe(9);
  });
});

describe("loadConfig", () => {
  test("a missing file is the embedded default, unless required", () => {
    const missing = join(mkdtempSync(join(tmpdir(), "cfg-")), "none.toml");
    expect(loadConfig(missing).source).toBe("embedded default");
    expect(loadConfig(missing).groups).toEqual([]);
    expect(() => loadConfig(missing, { required: true })).toThrow(`${missing}: Cannot read the configuration: ENOENT`);
  });

  test("a file is read and named as the source", () => {
    const f = join(mkdtempSync(join(tmpdir(), "cfg-")), "c.toml");
    writeFileSync(f, `[[group]]\nname = "g"\nmembers = ["a"]\n`);
    expect(loadConfig(f).source).toBe(f);
  });
});

describe("parseDuration", () => {
  test.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    [45, 45_000],
  ])("%p → %p ms", (input, ms) => expect(parseDuration(input)).toBe(ms));

  test.each([["30 seconds"], ["0s"], [-1], [true], ["s"]])("%p is refused with a message", (input) => {
    expect(typeof parseDuration(input)).toBe("string");
  });
});
