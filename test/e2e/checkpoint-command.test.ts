/**
 * `criu-coordinator checkpoint` and `restore` across two nodes: one real daemon per network
 * namespace (federated by gossip over a bridge, as in test/cluster/daemons.test.ts), a TCP pair
 * (tcp-node.py) with one side on each node, real CRIU run by the daemons themselves. One command
 * checkpoints both sides, one restores them, and the stream goes on; with one node's daemon gone
 * the checkpoint is refused before anything is frozen.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureBinary } from "../support/binary.ts";
import { EtcdServer, etcdMissing } from "../cluster/etcd-server.ts";
import { Lab as ClusterLab } from "../cluster/netns.ts";
import { e2eSkipReason, PROGRAMS } from "./harness.ts";
import { expectHealthy, waitStreamGrows } from "./support/expect.ts";
import { destroyNetns, type Node } from "./support/netns.ts";
import { isRunning, nsInode, run, waitFor } from "./support/proc.ts";
import { lastProgress, readTcpLog, type TcpNode } from "./support/tcp-log.ts";
import { startInNode } from "./support/workload.ts";

const skipReason = await e2eSkipReason();
if (skipReason) console.warn(`SKIPPING checkpoint command e2e tests: ${skipReason}`);
const e2e = test.skipIf(skipReason !== null);
const TEST_TIMEOUT_MS = 90_000;

interface Daemon {
  name: string;
  config: string;
  ops: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  log: () => string;
}

let lab: ClusterLab | undefined;
let dir: string | undefined;
let daemons: Daemon[] = [];
let etcd: EtcdServer | undefined;
afterEach(async () => {
  await etcd?.destroy();
  etcd = undefined;
  for (const d of daemons) d.proc.kill("SIGKILL");
  // Kills every workload and restored copy inside the nodes, then removes them.
  for (const ns of lab?.namespaces ?? []) destroyNetns(ns);
  lab?.destroy();
  if (dir && process.env.E2E_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  lab = undefined;
  dir = undefined;
  daemons = [];
});
beforeAll(() => void (skipReason ? undefined : ensureBinary()), 120_000);

const BIN = () => ensureBinary();

type Federation = "gossip" | "etcd";
const ETCD_MISSING = etcdMissing();
if (ETCD_MISSING) console.warn(`!! SKIPPING the etcd variants of checkpoint-command.test.ts: ${ETCD_MISSING}`);
const e2eEtcd = test.skipIf(skipReason !== null || ETCD_MISSING !== undefined);

/** Two nodes on a bridge, a daemon in each, and the TCP pair: server on n1, client on n2. */
async function setUp(federation: Federation = "gossip"): Promise<{ server: TcpNode; client: TcpNode }> {
  await startNodes(`[[group]]\nname = "pair"\nmembers = ["tcp-server", "tcp-client"]\ntimeout = "10s"\n`, federation);
  const node = (i: number): Node => {
    const ns = lab!.ns(i);
    return { label: `n${i}`, netns: ns, netnsPath: `/run/netns/${ns}`, inode: nsInode(`/run/netns/${ns}`)!, addr: `${lab!.subnet}.${i}` };
  };
  const tcp = async (i: number, name: string, args: string[]): Promise<TcpNode> => {
    const exe = join(dir!, name);
    symlinkSync(join(PROGRAMS, "tcp-node.py"), exe);
    const logPath = join(dir!, `${name}.log`);
    const { workload } = await startInNode(node(i), [exe, ...args, "--port", "7000", "--interval-ms", "5", "--name", name, "--log", logPath]);
    return { ...workload, logPath, log: () => readTcpLog(logPath) };
  };
  const server = await tcp(1, "tcp-server", ["server", "--host", node(1).addr]);
  const client = await tcp(2, "tcp-client", ["client", "--host", node(1).addr]);
  await waitFor("both TCP nodes to exchange data", () => [server, client].every((n) => lastProgress(n.log()).rx > 10), { timeoutMs: 10_000 });
  return { server, client };
}

/**
 * Two nodes on a bridge and a federated daemon in each, configured with `groupsToml`; with etcd,
 * a third namespace on the bridge runs the etcd server both daemons use.
 */
