/**
 * npm run bench: every benchmark in turn. Each prints a table (median, p99, min, max) and adds its
 * figures to bench/results.json. Medians on a noisy 2-core machine: compare ratios, not digits.
 *   npm run bench                  all
 *   npm run bench -- hook scale    some (hook, barrier, scale, cluster, frozen, backends, gossip)
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { backends } from "./backends.ts";
import { clusterScale } from "./cluster-scale.ts";
import { frozenTime } from "./frozen-time.ts";
import { hookStartup } from "./hook-startup.ts";
import { ROOT } from "./lib.ts";
import { localBarrier } from "./local-barrier.ts";
import { scale } from "./scale.ts";

const BENCHES: Record<string, () => Promise<void>> = {
  hook: hookStartup,
  barrier: localBarrier,
  scale,
  cluster: clusterScale,
  frozen: frozenTime,
  backends,
  gossip: async () => {
    for (const f of ["bench/gossip-release.ts", "bench/gossip-daemons.ts"]) {
      if (!existsSync(join(ROOT, f))) continue;
      const r = Bun.spawnSync([process.execPath, f], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
      if (r.exitCode !== 0) throw new Error(`${f} exited ${r.exitCode}`);
    }
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in BENCHES));
if (unknown.length) {
  console.error(`Unknown benchmark ${unknown.join(", ")}; choose from: ${Object.keys(BENCHES).join(", ")}`);
  process.exit(2);
}
if (wanted.length === 0) rmSync(join(ROOT, "bench", "results.json"), { force: true });
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) await BENCHES[name]!();
console.log(`\nFigures written to bench/results.json`);
