/**
 * Scale on one daemon: 1,000 participants in 100 groups of 10 go through a whole dump sequence
 * (pre-dump, network-lock, post-dump) at the protocol level, all groups at once. Reports the time
 * per sequence, the daemon's CPU time and its memory: idle, and peak with every participant in
 * flight.
 */
import { arrive } from "./local-barrier.ts";
import { join } from "node:path";
import { BenchBox, compileProgram, cpuOf, memoryOf, report, requireBinary, stats } from "./lib.ts";

const GROUPS = 100;
const SIZE = 10;
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 5);

export async function scale(): Promise<void> {
  requireBinary();
  const box = new BenchBox();
  try {
    const groups = Array.from({ length: GROUPS }, (_, g) => ({ name: `g${g}`, members: Array.from({ length: SIZE }, (_, m) => `g${g}-m${m}`) }));
    const toml = groups.map((g) => `[[group]]\nname = "${g.name}"\nmembers = [${g.members.map((m) => `"${m}"`).join(", ")}]\ntimeout = "60s"\n`).join("\n");
    const daemon = await box.daemon(toml);
    await Bun.sleep(1000);
    const idle = memoryOf(daemon.pid);
    const seqMs: number[] = [];
    let inFlightRss = 0;
    let inFlightAnon = 0;
    const cpu0 = cpuOf(daemon.pid);
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      for (const hook of ["pre-dump", "network-lock", "post-dump"]) {
        // Connect in batches: a burst of 1,000 connects overflows the socket's listen backlog
        // (hook processes never arrive that tightly; they also retry).
        const calls: ReturnType<typeof arrive>[] = [];
        const all = groups.flatMap((g) => g.members.map((m) => [g.name, m] as const));
        for (let i = 0; i < all.length; i += 100) {
          const batch = all.slice(i, i + 100).map(([g, m]) => arrive(box.socket, g, m, hook, `r${round}`));
          await Promise.all(batch.map((c) => c.sent));
          calls.push(...batch);
        }
        // Sample memory while the calls of this hook are held or being answered.
        const m = memoryOf(daemon.pid);
        inFlightRss = Math.max(inFlightRss, m.rss);
        inFlightAnon = Math.max(inFlightAnon, m.anon);
        const res = await Promise.all(calls.map((c) => c.done));
        const bad = res.filter((r) => r.res.type !== "result" || !r.res.ok);
        if (bad.length) throw new Error(`round ${round} ${hook}: ${bad.length} calls not released: ${JSON.stringify(bad[0]!.res)}`);
      }
      seqMs.push(performance.now() - t0);
    }
    const cpu = cpuOf(daemon.pid) - cpu0;
    const mem = memoryOf(daemon.pid);
    // The floor: a compiled Bun program that listens on a unix socket and does nothing else.
    const floorBin = compileProgram(box.dir, "idle", `Bun.listen({ unix: ${JSON.stringify(join(box.dir, "idle.sock"))}, socket: { data() {} } });\nsetInterval(() => {}, 1 << 30);\n`);
    const floorProc = Bun.spawn([floorBin], { stdout: "ignore", stderr: "inherit" });
    box.procs.push(floorProc);
    await Bun.sleep(1000);
    const floor = memoryOf(floorProc.pid);
    report(`scale: ${GROUPS * SIZE} participants in ${GROUPS} groups on one daemon`, "", [
      ["whole dump sequence, 3 barriers × 1,000 calls (ms)", stats(seqMs), ""],
      ["daemon CPU per sequence (ms)", stats([(cpu * 1000) / ROUNDS]), ""],
      ["daemon RSS idle (MiB)", stats([idle.rss]), "≤ 30"],
      ["  of which anonymous (MiB)", stats([idle.anon]), ""],
      ["  of which file-backed: the executable's pages (MiB)", stats([idle.file]), ""],
      ["floor: RSS of an idle compiled Bun program that listens (MiB)", stats([floor.rss]), ""],
      ["  of which anonymous (MiB)", stats([floor.anon]), ""],
      ["daemon RSS, 1,000 participants in flight (MiB)", stats([inFlightRss]), "≤ 80"],
      ["  of which anonymous (MiB)", stats([inFlightAnon]), ""],
      ["daemon peak RSS, VmHWM (MiB)", stats([mem.peak]), "≤ 80"],
    ]);
  } finally {
    box.close();
  }
}

if (import.meta.main) await scale();
