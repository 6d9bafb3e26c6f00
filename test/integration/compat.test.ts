/**
 * The reference criu-coordinator's protocol, configs and commands against the real binary: a
 * daemon with [compat] listen, clients that write the reference's bytes (also split across
 * writes) over real TCP on 127.0.0.1, our own hook processes, and the JSON configs.
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

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

interface RefCall {
  readonly reply: Promise<string>;
  readonly ms: Promise<number>;
  drop(): void;
}

/** A reference client: writes `parts` with `gapMs` between them, reads until the server closes. */
function ref(port: number, parts: string | string[], gapMs = 150): RefCall {
  const started = performance.now();
  let got = "";
  let sock: { end(): void } | undefined;
  let resolve!: (s: string) => void;
  const reply = new Promise<string>((r) => (resolve = r));
  Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      async open(s) {
        sock = s;
        const list = typeof parts === "string" ? [parts] : parts;
        for (const [i, p] of list.entries()) {
          if (i > 0) await Bun.sleep(gapMs);
          s.write(p);
        }
      },
      data(_s, d) {
        got += new TextDecoder().decode(d);
      },
      close() {
        resolve(got);
      },
      error() {
        resolve(got);
      },
      connectError() {
        resolve("<refused>");
      },
    },
  }).catch(() => resolve("<refused>"));
  return { reply, ms: reply.then(() => performance.now() - started), drop: () => sock?.end() };
}

const req = (id: string, action: string, dependencies: unknown) => JSON.stringify({ id, action, dependencies });

async function compatDaemon(groups = "", waitTimeout = "2s"): Promise<{ daemon: Daemon; port: number }> {
  const port = await freePort();
  box.writeConfig(groups, `[compat]\nlisten = "127.0.0.1:${port}"\nwait_timeout = "${waitTimeout}"\n`);
  return { daemon: await box.startDaemon(), port };
}

async function waiting(d: Daemon): Promise<number> {
  const st = await d.status();
  return (st.waiting as number) + ((st.compat?.waiting as number) ?? 0);
}