async function startNodes(groupsToml: string, federation: Federation = "gossip"): Promise<void> {
  lab = new ClusterLab();
  dir = mkdtempSync(join(tmpdir(), "cce2e-ckpt-"));
  const addrs = lab.build(federation === "etcd" ? 3 : 2);
  if (federation === "etcd") etcd = await new EtcdServer(addrs[2]!.split(":")[0]!, lab.ns(3)).start();
  const keyFile = join(dir, "cluster.key");
  writeFileSync(keyFile, `${lab.key}\n`, { mode: 0o600 });
  for (let i = 1; i <= 2; i++) {
    const config = join(dir, `n${i}.toml`);
    const ops = join(dir, `ops-n${i}`);
    const peers = addrs.slice(0, 2).filter((_, j) => j !== i - 1).map((a) => `"${a}"`).join(", ");
    const federationToml = etcd
      ? `[backend]\nkind = "etcd"\nendpoints = ["${etcd.clientUrl}"]\nprefix = "/cce2e"\nlease_ttl = "2s"\n\n[cluster]\nnode = "n${i}"\n`
      : `[cluster]\nnode = "n${i}"\nlisten = "${addrs[i - 1]}"\npeers = [${peers}]\nkey_file = "${keyFile}"\n`;
    writeFileSync(config, `[daemon]\nsocket = "${join(dir, `n${i}.sock`)}"\nlog_level = "debug"\n\n${federationToml}\n${groupsToml}`);
    const proc = Bun.spawn(["nsenter", `--net=/run/netns/${lab.ns(i)}`, BIN(), "daemon", "--config", config], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", CRIU_COORDINATOR_OPERATIONS_DIR: ops },
    });
    let text = "";
    for (const s of [proc.stdout, proc.stderr]) void (async () => { for await (const c of s) text += new TextDecoder().decode(c); })();
    daemons.push({ name: `n${i}`, config, ops, proc, log: () => text });
  }
  for (const d of daemons) {
    await waitFor(`${d.name} to see both nodes alive`, async () => {
      const r = await run([BIN(), "status", "--json", "--config", d.config]);
      return r.code === 0 && JSON.parse(r.stdout).cluster?.nodes?.filter((n: { state: string }) => n.state === "alive").length === 2;
    }, { timeoutMs: 20_000, everyMs: 200, state: d.log });
  }
}

async function cli(d: Daemon, ...args: string[]) {
  const r = await run([BIN(), ...args, "--config", d.config], { ...process.env, NO_COLOR: "1" });
  return { ...r, out: r.stdout + r.stderr };
}

