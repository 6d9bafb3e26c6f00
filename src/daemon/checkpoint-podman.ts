/**
 * Members that are Podman containers: `podman container checkpoint` and `restore` instead of
 * CRIU directly, because only the engine knows the container's mounts, network and state.
 *
 * Podman runs CRIU through runc, which passes CRIU no environment of ours and no command-line
 * action-script: the coordinator is wired in through CRIU's configuration file for runc
 * (/etc/criu/runc.conf, wired by the package on install), and the hooks read the default
 * configuration file. A checkpoint is refused when that wiring is missing, since the dump would
 * then not be coordinated at all.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CriuRun } from "./checkpoint-criu.ts";
import { failureLines } from "./checkpoint-criu.ts";

/** runc tells CRIU to read this file (runc's docs/checkpoint-restore.md). */
export const RUNC_CRIU_CONF = "/etc/criu/runc.conf";

/** The export written next to each container member's other files. */
export const CONTAINER_ARCHIVE = "container-checkpoint.tar.gz";

export function podmanBinary(env: Record<string, string | undefined> = process.env): string | undefined {
  return Bun.which("podman", { PATH: `${env.PATH ?? ""}:/usr/bin:/usr/local/bin` }) ?? undefined;
}

/** Why Podman members can not be checkpointed here, or undefined when they can. */
export function podmanProblem(confPath = RUNC_CRIU_CONF): string | undefined {
  if (!podmanBinary()) return "a member is a Podman container, but podman is not installed here";
  const conf = existsSync(confPath) ? readFileSync(confPath, "utf8") : "";
  if (!/^\s*action-script\s/m.test(conf)) {
    return `a member is a Podman container, but ${confPath} names no action-script, so its CRIU run would not be coordinated (the package wires it on install: /usr/libexec/criu-coordinator/criu-wiring add)`;
  }
  return undefined;
}

/**
 * `podman container checkpoint --keep --tcp-established [--leave-running] --export DIR/… ID`:
 * the images stay with the container (for an in-place restore) and a copy goes to DIR.
 */
export function startPodmanCheckpoint(id: string, dir: string, leaveRunning: boolean, env: Record<string, string | undefined>): CriuRun {
  const args = ["container", "checkpoint", "--keep", "--tcp-established", "--export", join(dir, CONTAINER_ARCHIVE)];
  if (leaveRunning) args.push("--leave-running");
  return spawnPodman([...args, id], id, "dump.log", env);
}

/**
 * `podman container restore --keep --tcp-established ID` while the checkpointed container exists
 * (its own copy of the images), else `--import DIR/…` to recreate it from the export.
 */
export async function startPodmanRestore(id: string, dir: string, env: Record<string, string | undefined>): Promise<CriuRun> {
  const podman = podmanBinary(env) ?? "podman";
  const exists = (await Bun.spawn([podman, "container", "exists", id], { stdout: "ignore", stderr: "ignore", env }).exited) === 0;
  const from = exists ? [id] : ["--import", join(dir, CONTAINER_ARCHIVE)];
  return spawnPodman(["container", "restore", "--keep", "--tcp-established", ...from], id, "restore.log", env);
}

function spawnPodman(args: string[], id: string, logName: string, env: Record<string, string | undefined>): CriuRun {
  const podman = podmanBinary(env) ?? "podman";
  const p = Bun.spawn([podman, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const done = (async () => {
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code === 0) return { code };
    // CRIU's log, with the coordinator's verdict, stays in the container's own directory.
    const inspect = Bun.spawnSync([podman, "container", "inspect", "--format", "{{.StaticDir}}", id], { env });
    const log = join(inspect.stdout.toString().trim(), logName);
    const fromLog = inspect.exitCode === 0 && existsSync(log) ? failureLines(readFileSync(log, "utf8")) : "";
    const said = (out + err).split("\n").filter((l) => l.trim() !== "").slice(-2).join(" | ");
    return { code, message: [fromLog, said].filter(Boolean).join(" | ").slice(0, 600) || `podman exited ${code}` };
  })();
  return { pid: p.pid, done };
}