describe("reference clients and our hook calls in one configured group", () => {
  test("a split reference request and a hook call wait for each other through pre-dump and post-dump", async () => {
    box = new Sandbox();
    const { daemon, port } = await compatDaemon(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "10s"\n`);
    const server = { pid: box.spawnNamed("server"), images: box.imagesDir("server") };
    const hook = box.hook("pre-dump", server);
    await until(async () => (await waiting(daemon)) === 1, 10_000, "the hook call waiting");
    // The reference client's exact bytes, in three TCP writes 150 ms apart.
    const body = req("client", "pre-dump", "server");
    const client = ref(port, [body.slice(0, 9), body.slice(9, 30), body.slice(30)]);
    const [h, r] = await Promise.all([hook.done, client.reply]);
    expect(r).toBe("ACK");
    expect(h.code).toBe(0);
    expect(h.output).toContain("pair/server at pre-dump: released");

    const postClient = ref(port, req("client", "post-dump", "server"));
    await until(async () => (await waiting(daemon)) === 1, 10_000, "the reference post-dump waiting");
    const post = await box.hook("post-dump", server).done;
    expect(post.code).toBe(0);
    expect(await postClient.reply).toBe("ACK");
    const st = await daemon.status();
    expect(st.groups[0].operation).toMatchObject({ id: "pair#1", kind: "dump", phase: { state: "committed" } });
  }, 30_000);

  test("a reference client that never comes makes our hook fail at the group timeout", async () => {
    box = new Sandbox();
    await compatDaemon(`[[group]]\nname = "pair"\nmembers = ["server", "client"]\ntimeout = "800ms"\n`);
    const r = await box.hook("pre-dump", { pid: box.spawnNamed("server"), images: box.imagesDir("server") }).done;
    expect(r.code).toBe(1);
    expect(r.output).toContain("client (never arrived)");
  }, 30_000);
});

describe("implicit groups from declared dependencies", () => {
  test("the list form, a one-way wait, the timeout token and the kubescr map", async () => {
    box = new Sandbox();
    const { port } = await compatDaemon("", "1s");
    const a = ref(port, req("A", "pre-dump", ["B"]));
    await Bun.sleep(300);
    const b = ref(port, req("B", "pre-dump", ""));
    expect(await Promise.all([a.reply, b.reply])).toEqual(["ACK", "ACK"]);
    expect(await a.ms).toBeGreaterThan(250); // A waited for B

    const x = ref(port, req("X", "pre-dump", "Y"));
    expect(await x.reply).toBe("timeout");
    expect(await x.ms).toBeGreaterThan(900);

    const map = ref(port, JSON.stringify({ id: "kubescr", action: "add-dependencies", dependencies: { K1: ["K2"], K2: ["K1"] } }));
    expect(await map.reply).toBe("ACK");
    const k1 = ref(port, req("K1", "pre-dump", ""));
    await Bun.sleep(200);
    const k2 = ref(port, req("K2", "pre-dump", ""));
    expect(await Promise.all([k1.reply, k2.reply])).toEqual(["ACK", "ACK"]);
    expect(await k1.ms).toBeGreaterThan(150);
  }, 30_000);

  test("a dropped client aborts its round without poisoning later requests; a finished round never releases a later one", async () => {
    box = new Sandbox();
    const { daemon, port } = await compatDaemon("", "1500ms");
    const a = ref(port, req("A", "pre-dump", "B:C"));
    const c = ref(port, req("C", "pre-dump", "A"));
    await until(async () => (await waiting(daemon)) === 1, 5000, "A waiting"); // C passes at once: A is there
    expect(await c.reply).toBe("ACK");
    a.drop();
    await until(async () => (await waiting(daemon)) === 0, 5000, "A gone");
    // Later requests are served as usual.
    const round = ["A", "B", "C"].map((id) => ref(port, req(id, "pre-dump", ["A", "B", "C"].filter((x) => x !== id))));
    expect(await Promise.all(round.map((r) => r.reply))).toEqual(["ACK", "ACK", "ACK"]);
    // A starts again alone: the previous round's pre-dumps of B and C do not count.
    const again = ref(port, req("A", "pre-dump", "B:C"));
    expect(await again.reply).toBe("timeout");
  }, 30_000);

  test("network-unlock after a dump's post-dump answers at once instead of stalling for the wait timeout", async () => {
    box = new Sandbox();
    const { port } = await compatDaemon("", "5s");
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      const both = [ref(port, req("A", hook, "B")), ref(port, req("B", hook, "A"))];
      expect(await Promise.all(both.map((r) => r.reply))).toEqual(["ACK", "ACK"]);
    }
    const unlock = ref(port, req("A", "network-unlock", "B"));
    expect(await unlock.reply).toBe("ACK");
    expect(await unlock.ms).toBeLessThan(1000);
    // A hook after the round without its start: the reference's "not connected".
    expect(await ref(port, req("Q", "post-dump", "")).reply).toBe("not connected");
  }, 30_000);

  test("bad input gets an answer on its own connection and never stops the daemon", async () => {
    box = new Sandbox();
    const { daemon, port } = await compatDaemon();
    expect(await ref(port, "hello").reply).toBe("bad request");
    const half = ref(port, `{"id":"A","action":`);
    await Bun.sleep(100);
    half.drop(); // an incomplete request that goes away: nothing to answer, nothing to undo
    expect(await half.reply).toBe("");
    expect(await ref(port, `{"id":"A","action":"pre-dump","dependencies":"${"x".repeat(140_000)}"}`).reply).toBe("bad request");
    expect(await ref(port, req("A", "pre-dumpp", "")).reply).toBe("unknown action");
    expect(await ref(port, JSON.stringify({ action: "pre-dump", dependencies: "" })).reply).toBe("bad request");
    expect(await ref(port, req("A", "pre-stream", "")).reply).toBe("ACK");
    expect((await daemon.status()).pid).toBe(daemon.proc.pid);
  }, 30_000);
});

describe("the reference's JSON configs in the action-script", () => {
  test("a per-process file (list form, port from the global file) joins a reference client's barrier", async () => {
    box = new Sandbox();
    const { port } = await compatDaemon("", "5s");
    const global = join(box.dir, "global.json");
    writeFileSync(global, JSON.stringify({ address: "127.0.0.1", port: String(port), dependencies: {} }));
    const images = box.imagesDir("A");
    writeFileSync(join(images, "criu-coordinator.json"), JSON.stringify({ id: "A", dependencies: ["B"] }));
    const env = { CRIU_COORDINATOR_LEGACY_CONFIG: global };
    const hook = box.hook("pre-dump", { pid: box.spawnNamed("whatever"), images, env });
    await Bun.sleep(300);
    expect(hook.finished).toBe(false);
    expect(await ref(port, req("B", "pre-dump", "")).reply).toBe("ACK");
    const r = await hook.done;
    expect(r.code).toBe(0);
    expect(r.output).toContain(`A at pre-dump (reference protocol, 127.0.0.1:${port}): ACK`);
  }, 30_000);

  test("the global map: detection by process name, the identity file for restore, ambiguous prefixes", async () => {
    box = new Sandbox();
    const { daemon, port } = await compatDaemon("", "5s");
    const global = join(box.dir, "global.json");
    writeFileSync(global, JSON.stringify({ port, dependencies: { "loop-1": "loop-2", "loop-2": ["loop-1"] } }));
    const env = { CRIU_COORDINATOR_LEGACY_CONFIG: global };
    const p1 = { pid: box.spawnNamed("loop-1"), images: box.imagesDir("loop-1"), env };
    const p2 = { pid: box.spawnNamed("loop-2"), images: box.imagesDir("loop-2"), env };
    for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
      const rs = await Promise.all([box.hook(hook, p1).done, box.hook(hook, p2).done]);
      expect(rs.map((r) => r.code)).toEqual([0, 0]);
    }
    expect(readFileSync(join(p1.images, "criu-coordinator.json"), "utf8")).toBe(`{\n   "id": "loop-1",\n   "dependencies": "loop-2"\n}`);
    // Restore: no CRTOOLS_INIT_PID; the id comes from the images, the port still from the global file.
    for (const hook of ["pre-restore", "post-restore", "network-unlock", "post-resume"]) {
      const rs = await Promise.all([box.hook(hook, { images: p1.images, env }).done, box.hook(hook, { images: p2.images, env }).done]);
      expect({ hook, codes: rs.map((r) => r.code) }).toEqual({ hook, codes: [0, 0] });
    }
    const st = await daemon.status();
    expect(st.compat.groups[0]).toMatchObject({ members: ["loop-1", "loop-2"], operation: { kind: "restore", phase: { state: "committed" } } });

    // A process the map does not name is not coordinated; two matching prefixes are an error.
    const other = await box.hook("pre-dump", { pid: box.spawnNamed("unrelated"), images: box.imagesDir("u"), env }).done;
    expect(other.code).toBe(0);
    expect(existsSync(join(box.imagesDir("u"), "criu-coordinator.json"))).toBe(false);
    writeFileSync(global, JSON.stringify({ port, dependencies: { loop: [], "loop-": [] } }));
    const amb = await box.hook("pre-dump", { pid: p1.pid, images: box.imagesDir("amb"), env }).done;
    expect(amb.code).toBe(1);
    expect(amb.output).toContain(`"loop-1" matches several dependency keys (loop, loop-)`);
  }, 60_000);

  test('an unreachable coordinator fails the hook, unless [hook] unreachable = "skip"', async () => {
    box = new Sandbox();
    const port = await freePort();
    const images = box.imagesDir("A");
    writeFileSync(join(images, "criu-coordinator.json"), JSON.stringify({ id: "A", dependencies: "B", port }));
    const env = { CRIU_COORDINATOR_LEGACY_CONFIG: join(box.dir, "none.json") };
    box.writeConfig("", `[compat]\nlisten = "127.0.0.1:${port}"\nwait_timeout = "600ms"\n`);
    const failed = await box.hook("pre-dump", { pid: box.spawnNamed("a"), images, env }).done;
    expect(failed.code).toBe(1);
    expect(failed.output).toContain("coordinator unreachable for 0.6s");
    box.writeConfig("", `[hook]\nunreachable = "skip"\n`);
    const skipped = await box.hook("pre-dump", { pid: box.spawnNamed("a"), images, env }).done;
    expect(skipped.code).toBe(0);
    expect(skipped.output).toContain("going on uncoordinated");
  }, 30_000);
});

describe("the reference's command forms", () => {
  test("server -a -p -w -o and client/c --address --port -i -d -a", async () => {
    box = new Sandbox();
    const port = await freePort();
    const logFile = join(box.dir, "server.log");
    const env = { ...process.env, CRIU_COORDINATOR_CONFIG: join(box.dir, "none.toml"), NO_COLOR: "1" };
    const server = Bun.spawn([ensureBinary(), "server", "-a", "127.0.0.1", "-p", String(port), "-w", "1", "-o", logFile], { env, stdout: "pipe", stderr: "pipe" });
    box.procs.push(server);
    await until(async () => (await ref(port, req("probe", "pre-stream", "")).reply) === "ACK", 10_000, "the server listening");
    const client = (...args: string[]) => {
      const p = Bun.spawn([ensureBinary(), ...args], { env, stdout: "pipe", stderr: "pipe" });
      return Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]).then(([code, out, err]) => ({ code, out, err }));
    };
    const a = client("client", "--address", "127.0.0.1", "--port", String(port), "-i", "A", "-d", "B", "-a", "pre-dump");
    await Bun.sleep(200);
    const b = client("c", "--port", String(port), "-i", "B", "-d", "", "-D", box.dir, "-o", "client.log");
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toMatchObject({ code: 0 });
    expect(ra.out).toContain("ACK");
    expect(rb).toMatchObject({ code: 0, out: "ACK\n" });
    expect(readFileSync(join(box.dir, "client.log"), "utf8")).toBe("INFO - B at pre-dump: ACK\n");
    const x = await client("c", "--port", String(port), "-i", "X", "-d", "Y");
    expect(x.code).toBe(1);
    expect(x.out).toContain("timeout");
    expect(readFileSync(logFile, "utf8")).toContain("INFO - reference protocol (criu-coordinator compatible) on 127.0.0.1:");
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const refused = await client("client", "--port", String(port), "-i", "A", "-d", "");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("ECONNREFUSED");
  }, 30_000);
});
