/**
 * A real Podman container (runc, rootful) is identified from its host PID: ID from
 * /proc/<pid>/cgroup, name from containers/storage, member match, and the mountinfo fallback from
 * inside a private cgroup namespace. The image is built locally from a static busybox, no registry.
 *
 * Needs root and the Debian packages podman, runc, busybox-static (see the report / .ci/run).
 * crun is avoided on purpose: on hybrid cgroup hosts it refuses to start ("cgroups in hybrid mode
 * not supported"), and podman's default rlimits exceed what an unprivileged-bounding-set CI VM allows,
 * hence the explicit low --ulimit values (lowering a limit is always permitted).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseCgroupIdentity } from "../../src/identity/cgroup.ts";
import { buildIdentifyReport, identifyJson } from "../../src/identity/explain.ts";
import { matchMember } from "../../src/identity/match.ts";
import { findNameSources, resolveContainerNames } from "../../src/identity/names.ts";

const BUSYBOX = "/bin/busybox";
const missing = [
  ...(Bun.which("podman") === null ? ["podman (apt-get install podman)"] : []),
  ...(Bun.which("runc") === null ? ["runc (apt-get install runc)"] : []),
  ...(existsSync(BUSYBOX) ? [] : [`${BUSYBOX} (apt-get install busybox-static)`]),
  ...(process.getuid?.() === 0 ? [] : ["root (rootless podman on cgroup v1 creates no cgroup)"]),
];
const skip = missing.length > 0;
if (skip) {
  const bar = "!".repeat(78);
  console.error(`\n${bar}\n!! SKIPPED identity-container.test.ts: missing ${missing.join(", ")}\n!! The real-container identity test did not run on this machine.\n${bar}\n`);
}

const tag = `localhost/cc-identity-test:${process.pid}`;
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const hostName = `cc-ident-host-${suffix}`;
const nsName = `cc-ident-ns-${suffix}`;
let work = "";

/** Runs a command and returns its trimmed stdout; throws with stderr on failure. */
function run(cmd: string[]): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`Command failed: ${cmd.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().trim()}`);
  return p.stdout.toString().trim();
}

function podmanRun(name: string, extra: string[]): void {
  run(["podman", "--runtime", "runc", "run", "-d", "--name", name, "--network", "none",
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ...extra, tag, "/bin/sleep", "600"]);
}

function inspect(name: string, format: string): string {
  return run(["podman", "inspect", "-f", format, name]);
}

describe.skipIf(skip)("identity of a real podman container", () => {
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), "cc-identity-"));
    const root = path.join(work, "rootfs");
    for (const d of ["bin", "proc", "sys", "dev", "etc", "tmp"]) mkdirSync(path.join(root, d), { recursive: true });
    copyFileSync(BUSYBOX, path.join(root, "bin", "busybox"));
    for (const a of ["sh", "cat", "sleep"]) symlinkSync("busybox", path.join(root, "bin", a));
    writeFileSync(path.join(root, "etc", "passwd"), "root:x:0:0:root:/:/bin/sh\n");
    writeFileSync(path.join(root, "etc", "group"), "root:x:0:\n");
    run(["tar", "-C", root, "-cf", path.join(work, "rootfs.tar"), "."]);
    run(["podman", "import", path.join(work, "rootfs.tar"), tag]);
    podmanRun(hostName, []);
    podmanRun(nsName, ["--cgroupns", "private"]);
  });

  afterAll(() => {
    // Only what this file created, by name.
    Bun.spawnSync(["podman", "rm", "-f", "-t", "0", hostName, nsName], { stdout: "ignore", stderr: "ignore" });
    Bun.spawnSync(["podman", "rmi", "-f", tag], { stdout: "ignore", stderr: "ignore" });
    if (work !== "") rmSync(work, { recursive: true, force: true });
  });

  test("the host PID's cgroup gives the container ID, its name matches a member", () => {
    const id = inspect(hostName, "{{.Id}}");
    const pid = inspect(hostName, "{{.State.Pid}}");
    const identity = parseCgroupIdentity(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    expect(identity).toMatchObject({ id, runtime: "podman", rule: "runtime-prefix" });

    const names = resolveContainerNames(id);
    expect(names).toContain(hostName);
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    expect(matchMember({ containerId: id, names, processName: comm }, [{ name: "g", members: ["other", hostName] }]))
      .toEqual({ kind: "member", group: "g", member: hostName, via: "name" });

    const report = buildIdentifyReport(
      { cgroupText: readFileSync(`/proc/${pid}/cgroup`, "utf8"), processName: comm, groups: [{ name: "g", members: [id.slice(0, 12)] }], subject: `PID ${pid}` },
      (x) => findNameSources(x),
    );
    expect(identifyJson(report)).toMatchObject({ id, participant: id.slice(0, 12), via: "id-prefix", processName: "sleep" });
  });

  test("inside a private cgroup namespace the mountinfo fallback finds the same ID", () => {
    const id = inspect(nsName, "{{.Id}}");
    const cgroup = run(["podman", "exec", nsName, "cat", "/proc/1/cgroup"]);
    const mountinfo = run(["podman", "exec", nsName, "cat", "/proc/1/mountinfo"]);
    // Pure cgroup v2 hosts may still show a path here; either way the ID must come out.
    const identity = parseCgroupIdentity(cgroup, mountinfo);
    expect(identity.id).toBe(id);
  });

  test("conmon, the container's monitor, is not identified as the container", () => {
    const conmon = inspect(hostName, "{{.State.ConmonPid}}");
    expect(parseCgroupIdentity(readFileSync(`/proc/${conmon}/cgroup`, "utf8")).id).toBeNull();
  });
});

// Keeps the skip visible in the test report too, not only on stderr (the body never runs).
if (skip) test.skip(`real-container identity test: missing ${missing.join(", ")}`, () => {});