describe("checkpoint and restore commands (two nodes)", () => {
  for (const federation of ["gossip", "etcd"] as const) (federation === "etcd" ? e2eEtcd : e2e)(`${federation}: one checkpoint command dumps both sides on their nodes, one restore command brings them back: the TCP stream continues`, async () => {
    const { server, client } = await setUp(federation);
    const [n1, n2] = daemons as [Daemon, Daemon];
    const ck = await cli(n1, "checkpoint", "pair");
    console.log(`checkpoint: exit ${ck.code} after ${ck.ms.toFixed(0)} ms\n${ck.out}`);
    expect(ck.code, `${ck.out}\n${n1.log()}\n${n2.log()}`).toBe(0);
    expect(ck.out).toContain("tcp-server on n1: done");
    expect(ck.out).toContain("tcp-client on n2: done");
    const id = /Checkpoint (\S+) of group "pair"/.exec(ck.out)![1]!;
    expect(ck.out).toContain(`n1:${join(n1.ops, id, "tcp-server")}`);
    expect(ck.out).toContain(`n2:${join(n2.ops, id, "tcp-client")}`);
    for (const w of [server, client]) await waitFor(`${w.comm} to be gone after the dump`, () => !isRunning(w.pid), { timeoutMs: 3_000 });
    const atDump = [server, client].map((w) => lastProgress(w.log()).rx);

    const rs = await cli(n2, "restore", "pair");
    console.log(`restore: exit ${rs.code} after ${rs.ms.toFixed(0)} ms\n${rs.out}`);
    expect(rs.code, `${rs.out}\n${n1.log()}\n${n2.log()}`).toBe(0);
    expect(rs.out).toContain(`from ${id}`);
    await waitStreamGrows([server, client], atDump, 200, 20_000);
    for (const w of [server, client]) expectHealthy(w);

    const ls = await cli(n1, "operations", "pair", "--json");
    expect(ls.code).toBe(0);
    const copies = JSON.parse(ls.stdout).operations as { node: string; bytes: number; manifest: { id: string; outcome: string; restores: { outcome: string }[] } }[];
    expect(copies.map((c) => [c.node, c.manifest.id, c.manifest.outcome, c.manifest.restores.map((r) => r.outcome)]).sort()).toEqual([
      ["n1", id, "committed", ["committed"]],
      ["n2", id, "committed", ["committed"]],
    ]);
    for (const c of copies) expect(c.bytes).toBeGreaterThan(100_000);

    // Both sides run again: a second restore is refused, and says why.
    const again = await cli(n1, "restore", "pair");
    expect(again.code).toBe(1);
    expect(again.out).toContain("member tcp-server is running on node n1");
  }, TEST_TIMEOUT_MS);

  e2e("with one node's daemon gone, checkpoint is refused before anything is frozen and names the node", async () => {
    const { server, client } = await setUp();
    const [n1, n2] = daemons as [Daemon, Daemon];
    n2.proc.kill("SIGKILL");
    await n2.proc.exited;
    const ck = await cli(n1, "checkpoint", "pair");
    console.log(`checkpoint with n2 down: exit ${ck.code} after ${ck.ms.toFixed(0)} ms\n${ck.out}`);
    expect(ck.code).toBe(1);
    expect(ck.out).toContain("nothing was frozen");
    expect(ck.out).toMatch(/node n2 \(.*\) is unreachable/);
    expect(ck.ms).toBeLessThan(10_000);
    // Nothing ran: no images, both sides still running and connected.
    expect(existsSync(n1.ops)).toBe(false);
    expect(n1.log()).not.toContain("arrived at pre-dump");
    for (const w of [server, client]) expect(isRunning(w.pid)).toBe(true);
    await waitStreamGrows([server, client], [server, client].map((w) => lastProgress(w.log()).rx), 100, 10_000);
    for (const w of [server, client]) expectHealthy(w);
  }, TEST_TIMEOUT_MS);
});

describe("restore --on (two nodes)", () => {
  e2e("a member whose node is gone is restored on another node from shared images; without --on the restore is refused and says how", async () => {
    await startNodes(`[[group]]\nname = "duo"\nmembers = ["ck-alpha", "ck-bravo"]\ntimeout = "10s"\n`);
    const [n1, n2] = daemons as [Daemon, Daemon];
    // A session leader in each node's network namespace (CRIU dumps a session leader as is).
    const start = (i: number, name: string) => {
      copyFileSync("/bin/sleep", join(dir!, name));
      return Bun.spawn(["nsenter", `--net=/run/netns/${lab!.ns(i)}`, "setsid", join(dir!, name), "600"], { stdio: ["ignore", "ignore", "ignore"] });
    };
    const alpha = start(1, "ck-alpha");
    const bravo = start(2, "ck-bravo");
    await waitFor("both members to run under their names", () => [alpha, bravo].every((p) => isRunning(p.pid) && existsSync(`/proc/${p.pid}`)), { timeoutMs: 5_000 });
    const shared = join(dir!, "shared");
    const ck = await cli(n2, "checkpoint", "duo", "--dir", shared);
    console.log(`checkpoint onto shared storage: exit ${ck.code}\n${ck.out}`);
    expect(ck.code).toBe(0);
    await Promise.all([alpha.exited, bravo.exited]);

    // n1 goes away with its daemon; its member's images are on storage n2 reads.
    n1.proc.kill("SIGKILL");
    await n1.proc.exited;
    const refused = await cli(n2, "restore", "duo");
    console.log(`restore with n1 gone: exit ${refused.code}\n${refused.out}`);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain("nothing was started");
    expect(refused.out).toMatch(/node n1 \(.*\) is unreachable/);
    expect(refused.out).toContain("--on ck-alpha=NODE");

    const moved = await cli(n2, "restore", "duo", "--on", "ck-alpha=n2");
    console.log(`restore --on ck-alpha=n2: exit ${moved.code}\n${moved.out}`);
    expect(moved.code).toBe(0);
    expect(moved.out).toContain("ck-alpha on n2");
    // CRIU gave the restored processes their own pids back, in n2's network namespace.
    const n2net = nsInode(`/run/netns/${lab!.ns(2)}`);
    for (const p of [alpha, bravo]) {
      expect(isRunning(p.pid)).toBe(true);
      expect(nsInode(`/proc/${p.pid}/ns/net`)).toBe(n2net);
    }
    expect(n2.log()).toMatch(/restoring ck-alpha from .*shared\/ck-alpha/);
  }, TEST_TIMEOUT_MS);
});

