/**
 * Local barrier release: 10 members of one group, nine already waiting at pre-dump; the time from
 * the last arrival to every member released. Measured at the protocol level (raw socket clients in
 * this process) and with real hook processes.
 */
import { encodeFrame, FrameDecoder } from "../src/protocol/frame.ts";
import type { Response } from "../src/protocol/messages.ts";
import { BenchBox, BIN, report, requireBinary, stats } from "./lib.ts";

const ROUNDS = Number(process.env.BENCH_RUNS ?? 60);
const MEMBERS = Array.from({ length: 10 }, (_, i) => `m${i}`);

/**
 * A connection that sends one arrive and resolves with the reply and when it came. A refused
 * connect (listen backlog full during a burst) is retried, as the real hook does.
 */
export function arrive(socket: string, group: string, participant: string, hook: string, attempt: string): { sent: Promise<void>; done: Promise<{ res: Response; at: number }> } {
  let markSent!: () => void;
  const sent = new Promise<void>((r) => (markSent = r));
  const done = new Promise<{ res: Response; at: number }>((resolve, reject) => {
    const dec = new FrameDecoder();
    let answered = false;
    const attemptConnect = (tries: number) => {
      Bun.connect({
        unix: socket,
        socket: {
          open(s) {
            s.write(encodeFrame({ v: 1, type: "arrive", group, participant, hook, attempt }));
            markSent();
          },
          data(s, d) {
            const at = performance.now();
            const m = dec.push(d);
            if (m.length) {
              answered = true;
              resolve({ res: m[0] as Response, at });
              s.end();
            }
          },
          close() {
            if (!answered) reject(new Error(`${participant}: closed without an answer`));
          },
        },
      }).catch((e) => (tries > 0 ? setTimeout(() => attemptConnect(tries - 1), 2) : reject(e)));
    };
    attemptConnect(500);
  });
  return { sent, done };
}

async function waitingCount(socket: string, n: number): Promise<void> {
  for (;;) {
    const st = await new Promise<any>((resolve) => {
      const dec = new FrameDecoder();
      Bun.connect({ unix: socket, socket: { open(s) { s.write(encodeFrame({ v: 1, type: "status" })); }, data(s, d) { const m = dec.push(d); if (m.length) { resolve((m[0] as any).status); s.end(); } } } });
    });
    if (st.waiting >= n) return;
    await Bun.sleep(1);
  }
}

export async function localBarrier(): Promise<void> {
  requireBinary();
  const box = new BenchBox();
  try {
    await box.daemon(`[[group]]\nname = "ten"\nmembers = [${MEMBERS.map((m) => `"${m}"`).join(", ")}]\ntimeout = "30s"\n`);
    // Protocol level.
    const proto: number[] = [];
    for (let round = 0; round < ROUNDS + 5; round++) {
      const calls = MEMBERS.slice(0, 9).map((m) => arrive(box.socket, "ten", m, "pre-dump", `r${round}`));
      await Promise.all(calls.map((c) => c.sent));
      await waitingCount(box.socket, 9);
      const t0 = performance.now();
      const last = arrive(box.socket, "ten", "m9", "pre-dump", `r${round}`);
      const all = await Promise.all([...calls, last].map((c) => c.done));
      if (all.some((r) => r.res.type !== "result" || !r.res.ok)) throw new Error(`round ${round}: not all released`);
      if (round >= 5) proto.push(Math.max(...all.map((r) => r.at)) - t0);
      // Finish the round so the next pre-dump opens a new one.
      await Promise.all(MEMBERS.map((m) => arrive(box.socket, "ten", m, "post-dump", `r${round}`).done));
    }

    // Real hook processes: nine waiting hook processes, then the tenth; until all ten exited.
    const pids = MEMBERS.map((m) => box.named(m));
    const env = (i: number, hook: string) => ({ PATH: "/usr/bin:/bin", CRIU_COORDINATOR_CONFIG: box.config, CRTOOLS_IMAGE_DIR: `${box.dir}/img-${i}`, CRTOOLS_SCRIPT_ACTION: hook, CRTOOLS_INIT_PID: String(pids[i]) });
    const { mkdirSync } = await import("node:fs");
    MEMBERS.forEach((_, i) => mkdirSync(`${box.dir}/img-${i}`, { recursive: true }));
    const real: number[] = [];
    const realRounds = Math.max(10, Math.floor(ROUNDS / 3));
    for (let round = 0; round < realRounds + 2; round++) {
      const procs = MEMBERS.slice(0, 9).map((_, i) => Bun.spawn([BIN], { env: env(i, "pre-dump"), stdout: "ignore", stderr: "ignore" }));
      await waitingCount(box.socket, 9);
      const t0 = performance.now();
      const lastProc = Bun.spawn([BIN], { env: env(9, "pre-dump"), stdout: "ignore", stderr: "ignore" });
      const codes = await Promise.all([...procs, lastProc].map((p) => p.exited));
      const ms = performance.now() - t0;
      if (codes.some((c) => c !== 0)) throw new Error(`real round ${round}: exit codes ${codes}`);
      if (round >= 2) real.push(ms);
      await Promise.all(MEMBERS.map((_, i) => Bun.spawn([BIN], { env: env(i, "post-dump"), stdout: "ignore", stderr: "ignore" }).exited));
    }
    report("local barrier release, 10 members (last arrival → all released)", "ms", [
      ["protocol level (socket clients)", stats(proto), "≤ 0.5"],
      ["real hook processes (start of the 10th → all 10 exited)", stats(real), ""],
    ]);
  } finally {
    box.close();
  }
}

if (import.meta.main) await localBarrier();
