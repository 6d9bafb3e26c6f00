import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/load.ts";
import { CACHE_ENV, cachedConfig, hostProcessMatch, readConfigCache, readConfigFile, readProcessFacts, storeConfig } from "../../../src/hook/fast-path.ts";

const dir = mkdtempSync(join(tmpdir(), "fastpath-"));
const env = { [CACHE_ENV]: join(dir, "cache.json") };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("configuration cache", () => {
  test("a stored configuration is returned while the file's content is unchanged, and not after", async () => {
    const file = join(dir, "c.toml");
    writeFileSync(file, `[[group]]\nname = "g"\nmembers = ["a"]\n`);
    const { key, text } = readConfigFile(file)!;
    expect(text).toContain('members = ["a"]');
    expect(cachedConfig(readConfigCache(env), key)).toBeUndefined();
    const config = parseConfig(text, file);
    await storeConfig(key, config, env);
    expect(cachedConfig(readConfigCache(env), key)).toEqual(config);
    expect(readConfigFile(file)!.key).toBe(key);
    writeFileSync(file, `[[group]]\nname = "g"\nmembers = ["b"]\n`); // same size, new content, same millisecond
    const changed = readConfigFile(file)!.key;
    expect(changed).not.toBe(key);
    expect(cachedConfig(readConfigCache(env), changed)).toBeUndefined();
    expect(readConfigFile(join(dir, "other.toml"))).toBeUndefined();
  });

  test("an empty configuration file is read as empty text (Bun.mmap can not map it)", () => {
    const file = join(dir, "empty.toml");
    writeFileSync(file, "");
    expect(readConfigFile(file)!.text).toBe("");
  });

  test("an unwritable cache location is not an error", async () => {
    const file = join(dir, "d.toml");
    writeFileSync(file, "");
    const bad = { [CACHE_ENV]: "/proc/no/such/dir/cache.json" };
    const { key } = readConfigFile(file)!;
    await storeConfig(key, parseConfig("", file), bad);
    expect(cachedConfig(readConfigCache(bad), key)).toBeUndefined();
  });
});

describe("hostProcessMatch", () => {
  const groups = [{ name: "g", members: ["sleep-member"], timeoutMs: 1000 }];
  test("a plain host process matches by its name only, as the full identification would", async () => {
    const p = Bun.spawn(["sleep", "30"]);
    try {
      // Right after fork the child is still called "bun" until it execs sleep.
      for (let i = 0; i < 200 && readFileSync(`/proc/${p.pid}/comm`, "utf8").trim() !== "sleep"; i++) await Bun.sleep(5);
      expect(hostProcessMatch(await readProcessFacts(p.pid), groups)).toEqual({ match: { kind: "none" }, processName: "sleep" });
      expect((hostProcessMatch(await readProcessFacts(p.pid), [{ name: "g", members: ["sleep"], timeoutMs: 1000 }]))!.match).toEqual({ kind: "member", group: "g", member: "sleep", via: "process-name" });
    } finally {
      p.kill();
    }
  });

  test("unknown or vanished processes are left to the full identification", async () => {
    expect(await readProcessFacts(0)).toBeUndefined();
    expect(await readProcessFacts(2 ** 22 + 7)).toBeUndefined();
    expect(hostProcessMatch(undefined, groups)).toBeUndefined();
    // A process in a container runtime's cgroup is left to the full identification too.
    expect(hostProcessMatch({ comm: "sleep", cgroup: "0::/system.slice/docker-" + "a".repeat(64) + ".scope\n" }, groups)).toBeUndefined();
  });
});

describe("mayBeContainer agrees with the full identification", () => {
  test("every sample in which a container is found is flagged", async () => {
    const { loadSharedSamples, loadOwnSamples } = await import("../identity/fixtures.ts");
    const { parseCgroupIdentity } = await import("../../../src/identity/cgroup.ts");
    const { mayBeContainer } = await import("../../../src/hook/fast-path.ts");
    const samples = [...loadSharedSamples(), ...loadOwnSamples()];
    expect(samples.length).toBeGreaterThan(30);
    const missed = samples
      .filter((s) => {
        const id = parseCgroupIdentity(s.content, s.mountinfo);
        return (id.id !== null || id.name !== undefined) && !mayBeContainer(s.content);
      })
      .map((s) => s.runtime);
    expect(missed).toEqual([]);
  });

  test("a plain host process is not flagged", async () => {
    const { mayBeContainer } = await import("../../../src/hook/fast-path.ts");
    expect(mayBeContainer("0::/user.slice/user-1000.slice/session-3.scope\n")).toBe(false);
    expect(mayBeContainer("4:memory:/process_api/49431491335dbf0b339a384653327951\n0::/\n")).toBe(false);
    expect(mayBeContainer("0::/\n")).toBe(true);
  });
});
