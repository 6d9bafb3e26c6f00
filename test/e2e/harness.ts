/**
 * End-to-end harness: real CRIU, real network namespaces. A `Lab` owns everything one test
 * creates (temp dir, node pairs, workloads) and `cleanup()` removes all of it; call it from
 * afterEach. Namespaces left by a crashed run are swept when the next Lab is created, and this
 * run's namespaces are also removed from a process exit handler.
 *
 * Set E2E_KEEP=1 to keep the temp dirs (images, CRIU logs, workload logs) for inspection.
 */
import { test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoordinatorDaemon, type DaemonStartOptions, ensureBinary } from "./support/coordinator.ts";
import { criuBinary } from "./support/criu.ts";
import { createNodePair, destroyNetns, listOurNetns, type Node, NETNS_PREFIX, sweepStaleNetns } from "./support/netns.ts";
import { mustRun, processesUnder, run, runSync, signal, waitFor } from "./support/proc.ts";
import { readTcpLog, type TcpNode } from "./support/tcp-log.ts";
import { startInNode, type Workload } from "./support/workload.ts";

export * from "./support/coordinator.ts";
export * from "./support/criu.ts";
export * from "./support/expect.ts";
export * from "./support/federation.ts";
export * from "./support/netns.ts";
export * from "./support/proc.ts";
export * from "./support/scenario.ts";
export * from "./support/tcp-log.ts";
export * from "./support/workload.ts";

/** Directory of the test workloads and scripts. */
export const PROGRAMS = join(import.meta.dir, "programs");
/** The hook logger action-script (see its header for HOOK_LOG / HOOK_FAIL_AT). */
export const LOG_HOOK = join(PROGRAMS, "log-hook.sh");

/**
 * Why the e2e tests cannot run here, or null if they can: needs root, CRIU >= 4.2 passing
 * `criu check`, ip, iptables, nsenter and /usr/bin/python3.
 */
export async function e2eSkipReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return "not running as root (network namespaces and CRIU need it)";
  for (const tool of ["ip", "iptables", "nsenter", "setsid"]) {
    if (!Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) return `${tool} is not installed`;
  }
  if (!(await Bun.file("/usr/bin/python3").exists())) return "/usr/bin/python3 is missing (tcp-node.py)";
  const criu = criuBinary();
  if (!criu) return "criu is not installed: run scripts/install-criu.sh";
  const ver = await run([criu, "--version"]);
  const m = /Version: (\d+)\.(\d+)/.exec(ver.stdout);
  if (!m || Number(m[1]) * 100 + Number(m[2]) < 402) {
    return `${criu} is not CRIU >= 4.2 (${ver.stdout.trim() || ver.stderr.trim()}): run scripts/install-criu.sh`;
  }
  const check = await run([criu, "check"]);
  if (check.code !== 0) return `'${criu} check' fails: ${check.stderr.trim().split("\n").at(-1)}`;
  return null;
}

/** Why the coordinated e2e tests cannot run: e2eSkipReason(), or dist/criu-coordinator cannot be built. */
/**
 * `test`, or `test.skip` with a loud warning naming `file` when real CRIU with the coordinator can
 * not run here (npm test installs what is missing, so CI never skips).
 */
export async function coordinatedTest(file: string): Promise<typeof test> {
  const reason = await coordinatedSkipReason();
  if (reason) console.warn(`!! SKIPPING the CRIU tests of ${file}: ${reason}`);
  return test.skipIf(reason !== null);
}

export async function coordinatedSkipReason(): Promise<string | null> {
  const reason = await e2eSkipReason();
  if (reason) return reason;
  try {
    ensureBinary();
    return null;
  } catch (e) {
    return `cannot build dist/criu-coordinator: ${(e as Error).message}`;
  }
}

const liveNetns = new Set<string>();
process.on("exit", () => {
  for (const name of liveNetns) destroyNetns(name);
});

/** Everything one test creates; `cleanup()` undoes it. */
export class Lab {
  readonly dir: string;
  readonly #netns: string[] = [];
  readonly #daemons: CoordinatorDaemon[] = [];
  readonly #mounts: string[] = [];
  #programsDir: string | null = null;

  constructor(name: string) {
    const swept = sweepStaleNetns();
    if (swept.length) console.warn(`e2e: removed ${swept.length} namespaces left by dead runs: ${swept.join(" ")}`);
    this.dir = mkdtempSync(join(tmpdir(), `${NETNS_PREFIX}${name}-`));
  }

