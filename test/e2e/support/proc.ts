/**
 * Process helpers for the e2e harness: run commands, look at /proc, poll with deadlines.
 * Everything here is Linux-only and reads /proc directly.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `argv` to completion and captures its output; never throws on a non-zero exit. */
export async function run(argv: string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  const start = performance.now();
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: env ?? process.env });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr, ms: performance.now() - start };
}

/** Runs `argv` and throws with its stderr when it exits non-zero. */
export async function mustRun(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) {
    throw new Error(`Command failed: ${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Synchronous variant for cleanup paths (process exit handlers cannot await). */
export function runSync(argv: string[]): number {
  return Bun.spawnSync(argv, { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exitCode;
}

/** Contents of /proc/PID/stat split into fields (comm is field 1, may contain spaces), or null. */
function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const close = text.lastIndexOf(")");
  const head = text.slice(0, text.indexOf("(")).trim();
  const comm = text.slice(text.indexOf("(") + 1, close);
  return [head, comm, ...text.slice(close + 2).trim().split(" ")];
}

/** Process state letter ("S", "R", "t", "Z", ...) or null when the PID does not exist. */
export function procState(pid: number): string | null {
  return statFields(pid)?.[2] ?? null;
}

/** Session ID of the process, or null. */
export function procSid(pid: number): number | null {
  const f = statFields(pid)?.[5];
  return f === undefined ? null : Number(f);
}

/** True when the process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== "Z" && s !== "X";
}

/** The process's comm (executable basename, at most 15 chars), or null. */
export function procComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

/** Inode of a namespace file (/run/netns/X or /proc/PID/ns/net), or null. */
export function nsInode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

/** Every PID whose network namespace has the given inode. */
export function pidsInNetns(inode: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const link = readlinkSync(`/proc/${entry}/ns/net`);
      if (link === `net:[${inode}]`) pids.push(Number(entry));
    } catch {
      // raced with exit, or a kernel thread
    }
  }
  return pids;
}

/** PIDs of running processes whose comm is `comm` (like `pgrep -x`). */
export function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (/^\d+$/.test(entry) && procComm(Number(entry)) === comm && isRunning(Number(entry))) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

/** Sends a signal, ignoring "no such process". */
export function signal(pid: number, sig: NodeJS.Signals | number = "SIGKILL"): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Polls `check` every `everyMs` until it returns a value other than undefined/false, and throws
 * `Timed out waiting for <what>: <state()>` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs: number; everyMs?: number; state?: () => string },
): Promise<T> {
  const deadline = performance.now() + opts.timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) {
      const state = opts.state ? `: ${opts.state()}` : `: ${opts.timeoutMs} ms elapsed`;
      throw new Error(`Timed out waiting for ${what}${state}`);
    }
    await Bun.sleep(opts.everyMs ?? 20);
  }
}

/**
 * Waits until /proc/PID is gone (not even a zombie) and returns how long that took in ms.
 * CRIU restores a task with its original PID, so restoring while the dumped task is still an
 * unreaped zombie fails with "Can't fork for PID: File exists". An orphan is reaped by PID 1,
 * which took 1.3-1.8 s on the sandbox machines.
 */
export async function waitReaped(pid: number, timeoutMs = 10_000): Promise<number> {
  const start = performance.now();
  await waitFor(`PID ${pid} to be reaped`, () => procState(pid) === null, {
    timeoutMs,
    state: () => `state ${procState(pid)}`,
  });
  return performance.now() - start;
}

/** A process found by `processesUnder`. */
export interface FoundProcess {
  pid: number;
  comm: string;
  cmdline: string;
}

/**
 * Running processes whose command line or working directory mentions `dir` (CRIU runs with
 * `-D <images>`, action scripts run with the images dir as cwd): what a test left behind.
 */
export function processesUnder(dir: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const pid = Number(entry);
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // no permission or gone
      }
      if ((cmdline.includes(dir) || cwd.startsWith(dir)) && isRunning(pid)) {
        found.push({ pid, comm: procComm(pid) ?? "?", cmdline });
      }
    } catch {
      // raced with exit
    }
  }
  return found;
}
