/**
 * Two Podman containers (runc) with a TCP connection between them, checkpointed and restored with
 * `podman container checkpoint/restore --tcp-established`, the coordinator wired in the way an
 * operator does it: through CRIU's configuration file, not a command-line flag.
 *
 * Verified on this machine (runc 1.1.5, CRIU 4.2.1, podman 4.3.1):
 * - runc runs CRIU in RPC mode (`criu swrk`) and tells it to read `/etc/criu/runc.conf`
 *   (runc's docs/checkpoint-restore.md; the path is in /usr/sbin/runc). CRIU 4.2 runs the
 *   `action-script` of that file in RPC mode too, after runc's own RPC notification
 *   (criu/action-scripts.c: "Enable scripts from config file in RPC mode").
 * - The action-script does NOT inherit the environment of `podman container checkpoint`
 *   (measured: CRIU_COORDINATOR_CONFIG unset in every hook). A real node uses the default
 *   /etc/criu-coordinator/config.toml; this test must not touch that shared file, so runc.conf
 *   names a two-line wrapper in the lab dir that sets CRIU_COORDINATOR_CONFIG and execs the binary.
 * - The identities come from cgroups: CRTOOLS_INIT_PID is the container's init, whose
 *   /proc/<pid>/cgroup holds the container ID, and podman's state gives its name; the group's
 *   members are the container names.
 * - `podman container checkpoint A B` checkpoints one container after the other, so a group
 *   barrier at pre-dump would wait for the second until the timeout: each container gets its own
 *   podman command, run at the same time (as two nodes would).
 * - Without the coordinator, `podman container restore --tcp-established srv cli` (one after the
 *   other) broke the connection in a manual run here: the server exited right after its restore,
 *   most likely because the client's new network namespace answered for its address before its
 *   socket was restored (RST). Restored at once through the coordinator, the stream goes on.
 *
 * /etc/criu/runc.conf is replaced for the duration of the test and put back (or removed, if there
 * was none) afterwards, also when the test fails or the runner exits.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync, chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import {
  COORDINATOR_BIN,
  coordinatedSkipReason,
  groupOperation,
  Lab,
  readDumpStats,
  run,
  runSync,
  waitFor,
} from "./harness.ts";

const BUSYBOX = "/bin/busybox";
const RUNC_CONF_DIR = "/etc/criu";
const RUNC_CONF = join(RUNC_CONF_DIR, "runc.conf");

async function containerSkipReason(): Promise<string | null> {
  const base = await coordinatedSkipReason();
  if (base) return base;
  if (!Bun.which("podman")) return "podman is not installed (apt-get install podman)";
  if (!Bun.which("runc")) return "runc is not installed (apt-get install runc)";
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  return null;
}

const skipReason = await containerSkipReason();
if (skipReason) {
  const bar = "!".repeat(78);
  console.warn(`\n${bar}\n!! SKIPPING container checkpoint e2e test (criu-containers.test.ts): ${skipReason}\n${bar}\n`);
}
const e2e = test.skipIf(skipReason !== null);

/** Containers, network, image and runc.conf of this run; `undo()` removes them all. */
class ContainerLab {
  readonly tag: string;
  readonly net: string;
  readonly subnet: string;
  readonly names: { server: string; client: string };

  /** `n`: which lab of this run (each has its own containers, network and subnet). */
  constructor(n = 0) {
    const id = `${process.pid}${n ? `-${n}` : ""}`;
    this.tag = `localhost/cce2e-peer:${id}`;
    this.net = `cce2e-net-${id}`;
    this.subnet = `10.${89 + 2 * n}.${100 + (process.pid % 150)}`; // 10.88/16 is podman's default network
    this.names = { server: `cce2e-srv-${id}`, client: `cce2e-cli-${id}` };
  }

  #savedConf: string | null | undefined = undefined;
  #createdConfDir = false;

