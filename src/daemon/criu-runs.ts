/**
 * Is a CRIU run still alive? Hook calls name their CRIU run "criu:<pid>:<start time>" (start time
 * from /proc/<pid>/stat, so a reused pid is a different run). A CRIU run that ends before its
 * operation is decided has failed — for example its dump hit ENOSPC, or it failed before freezing
 * and, without its own network namespace, calls no further hook at all.
 *
 * Linux gives Bun no process-exit notification for a non-child without FFI and epoll, so the
 * daemon looks at /proc on a short timer, and only while an operation is undecided.
 */
import { readFileSync } from "node:fs";

/** How often runs are checked while an operation is open. */
export const RUN_CHECK_MS = 200;

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
