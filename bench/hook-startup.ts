/**
 * Hook overhead: process start to exit of the compiled binary, as CRIU runs it (no arguments,
 * CRTOOLS_* variables). Compared with the floor: a compiled Bun program that does nothing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BenchBox, BIN, report, requireBinary, ROOT, stats } from "./lib.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const WARMUP = 10;

function time(cmd: string[], env: Record<string, string>, expectCode = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const t = performance.now();
    const r = Bun.spawnSync(cmd, { env, stdout: "ignore", stderr: "pipe" });
    const ms = performance.now() - t;
    if (r.exitCode !== expectCode) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
    if (i >= WARMUP) out.push(ms);
  }
  return out;
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

    const floorSrc = join(box.dir, "empty.ts");
    writeFileSync(floorSrc, "process.exit(0);\n");
    const floorBin = join(box.dir, "empty");
    const b = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), "build", "--compile", "--minify", "--bytecode", "--format=esm", floorSrc, "--outfile", floorBin]);
    if (b.exitCode !== 0) throw new Error(`building the floor program failed: ${b.stderr}`);

    // A one-member group: pre-dump and post-dump are released at once (post-dump commits).
    const released: number[] = [];
    for (let i = 0; i < RUNS + WARMUP; i++) {
      for (const hook of ["pre-dump", "post-dump"]) {
        const t = performance.now();
        const r = Bun.spawnSync([BIN], { env: { ...base, CRTOOLS_IMAGE_DIR: coordinatedImages, CRTOOLS_SCRIPT_ACTION: hook, CRTOOLS_INIT_PID: String(member) }, stdout: "ignore", stderr: "pipe" });
        const ms = performance.now() - t;
        if (r.exitCode !== 0) throw new Error(`${hook} exited ${r.exitCode}: ${r.stderr}`);
        if (i >= WARMUP) released.push(ms);
      }
    }
    const passUnconfigured = time([BIN], { ...base, CRTOOLS_SCRIPT_ACTION: "pre-dump", CRTOOLS_INIT_PID: String(other) });
    const passHook = time([BIN], { ...base, CRTOOLS_SCRIPT_ACTION: "pre-resume", CRTOOLS_INIT_PID: String(other) });
    const noConfig = time([BIN], { ...base, CRIU_COORDINATOR_CONFIG: join(box.dir, "none.toml"), CRTOOLS_SCRIPT_ACTION: "pre-dump", CRTOOLS_INIT_PID: String(other) });
    const floor = time([floorBin], {});
    report("hook overhead (process start to exit)", "ms", [
      ["hook released at once (pre-dump/post-dump, 1-member group)", stats(released), "≤ 6"],
      ["pass-through: unconfigured process at pre-dump", stats(passUnconfigured), "≤ 5"],
      ["pass-through: no configuration file", stats(noConfig), "≤ 5"],
      ["pass-through: later hook of an uncoordinated dump", stats(passHook), "≤ 5"],
      ["floor: compiled Bun program that exits at once", stats(floor), ""],
    ]);
  } finally {
    box.close();
  }
}

if (import.meta.main) await hookStartup();
