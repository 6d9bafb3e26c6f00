/**
 * Added frozen time: a real CRIU dump (--leave-running) of a small process, with and without the
 * coordinator as action-script. CRIU's own `frozen_time` (from the stats-dump image) is the time
 * the process was frozen; from network-lock to post-dump our hook runs inside that window.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { criuBinary, readDumpStats } from "../test/e2e/support/criu.ts";
import { BenchBox, BIN, report, requireBinary, stats } from "./lib.ts";

const RUNS = Number(process.env.BENCH_CRIU_RUNS ?? 15);

export async function frozenTime(): Promise<void> {
  const criu = criuBinary();
  if (!criu || process.getuid?.() !== 0) {
    console.log("\n!! SKIPPING frozen-time benchmark: needs root and CRIU 4.2+ (sudo bash scripts/install-criu.sh)");
    return;
  }
  requireBinary();
  const box = new BenchBox();
  try {
    await box.daemon(`[[group]]\nname = "solo"\nmembers = ["frozen-bench"]\ntimeout = "30s"\n`);
    const pid = box.named("frozen-bench");
    const dump = (i: number, coordinated: boolean): number => {
      const dir = join(box.dir, `img-${coordinated ? "c" : "p"}-${i}`);
      mkdirSync(dir, { recursive: true });
      const args = [criu, "dump", "-t", String(pid), "-D", dir, "--leave-running", "--shell-job", "-o", "dump.log", ...(coordinated ? ["--action-script", BIN] : [])];
      const r = Bun.spawnSync(args, { env: { ...process.env, CRIU_COORDINATOR_CONFIG: box.config }, stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`criu dump exited ${r.exitCode}; see ${dir}/dump.log`);
      const st = readDumpStats(dir);
      if (!st) throw new Error(`no stats-dump in ${dir}`);
      rmSync(dir, { recursive: true, force: true });
      return st.frozenTimeUs / 1000;
    };
    const plain: number[] = [];
    const coord: number[] = [];
    dump(0, false);
    dump(0, true);
    for (let i = 0; i < RUNS; i++) {
      plain.push(dump(i, false));
      coord.push(dump(i, true));
    }
    const added = coord.map((c, i) => c - plain[i]!);
    report("added frozen time: criu dump --leave-running of a small process", "ms", [
      ["frozen_time without the coordinator", stats(plain), ""],
      ["frozen_time with the coordinator as action-script", stats(coord), ""],
      ["added by the coordinator (paired runs)", stats(added), "≤ 15"],
    ]);
  } finally {
    box.close();
  }
}

if (import.meta.main) await frozenTime();