  /** A busybox image whose /bin/peer sends "NAME <n>" lines every 20 ms and logs what it receives. */
  async buildImage(dir: string): Promise<void> {
    const root = join(dir, "rootfs");
    for (const d of ["bin", "proc", "sys", "dev", "etc", "tmp"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(BUSYBOX, join(root, "bin", "busybox"));
    for (const a of ["sh", "nc", "usleep", "cat"]) symlinkSync("busybox", join(root, "bin", a));
    // stdin/stdout are the TCP socket (nc -e); stderr is the container log that the test reads.
    writeFileSync(join(root, "bin", "peer"), [
      "#!/bin/sh",
      'name=$1',
      '( i=0; while :; do echo "$name $i"; i=$((i+1)); usleep 20000; done ) &',
      'while read line; do echo "rx $line" >&2; done',
      'echo "peer: EOF or error on the connection" >&2',
      "",
    ].join("\n"));
    chmodSync(join(root, "bin", "peer"), 0o755);
    writeFileSync(join(root, "etc", "passwd"), "root:x:0:0:root:/:/bin/sh\n");
    writeFileSync(join(root, "etc", "group"), "root:x:0:\n");
    await must(["tar", "-C", root, "-cf", join(dir, "rootfs.tar"), "."]);
    await must(["podman", "import", join(dir, "rootfs.tar"), this.tag]);
    await must(["podman", "network", "create", "--subnet", `${this.subnet}.0/24`, this.net]);
  }

  /** Starts the server, then the client connecting to it. */
  async start(): Promise<void> {
    const common = ["podman", "--runtime", "runc", "run", "-d", "--network", this.net,
      "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
    await must([...common, "--name", this.names.server, "--ip", `${this.subnet}.10`, this.tag, "nc", "-l", "-p", "7000", "-e", "/bin/peer", "srv"]);
    const pid = (await must(["podman", "inspect", "-f", "{{.State.Pid}}", this.names.server])).trim();
    // LISTEN (0A) on port 7000 (1B58) in the container's netns, seen through its init's /proc.
    await waitFor("the server container to listen on port 7000", () =>
      /^\s*\d+: [0-9A-F]+:1B58 [0-9A-F]+:0000 0A /m.test(readFileSync(`/proc/${pid}/net/tcp6`, "utf8") + readFileSync(`/proc/${pid}/net/tcp`, "utf8")),
    { timeoutMs: 10_000, everyMs: 50 });
    await must([...common, "--name", this.names.client, "--ip", `${this.subnet}.11`, this.tag, "nc", `${this.subnet}.10`, "7000", "-e", "/bin/peer", "cli"]);
  }

  /** Points CRIU's runc configuration at `hook`; the original file is kept for undo(). */
  installRuncConf(hook: string): void {
    this.#savedConf = existsSync(RUNC_CONF) ? readFileSync(RUNC_CONF, "utf8") : null;
    if (!existsSync(RUNC_CONF_DIR)) {
      mkdirSync(RUNC_CONF_DIR);
      this.#createdConfDir = true;
    }
    writeFileSync(RUNC_CONF, `${this.#savedConf ?? ""}\n# criu-coordinator e2e test (pid ${process.pid}); restored afterwards\naction-script ${hook}\n`);
  }

  /** Puts runc.conf back as it was. Synchronous: also runs from the exit handler. */
  restoreRuncConf(): void {
    if (this.#savedConf === undefined) return;
    if (this.#savedConf === null) rmSync(RUNC_CONF, { force: true });
    else writeFileSync(RUNC_CONF, this.#savedConf);
    if (this.#createdConfDir) {
      try {
        rmdirSync(RUNC_CONF_DIR);
      } catch {
        // someone else put a file there meanwhile
      }
    }
    this.#savedConf = undefined;
  }

  /** Removes everything this run created, by name. Synchronous for the exit handler. */
  undo(): void {
    this.restoreRuncConf();
    runSync(["podman", "rm", "-f", "-t", "0", this.names.server, this.names.client]);
    runSync(["podman", "network", "rm", "-f", this.net]);
    runSync(["podman", "rmi", "-f", this.tag]);
  }
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`Command failed: ${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Numbers the container received ("rx NAME <n>" lines of its log), in order. */
async function received(name: string): Promise<{ nums: number[]; other: string[] }> {
  const r = await run(["podman", "logs", name]);
  const nums: number[] = [];
  const other: string[] = [];
  for (const line of (r.stdout + r.stderr).split("\n")) {
    const m = /^rx \S+ (\d+)$/.exec(line.trim());
    if (m) nums.push(Number(m[1]));
    else if (line.trim()) other.push(line.trim());
  }
  return { nums, other };
}

/** The received numbers are exactly 0, 1, 2, ...: nothing lost, nothing repeated. */
function expectContiguous(name: string, nums: number[]): void {
  const bad = nums.findIndex((n, i) => n !== i);
  expect(bad, `${name} received ${bad >= 0 ? `${nums[bad]} at position ${bad}` : "all"} (${nums.length} lines)`).toBe(-1);
}

/** After a restore: each container runs, received 100 more lines, none lost or repeated, no EOF. */
async function expectStreamContinues(names: string[], atDump: number[]): Promise<void> {
  await waitFor("the stream to continue in both containers (+100 lines each)", async () => {
    const r = await Promise.all(names.map(received));
    return r.every((x, i) => x.nums.length >= atDump[i]! + 100);
  }, { timeoutMs: 30_000, everyMs: 250 });
  for (const n of names) {
    const r = await received(n);
    expectContiguous(n, r.nums);
    expect(r.other.filter((l) => l.startsWith("peer:"))).toEqual([]);
    expect((await must(["podman", "inspect", "-f", "{{.State.Status}}", n])).trim()).toBe("running");
  }
}

const ctr = new ContainerLab();
const ctrCmd = new ContainerLab(1);
let lab: Lab | null = null;
let labCmd: Lab | null = null;
process.on("exit", () => {
  ctr.undo();
  ctrCmd.undo();
});
afterAll(async () => {
  ctr.undo();
  ctrCmd.undo();
  await lab?.cleanup();
  await labCmd?.cleanup();
});

describe("coordinated checkpoint of two podman containers", () => {
  e2e("two runc containers with a TCP connection, checkpointed at once and restored at once through /etc/criu/runc.conf: identities from cgroups, stream intact", async () => {
    lab = new Lab("containers");
    const { server, client } = ctr.names;
    const daemon = await lab.coordinator(`[[group]]\nname = "ctr"\nmembers = ["${server}", "${client}"]\ntimeout = "20s"\n`);
    const hook = join(lab.dir, "criu-coordinator-hook");
    writeFileSync(hook, `#!/bin/sh\nCRIU_COORDINATOR_CONFIG=${daemon.configPath} exec ${COORDINATOR_BIN}\n`, { mode: 0o755 });
    await ctr.buildImage(lab.path("image"));
    ctr.installRuncConf(hook);
    await ctr.start();
    const names = [server, client];
    await waitFor("both containers to exchange data", async () => {
      const r = await Promise.all(names.map(received));
      return r.every((x) => x.nums.length > 20);
    }, { timeoutMs: 20_000, everyMs: 200 });

    const t0 = performance.now();
    const dumps = await Promise.all(names.map((n) => run(["podman", "container", "checkpoint", "--keep", "--tcp-established", n])));
    console.log(`podman checkpoint of both at once: ${(performance.now() - t0).toFixed(0)} ms; codes ${dumps.map((d) => d.code)}`);
    dumps.forEach((d, i) => expect(d.code, `checkpoint of ${names[i]}: ${d.stderr}`).toBe(0));
    const atDump: number[] = [];
    for (const n of names) {
      const dir = (await must(["podman", "inspect", "-f", "{{.StaticDir}}", n])).trim();
      const log = readFileSync(join(dir, "dump.log"), "utf8");
      // The hook identified the container by name (from its cgroup's ID) and committed with the other.
      expect(log).toMatch(new RegExp(`criu-coordinator: ctr/${n} at post-dump: ctr#1 committed`));
      const st = readDumpStats(dir);
      if (st) console.log(`${n}: frozen ${(st.frozenTimeUs / 1000).toFixed(1)} ms`);
      expect((await must(["podman", "inspect", "-f", "{{.State.Status}}", n])).trim()).toBe("exited");
      atDump.push((await received(n)).nums.length);
    }
    expect(await groupOperation(daemon, "ctr")).toMatchObject({ kind: "dump", phase: { state: "committed" } });

    const t1 = performance.now();
    const restores = await Promise.all(names.map((n) => run(["podman", "container", "restore", "--keep", "--tcp-established", n])));
    console.log(`podman restore of both at once: ${(performance.now() - t1).toFixed(0)} ms; codes ${restores.map((r) => r.code)}`);
    restores.forEach((r, i) => expect(r.code, `restore of ${names[i]}: ${r.stderr}`).toBe(0));
    for (const n of names) {
      const dir = (await must(["podman", "inspect", "-f", "{{.StaticDir}}", n])).trim();
      expect(readFileSync(join(dir, "restore.log"), "utf8")).toMatch(new RegExp(`criu-coordinator: ctr/${n} at post-restore: ctr#2 committed`));
    }
    expect(await groupOperation(daemon, "ctr")).toMatchObject({ kind: "restore", phase: { state: "committed" } });

    await expectStreamContinues(names, atDump);
    ctr.restoreRuncConf();
    expect(existsSync(RUNC_CONF) ? readFileSync(RUNC_CONF, "utf8") : "").not.toContain(hook);
  }, 120_000);

  e2e("`criu-coordinator checkpoint` and `restore` of a group of two Podman containers: podman does the dumps, runc.conf wires the hooks, one command each, stream intact", async () => {
    labCmd = new Lab("containers-cmd");
    const { server, client } = ctrCmd.names;
    const names = [server, client];
    const ops = labCmd.path("ops");
    const daemon = await labCmd.coordinator(`[[group]]\nname = "ctr"\nmembers = ["${server}", "${client}"]\ntimeout = "20s"\n`, { env: { CRIU_COORDINATOR_OPERATIONS_DIR: ops } });
    const hook = join(labCmd.dir, "criu-coordinator-hook");
    writeFileSync(hook, `#!/bin/sh\nCRIU_COORDINATOR_CONFIG=${daemon.configPath} exec ${COORDINATOR_BIN}\n`, { mode: 0o755 });
    await ctrCmd.buildImage(labCmd.path("image"));
    await ctrCmd.start();
    const cli = (...args: string[]) => run([COORDINATOR_BIN, ...args, "--config", daemon.configPath]);

    // Without the coordinator in runc.conf the dumps would not be coordinated: refused up front.
    const unwired = await cli("checkpoint", "ctr");
    console.log(`checkpoint without runc.conf wiring: exit ${unwired.code}\n${unwired.stdout}${unwired.stderr}`);
    expect(unwired.code).toBe(1);
    expect(unwired.stdout + unwired.stderr).toContain("names no action-script");
    expect(unwired.stdout + unwired.stderr).toContain("nothing was frozen");

    ctrCmd.installRuncConf(hook);
    await waitFor("both containers to exchange data", async () => (await Promise.all(names.map(received))).every((x) => x.nums.length > 20), { timeoutMs: 20_000, everyMs: 200 });

    const ck = await cli("checkpoint", "ctr");
    console.log(`checkpoint command: exit ${ck.code}\n${ck.stdout}${ck.stderr}`);
    expect(ck.code, ck.stdout + ck.stderr).toBe(0);
    const atDump: number[] = [];
    for (const n of names) {
      expect((await must(["podman", "inspect", "-f", "{{.State.Status}}", n])).trim()).toBe("exited");
      // The hooks ran through runc.conf and the barrier committed both at post-dump.
      const dir = (await must(["podman", "inspect", "-f", "{{.StaticDir}}", n])).trim();
      expect(readFileSync(join(dir, "dump.log"), "utf8")).toMatch(new RegExp(`criu-coordinator: ctr/${n} at post-dump: ctr#1 committed`));
      atDump.push((await received(n)).nums.length);
    }
    const listed = await cli("operations", "ctr", "--json");
    const [op] = JSON.parse(listed.stdout).operations as { manifest: { outcome: string; members: { member: string; dir: string; container?: string }[] } }[];
    expect(op?.manifest.outcome).toBe("committed");
    for (const m of op!.manifest.members) {
      expect(m.container).toMatch(/^[0-9a-f]{64}$/);
      expect(existsSync(join(m.dir, "container-checkpoint.tar.gz")), `${m.member}'s export in ${m.dir}`).toBe(true);
    }

    const rs = await cli("restore", "ctr");
    console.log(`restore command: exit ${rs.code}\n${rs.stdout}${rs.stderr}`);
    expect(rs.code, rs.stdout + rs.stderr).toBe(0);
    expect(await groupOperation(daemon, "ctr")).toMatchObject({ kind: "restore", phase: { state: "committed" } });
    await expectStreamContinues(names, atDump);
    ctrCmd.restoreRuncConf();
  }, 180_000);
});
