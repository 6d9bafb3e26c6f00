/**
 * Hook overhead: process start to exit of the compiled binary, as CRIU runs it (no arguments,
 * CRTOOLS_* variables). Compared with the floor: a compiled Bun program that does nothing.
 *
 * Every kind of call is run once per round, in turn, so that the machine's drift (the floor
 * itself moves between 3 and 5 ms on a busy 2-core machine) touches all of them alike. Besides
 * the absolute times, the table gives each call's time minus the floor's in the same round.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BenchBox, BIN, compileProgram, report, requireBinary, stats } from "./lib.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const WARMUP = 10;

interface Call {
  name: string;
  cmd: string[];
  env: Record<string, string>;
  target: string;
}

function once(c: Call): number {
  const t = performance.now();
  const r = Bun.spawnSync(c.cmd, { env: c.env, stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`${c.name}: exited ${r.exitCode}: ${r.stderr}`);
  return ms;
}

export async function hookStartup(): Promise<void> {
  requireBinary();
  const box = new BenchBox();
  try {
    await box.daemon(`[[group]]\nname = "solo"\nmembers = ["solo-member"]\ntimeout = "30s"\n`);
    const member = box.named("solo-member");
    const other = box.named("unrelated");
    // Separate images directories: the coordinated one gets an identity file at pre-dump.
    const coordinatedImages = join(box.dir, "img-member");
    const otherImages = join(box.dir, "img-other");
    mkdirSync(coordinatedImages);
    mkdirSync(otherImages);
    const base = { PATH: "/usr/bin:/bin", CRIU_COORDINATOR_CONFIG: box.config, CRTOOLS_IMAGE_DIR: otherImages };

    const floorBin = compileProgram(box.dir, "empty", "process.exit(0);\n");

    const coordinated = { ...base, CRTOOLS_IMAGE_DIR: coordinatedImages, CRTOOLS_INIT_PID: String(member) };
    const calls: Call[] = [
      // A one-member group: pre-dump and post-dump are released at once (post-dump commits).
      { name: "hook released at once: pre-dump (1-member group)", cmd: [BIN], env: { ...coordinated, CRTOOLS_SCRIPT_ACTION: "pre-dump" }, target: "≤ 6" },
      { name: "hook released at once: post-dump, the commit", cmd: [BIN], env: { ...coordinated, CRTOOLS_SCRIPT_ACTION: "post-dump" }, target: "≤ 6" },
      { name: "pass-through: unconfigured process at pre-dump", cmd: [BIN], env: { ...base, CRTOOLS_SCRIPT_ACTION: "pre-dump", CRTOOLS_INIT_PID: String(other) }, target: "≤ 5" },
      { name: "pass-through: no configuration file", cmd: [BIN], env: { ...base, CRIU_COORDINATOR_CONFIG: join(box.dir, "none.toml"), CRTOOLS_SCRIPT_ACTION: "pre-dump", CRTOOLS_INIT_PID: String(other) }, target: "≤ 5" },
      { name: "pass-through: later hook of an uncoordinated dump", cmd: [BIN], env: { ...base, CRTOOLS_SCRIPT_ACTION: "network-lock", CRTOOLS_INIT_PID: String(other) }, target: "≤ 5" },
      { name: "floor: compiled Bun program that exits at once", cmd: [floorBin], env: {}, target: "" },
    ];
    const floor = calls.length - 1;
    const times = calls.map(() => [] as number[]);
    const added = calls.map(() => [] as number[]);
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const round = calls.map(once);
      if (i < WARMUP) continue;
      round.forEach((ms, j) => {
        times[j]!.push(ms);
        added[j]!.push(ms - round[floor]!);
      });
    }
    report("hook overhead (process start to exit)", "ms", calls.map((c, j) => [c.name, stats(times[j]!), c.target]));
    report(
      "hook overhead above the floor (same round)",
      "ms",
      calls.slice(0, floor).map((c, j) => [c.name, stats(added[j]!), ""]),
    );
  } finally {
    box.close();
  }
}

if (import.meta.main) await hookStartup();
