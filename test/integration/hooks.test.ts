/**
 * The real binary: a daemon process and hook processes started as CRIU starts them (no arguments,
 * CRTOOLS_* variables, real images directories, real processes identified by their names).
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary, Sandbox, until, type Daemon } from "../support/binary.ts";

beforeAll(() => {
  ensureBinary();
}, 120_000);

let box: Sandbox;
afterEach(() => box?.cleanup());

const TRIO = `[[group]]\nname = "web"\nmembers = ["frontend", "backend", "cache"]\ntimeout = "1500ms"\n`;

async function waitingCount(d: Daemon): Promise<number> {
  return (await d.status()).waiting as number;
}

describe("three participants of one group", () => {
  test("the first two hook calls wait, the third releases all three within milliseconds", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO.replace("1500ms", "20s"));
    const daemon = await box.startDaemon();
    const [f, b, c] = ["frontend", "backend", "cache"].map((n) => ({ pid: box.spawnNamed(n), images: box.imagesDir(n) }));
    const h1 = box.hook("pre-dump", f!);
    const h2 = box.hook("pre-dump", b!);
    await until(async () => (await waitingCount(daemon)) === 2, 10_000, "two waiting calls");
    expect(h1.finished).toBe(false);
    expect(h2.finished).toBe(false);
    const h3 = box.hook("pre-dump", c!);
    const [r1, r2, r3] = await Promise.all([h1.done, h2.done, h3.done]);
    for (const r of [r1, r2, r3]) expect(r.code).toBe(0);
    expect(r1.output).toContain("web/frontend at pre-dump: released at pre-dump");
    // Released together: the waiting calls end within a few ms of the third one.
    const spread = Math.max(r1.endedAt, r2.endedAt, r3.endedAt) - Math.min(r1.endedAt, r2.endedAt, r3.endedAt);
    console.log(`release spread across the three hook processes: ${spread.toFixed(1)} ms; third call ${r3.ms.toFixed(1)} ms`);
    expect(spread).toBeLessThan(250);
    // The identity each pre-dump recorded travels with the images.
    const id = JSON.parse(readFileSync(join(f!.images, "criu-coordinator.identity.json"), "utf8"));
    expect(id).toMatchObject({ version: 1, participant: "frontend", group: "web", processName: "frontend", pid: f!.pid });
  }, 30_000);

  test("with one member missing, both waiting calls fail at the timeout naming it", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO);
    await box.startDaemon();
    const [f, b] = ["frontend", "backend"].map((n) => ({ pid: box.spawnNamed(n), images: box.imagesDir(n) }));
    const [r1, r2] = await Promise.all([box.hook("pre-dump", f!).done, box.hook("pre-dump", b!).done]);
    for (const r of [r1, r2]) {
      expect(r.code).toBe(1);
      expect(r.output).toContain("Timed out at pre-dump after");
      expect(r.output).toContain("cache (never arrived)");
      expect(r.ms).toBeGreaterThan(1400);
      expect(r.ms).toBeLessThan(5000);
    }
  }, 30_000);
});

describe("a whole dump and restore", () => {
  test("pre-dump, network-lock, post-dump commit; restore identifies from the images without CRTOOLS_INIT_PID", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "10s"\n`);
    const daemon = await box.startDaemon();
    const s = { pid: box.spawnNamed("server"), images: box.imagesDir("server") };
    const c = { pid: box.spawnNamed("client"), images: box.imagesDir("client") };
    const both = async (hook: string, sOpts = s, cOpts = c) => {
      const [a, b] = await Promise.all([box.hook(hook, sOpts).done, box.hook(hook, cOpts).done]);
      return [a, b];
    };
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      for (const r of await both(hook)) expect({ hook, code: r.code }).toEqual({ hook, code: 0 });
    }
    let st = await daemon.status();
    expect(st.groups[0].operation).toMatchObject({ id: "pair#1", kind: "dump", phase: { state: "committed" } });
    // Restore: pre-restore has no CRTOOLS_INIT_PID; the identity comes from the images directory.
    const sr = { images: s.images };
    const cr = { images: c.images };
    for (const hook of ["pre-restore", "post-restore", "network-unlock", "pre-resume"]) {
      const rs = await both(hook, sr as typeof s, cr as typeof c);
      for (const r of rs) expect({ hook, code: r.code, out: r.output.includes("pair/") }).toEqual({ hook, code: 0, out: true });
    }
    st = await daemon.status();
    expect(st.groups[0].operation).toMatchObject({ id: "pair#2", kind: "restore", phase: { state: "committed" } });
  }, 60_000);

  test("a dump that fails on one side before post-dump makes the other side's post-dump fail", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "10s"\n`);
    await box.startDaemon();
    const s = { pid: box.spawnNamed("server"), images: box.imagesDir("server") };
    const c = { pid: box.spawnNamed("client"), images: box.imagesDir("client") };
    await Promise.all([box.hook("pre-dump", s).done, box.hook("pre-dump", c).done]);
    await Promise.all([box.hook("network-lock", s).done, box.hook("network-lock", c).done]);
    const post = box.hook("post-dump", s);
    // The client's dump fails after freezing: CRIU skips post-dump and unlocks its network.
    const unlock = await box.hook("network-unlock", c).done;
    expect(unlock.code).toBe(0);
    const r = await post.done;
    expect(r.code).toBe(1);
    expect(r.output).toContain("The dump of client failed");
    expect(r.ms).toBeLessThan(3000); // at once, not at the timeout
  }, 30_000);
});

describe("processes and configurations outside coordination", () => {
  test("an unconfigured process passes through with exit 0 and no daemon running", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO);
    const pid = box.spawnNamed("unrelated");
    for (const hook of ["pre-dump", "network-lock", "post-dump", "pre-restore", "post-restore", "post-resume"]) {
      const r = await box.hook(hook, { pid, images: box.imagesDir("unrelated") }).done;
      expect({ hook, code: r.code, output: r.output }).toEqual({ hook, code: 0, output: "" });
    }
    expect(existsSync(join(box.imagesDir("unrelated"), "criu-coordinator.identity.json"))).toBe(false);
  }, 30_000);

  test("no configuration file at all means the embedded default: every process passes", async () => {
    box = new Sandbox();
    const pid = box.spawnNamed("frontend");
    const r = await box.hook("pre-dump", { pid, images: box.imagesDir("x"), env: { CRIU_COORDINATOR_CONFIG: join(box.dir, "missing.toml") } }).done;
    expect(r.code).toBe(0);
  });

  test("a malformed configuration makes the hook refuse with the file, line and column", async () => {
    box = new Sandbox();
    writeFileSync(box.configFile, `[[group]]\nname = "web"\nmembers = ["a", "b"\n`);
    const r = await box.hook("pre-dump", { pid: box.spawnNamed("a"), images: box.imagesDir("a") }).done;
    expect(r.code).toBe(1);
    expect(r.output).toContain(`${box.configFile}:4:1: Invalid TOML`);
  });

  test("config check: line-and-column errors and a non-zero exit", async () => {
    box = new Sandbox();
    const cases: [string, string][] = [
      [`[[group]]\nname = "web"\nmembers = ["a", "b"\n`, ":4:1: Invalid TOML"],
      [`[[group]]\nname = "web"\nmembers = ["a"]\ntimeout = "soon"\n`, `:4:1: group "web" timeout: expected a duration`],
      [`[[group]]\nname = "web"\nmembers = ["a"]\ndependencies = { a = ["zed"] }\n`, `:4:18: "a" depends on "zed", which is not a member`],
      [`[daemon]\nsockt = "/x"\n`, `:2:1: unknown key "sockt" in [daemon]`],
    ];
    for (const [text, expected] of cases) {
      writeFileSync(box.configFile, text);
      const r = Bun.spawnSync([ensureBinary(), "config", "check", box.configFile], { stderr: "pipe", stdout: "pipe" });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString()).toContain(`${box.configFile}${expected}`);
    }
    writeFileSync(box.configFile, TRIO);
    const ok = Bun.spawnSync([ensureBinary(), "config", "check", box.configFile], { stdout: "pipe" });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toContain("group web: frontend, backend, cache");
  });
});

describe("a daemon that goes away", () => {
  test("SIGTERM aborts the operation: waiting hook calls get a clear answer", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO.replace("1500ms", "20s"));
    const daemon = await box.startDaemon();
    const h = box.hook("pre-dump", { pid: box.spawnNamed("frontend"), images: box.imagesDir("f") });
    await until(async () => (await waitingCount(daemon)) === 1, 10_000, "a waiting call");
    expect(await daemon.stop("SIGTERM")).toBe(0);
    const r = await h.done;
    expect(r.code).toBe(1);
    expect(r.output).toContain("the coordinator daemon is stopping (SIGTERM)");
  }, 30_000);

  test("a hook whose daemon dies retries, and fails safe when the new daemon does not know the operation", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "3s"\n`);
    const daemon = await box.startDaemon();
    const s = { pid: box.spawnNamed("server"), images: box.imagesDir("server") };
    const c = { pid: box.spawnNamed("client"), images: box.imagesDir("client") };
    await Promise.all([box.hook("pre-dump", s).done, box.hook("pre-dump", c).done]);
    const post = box.hook("post-dump", s);
    await until(async () => (await waitingCount(daemon)) === 1, 10_000, "a waiting post-dump");
    await daemon.stop("SIGKILL");
    await Bun.sleep(300);
    expect(post.finished).toBe(false); // still retrying
    await box.startDaemon();
    const r = await post.done;
    expect(r.code).toBe(1);
    expect(r.output).toContain("the daemon restarted since");
  }, 30_000);

  test("a configured participant with no daemon at all fails safe at its deadline", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "200ms"\n`);
    const r = await box.hook("pre-dump", { pid: box.spawnNamed("server"), images: box.imagesDir("s") }).done;
    expect(r.code).toBe(1);
    expect(r.output).toContain("coordinator unreachable");
  }, 30_000);

  test('hook.unreachable = "skip" restores the reference behaviour: go on uncoordinated', async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "200ms"\n`, `[hook]\nunreachable = "skip"\n`);
    const r = await box.hook("pre-dump", { pid: box.spawnNamed("server"), images: box.imagesDir("s") }).done;
    expect(r.code).toBe(0);
    expect(r.output).toContain("going on uncoordinated");
  }, 30_000);
});

describe("bad input never takes the daemon down", () => {
  test("garbage frames, oversized frames, bad requests and unknown hooks", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO);
    const daemon = await box.startDaemon();
    const send = (bytes: Uint8Array) =>
      new Promise<string>((resolve) => {
        let got = "";
        Bun.connect({
          unix: box.socket,
          socket: {
            open(s) { s.write(bytes); },
            data(_s, d) { got += new TextDecoder().decode(d); },
            close() { resolve(got); },
            error() { resolve(got); },
          },
        }).then((s) => setTimeout(() => { s.end(); resolve(got); }, 300));
      });
    const frame = (obj: unknown) => {
      const body = new TextEncoder().encode(JSON.stringify(obj));
      const out = new Uint8Array(4 + body.length);
      new DataView(out.buffer).setUint32(0, body.length);
      out.set(body, 4);
      return out;
    };
    expect(await send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))).toContain("Frame too large");
    expect(await send(new Uint8Array([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]))).toContain("not valid JSON");
    expect(await send(frame({ v: 9, type: "status" }))).toContain("Unsupported protocol version 9");
    expect(await send(frame({ v: 1, type: "arrive", group: "web", participant: "frontend", hook: "pre-dumpp" }))).toContain('Unknown CRIU hook \\"pre-dumpp\\"');
    expect(await send(frame({ v: 1, type: "arrive", group: "web", participant: 7, hook: "pre-dump" }))).toContain('Field \\"participant\\"');
    expect(await send(frame([1, 2, 3]))).toContain("must be a JSON object");
    const st = await daemon.status();
    expect(st.pid).toBe(daemon.proc.pid);
    expect(daemon.proc.exitCode).toBeNull();
  }, 30_000);

  test("status shows who waits for whom, as a table and as JSON", async () => {
    box = new Sandbox();
    box.writeConfig(TRIO.replace("1500ms", "20s"));
    const daemon = await box.startDaemon();
    const h = box.hook("pre-dump", { pid: box.spawnNamed("frontend"), images: box.imagesDir("f") });
    await until(async () => (await waitingCount(daemon)) === 1, 10_000, "a waiting call");
    const st = await daemon.status();
    const p = st.groups[0].operation.participants.find((x: any) => x.name === "frontend");
    expect(p).toEqual({ name: "frontend", hook: "pre-dump", waitingAt: "pre-dump", waitingFor: ["backend", "cache"] });
    const human = Bun.spawnSync([ensureBinary(), "status", "--socket", box.socket], { stdout: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const text = human.stdout.toString();
    expect(text).toContain("GROUP web (timeout 20s)  dump web#1: in flight");
    expect(text).toMatch(/frontend\s+pre-dump\s+pre-dump\s+backend, cache/);
    h.proc.kill();
  }, 30_000);
});

describe("the daemon's JavaScript engine", () => {
  const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

  test("it re-executes itself in place with the optimising JIT tiers off, keeping its pid", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "g"\nmembers = ["a", "b"]\n`);
    const d = await box.startDaemon();
    expect(environOf(d.proc.pid)).toContain("BUN_JSC_useDFGJIT=0");
    // The re-executed image still serves hook calls.
    const a = box.hook("pre-dump", { pid: box.spawnNamed("a"), images: box.imagesDir("a") });
    const b = box.hook("pre-dump", { pid: box.spawnNamed("b"), images: box.imagesDir("b") });
    for (const r of await Promise.all([a.done, b.done])) expect(r.code).toBe(0);
  });

  test("an operator's own BUN_JSC_useDFGJIT is kept", async () => {
    box = new Sandbox();
    box.writeConfig("");
    const proc = Bun.spawn([ensureBinary(), "daemon", "--config", box.configFile], { stdout: "ignore", stderr: "ignore", env: { ...process.env, BUN_JSC_useDFGJIT: "1" } });
    box.procs.push(proc);
    await until(() => existsSync(box.socket), 10_000);
    expect(environOf(proc.pid)).toContain("BUN_JSC_useDFGJIT=1");
    expect(environOf(proc.pid)).not.toContain("BUN_JSC_useDFGJIT=0");
  });
});

describe("the daemon's command line", () => {
  test("an unknown option or a stray argument is refused with the usage (exit 2), never ignored", () => {
    for (const args of [["--bogus"], ["extra"], ["--config"]]) {
      const r = Bun.spawnSync([ensureBinary(), "daemon", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
      expect({ args, code: r.exitCode }).toEqual({ args, code: 2 });
      expect(r.stderr.toString()).toContain("usage: criu-coordinator daemon [--config FILE]");
    }
  });
});