  /** Two nodes (netns) joined by a veth pair. */
  async nodePair(): Promise<[Node, Node]> {
    const pair = await createNodePair();
    for (const n of pair) {
      this.#netns.push(n.netns);
      liveNetns.add(n.netns);
    }
    return pair;
  }

  /** A fresh directory under the lab dir. */
  path(...parts: string[]): string {
    const p = join(this.dir, ...parts);
    mkdirSync(p, { recursive: true });
    return p;
  }

  /**
   * Starts a coordinator daemon whose config has the `[daemon]` section plus `groupsToml`;
   * `opts.netnsPath` runs it inside a node (see federate() for one daemon per node).
   */
  async coordinator(groupsToml: string, opts: DaemonStartOptions = {}): Promise<CoordinatorDaemon> {
    const d = await CoordinatorDaemon.start(this.path(`coord-${this.#daemons.length}`), groupsToml, opts);
    this.#daemons.push(d);
    return d;
  }

  /** A directory on its own tmpfs of `sizeKiB`: writing more fails with ENOSPC. */
  async smallFs(name: string, sizeKiB: number): Promise<string> {
    const dir = this.path(name);
    await mustRun(["mount", "-t", "tmpfs", "-o", `size=${sizeKiB}k,mode=0755`, `cce2e-${name}`, dir]);
    this.#mounts.push(dir);
    return dir;
  }

  /** Starts `argv` inside `node` (see startInNode). */
  async start(node: Node, argv: string[], env?: Record<string, string>): Promise<Workload> {
    return (await startInNode(node, argv, { env })).workload;
  }

  /**
   * Starts tcp-node.py as a server in `server` and a client in `client`, and waits until both are
   * connected. The processes' comm is `names.server` / `names.client` (a symlink of that name
   * runs the script), which is what a coordinator group lists as members.
   */
  async tcpPair(
    server: Node,
    client: Node,
    opts: { port?: number; intervalMs?: number; names?: { server: string; client: string } } = {},
  ): Promise<{ server: TcpNode; client: TcpNode }> {
    const names = opts.names ?? { server: "tcp-server", client: "tcp-client" };
    const port = String(opts.port ?? 7000);
    const common = ["--port", port, "--interval-ms", String(opts.intervalMs ?? 5)];
    const s = await this.#tcpNode(server, names.server, ["server", "--host", server.addr, ...common]);
    const c = await this.#tcpNode(client, names.client, ["client", "--host", server.addr, ...common]);
    await waitFor("both TCP nodes to connect and exchange data", () => {
      const [ls, lc] = [s.log(), c.log()];
      return ls.connected && lc.connected && (ls.progress.at(-1)?.rx ?? -1) > 10 && (lc.progress.at(-1)?.rx ?? -1) > 10;
    }, { timeoutMs: 10_000, state: () => `server: ${JSON.stringify(s.log())} client: ${JSON.stringify(c.log())}` });
    return { server: s, client: c };
  }

  async #tcpNode(node: Node, name: string, args: string[]): Promise<TcpNode> {
    if (!this.#programsDir) this.#programsDir = this.path("bin");
    const exe = join(this.#programsDir, name);
    symlinkSync(join(PROGRAMS, "tcp-node.py"), exe);
    const logPath = join(this.dir, `${name}.log`);
    const w = await this.start(node, [exe, ...args, "--name", name, "--log", logPath]);
    return { ...w, logPath, log: () => readTcpLog(logPath) };
  }

  /** Kills everything in this lab's nodes, deletes the nodes and (unless E2E_KEEP=1) the temp dir. */
  async cleanup(): Promise<void> {
    for (const d of this.#daemons) await d.stop();
    for (const m of this.#mounts) runSync(["umount", "-l", m]);
    // Workloads are killed by scanning each node's netns (destroyNetns), which also catches
    // restored copies; killing remembered PIDs could hit an unrelated process that reused one.
    for (const name of this.#netns) {
      destroyNetns(name);
      liveNetns.delete(name);
    }
    // A CRIU run or hook call a failed test left behind (they all mention the lab dir).
    for (const p of processesUnder(this.dir)) signal(p.pid, "SIGKILL");
    const left = listOurNetns().filter((n) => this.#netns.includes(n));
    if (process.env.E2E_KEEP === "1") console.warn(`e2e: kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
    if (left.length) throw new Error(`Cleanup left namespaces behind: ${left.join(" ")}`);
  }
}
