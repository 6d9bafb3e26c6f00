/**
 * Is a CRIU run still alive? Hook calls name their CRIU run "criu:<pid>:<start time>" (start time
 * from /proc/<pid>/stat, so a reused pid is a different run). A CRIU run that ends before its
 * operation is decided has failed — for example its dump hit ENOSPC, or it failed before freezing
 * and, without its own network namespace, calls no further hook at all.
 *
 * Watched without polling: a pidfd (pidfd_open(2), Linux 5.3) turns readable when its process
 * ends, whether or not it is our child. Bun's event loop watches it as the descriptor of a socket
 * (Bun.connect({ fd })), whose close callback runs at that moment. pidfd_open is a raw syscall
 * through bun:ffi, loaded on the first watch. Where that is not available (an older kernel, no
 * glibc), /proc is checked every RUN_CHECK_MS while runs are watched, as a fallback.
 */
import { readFileSync } from "node:fs";

/** The fallback's period, used only where pidfds are not available. */
export const RUN_CHECK_MS = 200;

const SYS_PIDFD_OPEN = 434; // the same number on every architecture since Linux 5.3

/** undefined if the run is alive or can not be judged (not a CRIU run id); else why it is gone. */
export function runGone(attempt: string, procRoot = "/proc"): string | undefined {
  const m = /^criu:(\d+)(?::(\d+))?$/.exec(attempt);
  if (!m) return undefined;
  const pid = m[1]!;
  let stat: string;
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return `CRIU pid ${pid} exited`;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (m[2] !== undefined && fields[19] !== m[2]) return `CRIU pid ${pid} exited (the pid now belongs to another process)`;
  if (fields[0] === "Z" || fields[0] === "X") return `CRIU pid ${pid} exited`;
  return undefined;
}

/**
 * A hook names its CRIU run "criu:<pid>"; the daemon adds the start time ("criu:<pid>:<start>")
 * so that a later process with the same pid is a different run. Other ids are left as they are.
 */
export function withStartTime(attempt: string, procRoot = "/proc"): string {
  const m = /^criu:(\d+)$/.exec(attempt);
  if (!m) return attempt;
  try {
    const stat = readFileSync(`${procRoot}/${m[1]}/stat`, "utf8");
    return `${attempt}:${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return attempt; // already gone: the watcher reports it as such
  }
}

interface Pidfds {
  open(pid: number): number;
  close(fd: number): void;
}

/** pidfd_open(2) through bun:ffi; null where it can not work. */
async function loadPidfds(): Promise<Pidfds | null> {
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const { symbols } = dlopen("libc.so.6", {
      syscall: { args: [FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    const pidfds: Pidfds = { open: (pid) => Number(symbols.syscall(SYS_PIDFD_OPEN, pid, 0)), close: (fd) => void symbols.close(fd) };
    const probe = pidfds.open(process.pid); // fails with ENOSYS before Linux 5.3
    if (probe < 0) return null;
    pidfds.close(probe);
    return pidfds;
  } catch {
    return null;
  }
}

interface Watch {
  stop(): void;
}

/**
 * Watches the CRIU runs of open operations and calls `onGone` once per run that ends. sync() is
 * given the runs to watch after every change; runs no longer listed are let go.
 */
export class CriuRunWatcher {
  readonly #watches = new Map<string, Watch>();
  readonly #reported = new Set<string>();
  #pidfds: Promise<Pidfds | null> | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(
    private readonly onGone: (attempt: string, why: string) => void,
    private readonly procRoot = "/proc",
  ) {}

  /** How runs are watched: "pidfd" (events), "poll" (the fallback) or "none" yet. */
  async mode(): Promise<"pidfd" | "poll" | "none"> {
    if (!this.#pidfds) return "none";
    return (await this.#pidfds) && !this.#poll ? "pidfd" : "poll";
  }

  sync(attempts: Iterable<string>): void {
    if (this.#closed) return;
    const wanted = new Set([...attempts].filter((a) => /^criu:\d+/.test(a)));
    for (const [attempt, w] of this.#watches) {
      if (!wanted.has(attempt)) {
        w.stop();
        this.#watches.delete(attempt);
      }
    }
    for (const attempt of wanted) if (!this.#watches.has(attempt) && !this.#reported.has(attempt)) this.#watch(attempt);
    // Reported runs are forgotten once their operation no longer lists them.
    for (const attempt of this.#reported) if (!wanted.has(attempt)) this.#reported.delete(attempt);
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watches.values()) w.stop();
    this.#watches.clear();
    if (this.#poll) clearInterval(this.#poll);
  }

  #gone(attempt: string, why: string): void {
    if (this.#closed || this.#reported.has(attempt) || !this.#watches.has(attempt)) return;
    this.#reported.add(attempt);
    this.#watches.get(attempt)!.stop();
    this.#watches.delete(attempt);
    this.onGone(attempt, why);
  }

  #watch(attempt: string): void {
    let stopped = false;
    let socket: { terminate(): void } | undefined;
    this.#watches.set(attempt, {
      stop: () => {
        stopped = true;
        socket?.terminate();
      },
    });
    this.#pidfds ??= loadPidfds();
    void this.#pidfds.then(async (pidfds) => {
      if (stopped) return;
      if (!pidfds) return this.#startPolling();
      const pid = Number(/^criu:(\d+)/.exec(attempt)![1]);
      const fd = pidfds.open(pid);
      if (fd < 0) {
        // ESRCH: gone already. Anything else (EMFILE…): this run falls back to the /proc check.
        const why = runGone(attempt, this.procRoot);
        return why ? this.#gone(attempt, why) : this.#startPolling();
      }
      // The pidfd is taken first, then the start time checked: if it still matches, the pidfd is
      // that run's and not a later process's with a reused pid.
      const already = runGone(attempt, this.procRoot);
      // Bun.FdSocketOptions: typed, but missing from Bun.connect's overloads.
      const connectFd = Bun.connect as unknown as (o: Bun.FdSocketOptions) => Promise<Bun.Socket>;
      const s = await connectFd({
        fd,
        socket: {
          data() {},
          // A pidfd never carries data: it only becomes readable, when the process has ended.
          close: () => {
            if (!stopped) this.#gone(attempt, runGone(attempt, this.procRoot) ?? `CRIU pid ${pid} exited`);
          },
        },
      }).catch(() => undefined);
      if (!s) {
        pidfds.close(fd);
        return this.#startPolling();
      }
      socket = s;
      if (stopped) s.terminate();
      else if (already) this.#gone(attempt, already);
    });
  }

  #startPolling(): void {
    if (this.#poll || this.#closed) return;
    this.#poll = setInterval(() => {
      if (this.#watches.size === 0) {
        clearInterval(this.#poll);
        this.#poll = undefined;
        return;
      }
      for (const attempt of [...this.#watches.keys()]) {
        const why = runGone(attempt, this.procRoot);
        if (why) this.#gone(attempt, why);
      }
    }, RUN_CHECK_MS);
  }
}
