/**
 * The real binary, federated: one `criu-coordinator daemon` per network namespace (a bridge joins
 * them), real hook processes on each node talking to their node's daemon, peers authenticated with
 * a cluster key. Needs root and iproute2 (npm test installs iproute2).
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureBinary, Sandbox, until } from "../support/binary.ts";
import { canUseNetns, Lab } from "./netns.ts";

const NETNS = canUseNetns();
if (!NETNS) console.warn("!! SKIPPING test/cluster/daemons.test.ts: needs root and `ip netns` (iproute2)");

let lab: Lab | undefined;
let box: Sandbox | undefined;
const daemons: Subprocess[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.kill("SIGKILL");
  lab?.destroy();
  box?.cleanup();
  lab = undefined;
  box = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

interface Node {
  name: string;
  config: string;
  socket: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  log: () => string;
}

const MEMBERS = ["alpha", "bravo", "charlie"];

/** Three nodes, one member each (alpha on n1, …), daemons started in their namespaces. */
async function threeNodes(timeout = "10s"): Promise<Node[]> {
  lab = new Lab();
  box = new Sandbox();
  const addrs = lab.build(3);
  const keyFile = join(box.dir, "cluster.key");
  writeFileSync(keyFile, `${lab.key}\n`, { mode: 0o600 });
  const nodes: Node[] = [];
  for (let i = 1; i <= 3; i++) {
    const socket = join(box.dir, `n${i}.sock`);
    const config = join(box.dir, `n${i}.toml`);
    const peers = addrs.filter((_, j) => j !== i - 1).map((a) => `"${a}"`).join(", ");
    writeFileSync(
      config,
      `[daemon]\nsocket = "${socket}"\nlog_level = "debug"\n\n[cluster]\nnode = "n${i}"\nlisten = "${addrs[i - 1]}"\npeers = [${peers}]\nkey_file = "${keyFile}"\n\n[[group]]\nname = "trio"\nmembers = [${MEMBERS.map((m) => `"${m}"`).join(", ")}]\ntimeout = "${timeout}"\n`,
    );
    const proc = Bun.spawn(["nsenter", `--net=/run/netns/${lab.ns(i)}`, ensureBinary(), "daemon", "--config", config], { stdout: "pipe", stderr: "pipe" });
    daemons.push(proc);
    let text = "";
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) text += new TextDecoder().decode(c);
    };
    void collect(proc.stdout);
    void collect(proc.stderr);
    nodes.push({ name: `n${i}`, config, socket, proc, log: () => text });
  }
  // Wait until every daemon sees all three nodes alive.
  for (const n of nodes) {
    await until(async () => {
      const st = await status(n).catch(() => null);
      return st?.cluster?.nodes?.filter((x: { state: string }) => x.state === "alive").length === 3;
    }, 20_000, `${n.name} to see the whole cluster; log:\n${n.log()}`);
  }
  return nodes;
}

async function status(n: Node): Promise<any> {
  const r = Bun.spawn([ensureBinary(), "status", "--json", "--socket", n.socket], { stdout: "pipe", stderr: "pipe" });
  const [code, out] = await Promise.all([r.exited, new Response(r.stdout).text()]);
  if (code !== 0) throw new Error(`status of ${n.name} exited ${code}`);
  return JSON.parse(out);
}

/** A hook call of `member` on node `n`, as CRIU runs it there. */
function hook(n: Node, member: string, action: string, pid: number | undefined, images: string) {
  return box!.hook(action, { images, ...(pid ? { pid } : {}), env: { CRIU_COORDINATOR_CONFIG: n.config } });
}

