/**
 * Building blocks of the coordinated scenarios: a "side" is one node with its TCP workload and
 * images dir, and every fault case ends with one of the two allowed outcomes checked here.
 */
import { expect } from "bun:test";
import type { CoordinatorDaemon } from "./coordinator.ts";
import { expectHealthy, waitStreamGrows } from "./expect.ts";
import type { Node } from "./netns.ts";
import { isRunning, processesUnder } from "./proc.ts";
import { lastProgress, type TcpNode } from "./tcp-log.ts";

/** The `[[group]]` "pair" of the TCP workloads (members named by comm), with `timeoutS`. */
export function pairGroupToml(timeoutS: number): string {
  return `[[group]]\nname = "pair"\nmembers = ["tcp-server", "tcp-client"]\ntimeout = "${timeoutS}s"\n`;
}

/** One participant: where it runs, its workload, where its images go. */
export interface Side {
  node: Node;
  w: TcpNode;
  img: string;
}

/** The group's operation as `status --json` of `daemon` shows it (undefined before the first). */
export async function groupOperation(daemon: CoordinatorDaemon, group: string): Promise<Record<string, unknown> | undefined> {
  const st = (await daemon.status()) as { groups?: { name: string; operation?: Record<string, unknown> }[] };
  return st.groups?.find((g) => g.name === group)?.operation;
}

/** Neither side was dumped: both processes still run and keep exchanging data, cleanly. */
export async function expectBothKeptRunning(sides: Side[], timeoutMs = 10_000): Promise<void> {
  for (const s of sides) expect(isRunning(s.w.pid), `${s.w.comm} still running`).toBe(true);
  const now = sides.map((s) => lastProgress(s.w.log()).rx);
  await waitStreamGrows(sides.map((s) => s.w), now, 100, timeoutMs);
  for (const s of sides) expectHealthy(s.w);
}

/** No CRIU run or hook call started under `dir` (the lab dir) is still alive; daemons may be. */
export function expectNoLeftovers(dir: string): void {
  const left = processesUnder(dir).filter((p) =>
    p.comm === "criu" || (p.comm.startsWith("criu-coordinat") && !p.cmdline.includes(" daemon ")));
  expect(left.map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
}
