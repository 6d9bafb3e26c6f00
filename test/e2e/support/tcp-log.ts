/** Reading the log of `programs/tcp-node.py` (its docstring describes the line formats). */
import { existsSync, readFileSync } from "node:fs";
import type { Workload } from "./workload.ts";

/** One `progress` line. */
export interface Progress {
  /** Unix time in seconds. */
  t: number;
  /** Lines sent so far. */
  sent: number;
  /** Last sequence number received from the peer (-1 before the first). */
  rx: number;
  errors: number;
}

/** Everything a test needs from one tcp-node log. */
export interface TcpLog {
  starts: number;
  connected: boolean;
  progress: Progress[];
  /** `gap expected=.. got=..` lines: data lost or duplicated. */
  gaps: string[];
  /** `error ..` lines: reset, EOF, bad data. The process exits after one. */
  errors: string[];
  /** Silences longer than 1 s that ended with data arriving again (seconds). */
  resumedAfter: number[];
}

/** A running tcp-node.py: which node, its PID and its log file. */
export interface TcpNode extends Workload {
  logPath: string;
  /** Reads and parses its log now. */
  log(): TcpLog;
}

/** Parses a tcp-node log file; a missing file reads as empty. */
export function readTcpLog(path: string): TcpLog {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const log: TcpLog = { starts: 0, connected: false, progress: [], gaps: [], errors: [], resumedAfter: [] };
  for (const line of text.split("\n")) {
    const [kind] = line.split(" ", 1);
    if (kind === "start") log.starts++;
    else if (kind === "connected") log.connected = true;
    else if (kind === "gap") log.gaps.push(line);
    else if (kind === "error") log.errors.push(line);
    else if (kind === "resumed") log.resumedAfter.push(Number(/after=([\d.]+)/.exec(line)?.[1]));
    else if (kind === "progress") {
      const f = Object.fromEntries(line.split(" ").slice(1).map((kv) => kv.split("=") as [string, string]));
      log.progress.push({ t: Number(f.t), sent: Number(f.sent), rx: Number(f.rx), errors: Number(f.errors) });
    }
  }
  return log;
}

/** The last progress line, or a zero one before the first. */
export function lastProgress(log: TcpLog): Progress {
  return log.progress.at(-1) ?? { t: 0, sent: 0, rx: -1, errors: 0 };
}

/**
 * Longest pause between consecutive progress lines, in seconds. The workload logs every
 * --progress-ms while it runs, so this is how long it was stopped (dumped and not yet restored).
 */
export function longestPause(log: TcpLog): number {
  let max = 0;
  for (let i = 1; i < log.progress.length; i++) {
    max = Math.max(max, log.progress[i]!.t - log.progress[i - 1]!.t);
  }
  return max;
}

/** One-line summary for assertion messages. */
export function describeTcpLog(log: TcpLog): string {
  const p = lastProgress(log);
  return (
    `starts=${log.starts} connected=${log.connected} sent=${p.sent} rx=${p.rx} errors=${p.errors}` +
    ` gaps=[${log.gaps.slice(0, 3).join("; ")}] errorLines=[${log.errors.join("; ")}]` +
    ` resumedAfter=[${log.resumedAfter.map((s) => s.toFixed(2)).join(",")}]`
  );
}