describe.skipIf(!NETNS)("federated daemons in network namespaces", () => {
  test("a group with members on three nodes passes every dump and restore barrier in order", async () => {
    const nodes = await threeNodes();
    const pids = MEMBERS.map((m) => box!.spawnNamed(m));
    const images = MEMBERS.map((m) => box!.imagesDir(m));
    const run = async (action: string, withPid: boolean) => {
      // alpha and bravo first: they must wait for charlie on the third node.
      const first = [0, 1].map((i) => hook(nodes[i]!, MEMBERS[i]!, action, withPid ? pids[i] : undefined, images[i]!));
      if (action !== "pre-resume") {
        await until(async () => (await status(nodes[0]!)).waiting === 1 && (await status(nodes[1]!)).waiting === 1, 10_000, `alpha and bravo waiting at ${action}`);
        expect(first.map((h) => h.finished)).toEqual([false, false]);
      }
      const third = hook(nodes[2]!, MEMBERS[2]!, action, withPid ? pids[2] : undefined, images[2]!);
      const results = await Promise.all([...first, third].map((h) => h.done));
      for (const [i, r] of results.entries()) expect({ action, member: MEMBERS[i], code: r.code }).toEqual({ action, member: MEMBERS[i], code: 0 });
      return results;
    };
    for (const action of ["pre-dump", "network-lock", "post-dump"]) await run(action, true);
    for (const n of nodes) expect((await status(n)).groups[0].operation).toMatchObject({ id: "trio#1", kind: "dump", phase: { state: "committed" } });
    for (const action of ["pre-restore", "post-restore"]) await run(action, false);
    for (const n of nodes) expect((await status(n)).groups[0].operation).toMatchObject({ id: "trio#2", kind: "restore", phase: { state: "committed" } });
    const st = await status(nodes[0]!);
    expect(st.groups[0].operation.participants.map((p: { name: string; node: string }) => `${p.name}@${p.node}`)).toEqual(["alpha@n1", "bravo@n2", "charlie@n3"]);
  }, 90_000);

  test("killing one node's daemon mid-barrier makes every other node's waiting calls fail within the timeout", async () => {
    const nodes = await threeNodes("10s");
    const pids = MEMBERS.map((m) => box!.spawnNamed(m));
    const images = MEMBERS.map((m) => box!.imagesDir(m));
    // Everyone passes pre-dump; alpha and bravo wait at post-dump; charlie's node dies.
    await Promise.all(MEMBERS.map((m, i) => hook(nodes[i]!, m, "pre-dump", pids[i], images[i]!).done));
    const waiting = [0, 1].map((i) => hook(nodes[i]!, MEMBERS[i]!, "post-dump", pids[i], images[i]!));
    await until(async () => (await status(nodes[0]!)).waiting === 1 && (await status(nodes[1]!)).waiting === 1, 10_000, "two post-dump calls waiting");
    const t0 = performance.now();
    nodes[2]!.proc.kill("SIGKILL");
    const results = await Promise.all(waiting.map((h) => h.done));
    const ms = performance.now() - t0;
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/n3|charlie/);
    }
    console.log(`waiting post-dump calls failed ${Math.round(ms)} ms after node n3's daemon was killed`);
    expect(ms).toBeLessThan(10_000);
  }, 90_000);
});

describe("cluster configuration", () => {
  test("a daemon with [cluster] and no key file refuses to start with a clear message", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "g"\nmembers = ["a"]\n`, `[cluster]\nnode = "x"\nlisten = "127.0.0.1:17946"\npeers = ["127.0.0.1:17947"]\n`);
    const r = Bun.spawnSync([ensureBinary(), "daemon", "--config", box.configFile], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString() + r.stdout.toString()).toContain("cluster.key_file is not: peer traffic must be authenticated");
  });

  test("keygen writes a key file once and refuses to overwrite it", () => {
    box = new Sandbox();
    const f = join(box.dir, "k");
    const a = Bun.spawnSync([ensureBinary(), "keygen", "-o", f], { stdout: "pipe" });
    expect(a.exitCode).toBe(0);
    expect(Bun.spawnSync([ensureBinary(), "keygen", "-o", f], { stderr: "pipe" }).exitCode).toBe(1);
    const printed = Bun.spawnSync([ensureBinary(), "keygen"], { stdout: "pipe" }).stdout.toString().trim();
    expect(Buffer.from(printed, "base64").length).toBe(32);
  });
});
