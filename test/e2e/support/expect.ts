/** Assertions shared by the e2e tests: CRIU exit codes, hook logs, TCP stream health. */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import type { CriuResult } from "./criu.ts";
import { waitFor } from "./proc.ts";
import { describeTcpLog, lastProgress, type TcpNode } from "./tcp-log.ts";

/** Throws with the interesting part of CRIU's log when it did not exit 0. */
export function expectCriuOk(r: CriuResult, what: string): void {
  if (r.code === 0) return;
  const lines = r.log.split("\n");
  const errors = lines.filter((l) => l.includes("Error") && !l.includes("RLIMIT_NOFILE")).slice(0, 15);
  throw new Error(`${what} failed: exit ${r.code}\n${errors.join("\n")}\n...\n${lines.slice(-15).join("\n")}`);
}

/** Hook names, in call order, from a log-hook.sh log. */
export function hooks(path: string): { action: string; initPid: string; state: string }[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text.trim().split("\n").filter(Boolean).map((l) => {
    const [action = "", pid = "", state = ""] = l.split(" ");
    return { action, initPid: pid.replace("init_pid=", ""), state: state.replace("state=", "") };
  });
}

/** Waits until both sides received `extra` more lines from their peer than `since` shows. */
export async function waitStreamGrows(nodes: TcpNode[], since: number[], extra: number, timeoutMs: number): Promise<void> {
  await waitFor(`the stream to continue (+${extra} lines each way)`, () =>
    nodes.every((n, i) => lastProgress(n.log()).rx >= (since[i] ?? 0) + extra), {
    timeoutMs,
    everyMs: 50,
    state: () => nodes.map((n) => `${n.comm}: ${describeTcpLog(n.log())}`).join(" | "),
  });
}

/** The stream is healthy: one start, connected, no gap, no error line, no error count. */
export function expectHealthy(n: TcpNode): void {
  const log = n.log();
  const msg = `${n.comm}: ${describeTcpLog(log)}`;
  expect(log.gaps, msg).toEqual([]);
  expect(log.errors, msg).toEqual([]);
  expect(lastProgress(log).errors, msg).toBe(0);
  expect(log.starts, msg).toBe(1);
}
