/**
 * The CRIU-run watcher against real processes that are not our children (as CRIU is not the
 * daemon's): each is started by a shell that exits at once, so the kernel reparents it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CriuRunWatcher, runGone, withStartTime } from "../../../src/daemon/criu-runs.ts";

const watchers: CriuRunWatcher[] = [];
afterEach(() => watchers.splice(0).forEach((w) => w.close()));

/** Starts `sleep secs` as an orphan and returns its run id "criu:<pid>:<start time>". */
function orphanRun(secs: number): { attempt: string; pid: number } {
  const r = Bun.spawnSync(["sh", "-c", `sleep ${secs} >/dev/null 2>&1 & echo $!`]);
  const pid = Number(r.stdout.toString().trim());
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return { pid, attempt: `criu:${pid}:${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}` };
}

function watcher(): { w: CriuRunWatcher; gone: { attempt: string; why: string; at: number }[] } {
  const gone: { attempt: string; why: string; at: number }[] = [];
  const w = new CriuRunWatcher((attempt, why) => gone.push({ attempt, why, at: performance.now() }));
  watchers.push(w);
  return { w, gone };
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error("timed out");
    await Bun.sleep(5);
  }
}

describe("CriuRunWatcher", () => {
  test("reports a run the moment its process ends, by pidfd events, not a timer", async () => {
    const { w, gone } = watcher();
    const run = orphanRun(0.3);
    const started = performance.now();
    w.sync([run.attempt]);
    await until(() => gone.length > 0);
    expect(await w.mode()).toBe("pidfd");
    expect(gone).toEqual([{ attempt: run.attempt, why: `CRIU pid ${run.pid} exited`, at: expect.any(Number) }]);
    // sleep 0.3 ends 300 ms after it started; the report follows within milliseconds.
    expect(gone[0]!.at - started).toBeLessThan(300 + 500); // generous: a loaded CI machine
    await Bun.sleep(100);
    expect(gone.length).toBe(1); // once
  });

  test("a run already gone, or whose pid now belongs to another process, is reported at once", async () => {
    const { w, gone } = watcher();
    const live = orphanRun(30);
    const reused = live.attempt.replace(/:(\d+)$/, (_, t) => `:${Number(t) + 1}`);
    w.sync(["criu:4194000:1", reused]);
    await until(() => gone.length === 2);
    expect(gone.map((g) => g.why).sort()).toEqual([`CRIU pid ${live.pid} exited (the pid now belongs to another process)`, "CRIU pid 4194000 exited"].sort());
    process.kill(live.pid, "SIGKILL");
  });

  test("runs no longer listed are let go and never reported; ids that are not CRIU runs are ignored", async () => {
    const { w, gone } = watcher();
    const a = orphanRun(0.2);
    const b = orphanRun(0.2);
    w.sync([a.attempt, b.attempt, "compat:client-1"]);
    await Bun.sleep(50);
    w.sync([b.attempt]);
    await until(() => gone.length === 1);
    await Bun.sleep(250);
    expect(gone.map((g) => g.attempt)).toEqual([b.attempt]);
  });

  test("many runs at once, each reported once when its process ends", async () => {
    const { w, gone } = watcher();
    const runs = Array.from({ length: 40 }, (_, i) => orphanRun(0.1 + (i % 4) * 0.05));
    w.sync(runs.map((r) => r.attempt));
    await until(() => gone.length === runs.length);
    expect(new Set(gone.map((g) => g.attempt))).toEqual(new Set(runs.map((r) => r.attempt)));
  });

  test("runGone reads /proc: alive, exited, and reused pids", () => {
    const live = orphanRun(30);
    expect(runGone(live.attempt)).toBeUndefined();
    expect(runGone("criu:4194000:1")).toBe("CRIU pid 4194000 exited");
    expect(runGone("not-a-run")).toBeUndefined();
    process.kill(live.pid, "SIGKILL");
  });

  test("withStartTime completes a hook's 'criu:<pid>' with the process's start time", () => {
    const live = orphanRun(30);
    expect(withStartTime(`criu:${live.pid}`)).toBe(live.attempt);
    expect(withStartTime(live.attempt)).toBe(live.attempt);
    expect(withStartTime("compat:client-1")).toBe("compat:client-1");
    expect(withStartTime("criu:4194000")).toBe("criu:4194000");
    process.kill(live.pid, "SIGKILL");
  });
});