describe("checkpoint command (one node)", () => {
  e2e("a member whose dump fails makes the checkpoint fail, the other member resumes, and restore refuses the images with the reason", async () => {
    dir = mkdtempSync(join(tmpdir(), "cce2e-ckpt-"));
    const config = join(dir, "c.toml");
    const ops = join(dir, "ops");
    writeFileSync(config, `[daemon]\nsocket = "${join(dir, "d.sock")}"\n\n[[group]]\nname = "duo"\nmembers = ["ck-alpha", "ck-bravo"]\ntimeout = "10s"\n`);
    const proc = Bun.spawn([BIN(), "daemon", "--config", config], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, CRIU_COORDINATOR_OPERATIONS_DIR: ops } });
    let text = "";
    for (const s of [proc.stdout, proc.stderr]) void (async () => { for await (const c of s) text += new TextDecoder().decode(c); })();
    const d: Daemon = { name: "local", config, ops, proc, log: () => text };
    daemons.push(d);
    for (const name of ["ck-alpha", "ck-bravo"]) copyFileSync("/bin/sleep", join(dir, name));
    // ck-alpha is a session leader; ck-bravo shares the test runner's session, which CRIU
    // refuses to dump without --shell-job: its dump fails before anything is frozen.
    const alpha = Bun.spawn(["setsid", join(dir, "ck-alpha"), "600"], { stdio: ["ignore", "ignore", "ignore"] });
    const bravo = Bun.spawn([join(dir, "ck-bravo"), "600"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      await waitFor("the daemon", async () => (await run([BIN(), "status", "--config", config])).code === 0, { timeoutMs: 10_000 });
      const ck = await cli(d, "checkpoint", "duo");
      console.log(`failing checkpoint: exit ${ck.code} after ${ck.ms.toFixed(0)} ms\n${ck.out}`);
      expect(ck.code).toBe(1);
      expect(ck.out).toMatch(/ck-bravo on local: failed: /);
      expect(ck.ms).toBeLessThan(15_000);
      for (const p of [alpha, bravo]) expect(isRunning(p.pid)).toBe(true);

      const ls = await cli(d, "operations", "--json");
      const [copy] = JSON.parse(ls.stdout).operations as { manifest: { id: string; outcome: string; reason: string } }[];
      expect(copy?.manifest.outcome).toBe("failed");
      expect(copy?.manifest.reason).toContain("ck-bravo on local");

      alpha.kill("SIGKILL");
      bravo.kill("SIGKILL");
      await Promise.all([alpha.exited, bravo.exited]);
      const rs = await cli(d, "restore", "duo");
      console.log(`restore of the failed checkpoint: exit ${rs.code}\n${rs.out}`);
      expect(rs.code).toBe(1);
      expect(rs.out).toContain("the checkpoint did not commit everywhere: ");
      // CRIU's own words for the refusal depend on the runner's session (a session leader in
      // another pid namespace under CI, "the root process" elsewhere); what matters is that
      // restore quotes the reason the checkpoint recorded.
      expect(rs.out).toContain(copy!.manifest.reason);
      expect(rs.out).toMatch(/ck-bravo on local: Error \(criu\//);
      expect(isRunning(alpha.pid)).toBe(false);
    } finally {
      alpha.kill("SIGKILL");
      bravo.kill("SIGKILL");
    }
  }, TEST_TIMEOUT_MS);
});
