/** Shared helpers for benchmarks: statistics, tables, results file, a sandboxed daemon. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "..");
export const BIN = join(ROOT, "dist", "criu-coordinator");
const RESULTS = join(ROOT, "bench", "results.json");

export interface Stats {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { n: s.length, median, p99: q(0.99), min: s[0]!, max: s[s.length - 1]! };
}

/** Prints one table row per measurement and remembers it for bench/results.json. */
export function report(title: string, unit: string, rows: [string, Stats, string?][]): void {
  console.log(`\n${title}`);
  const head = ["measurement", `median ${unit}`, `p99 ${unit}`, `min ${unit}`, `max ${unit}`, "n", "target"];
  const body = rows.map(([name, s, target]) => [name, f(s.median), f(s.p99), f(s.min), f(s.max), String(s.n), target ?? ""]);
  const widths = head.map((_, i) => Math.max(head[i]!.length, ...body.map((r) => r[i]!.length)));
  for (const r of [head, ...body]) console.log("  " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  const all = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, "utf8")) : {};
  all[title] = { unit, at: new Date().toISOString(), rows: Object.fromEntries(rows.map(([n, s, t]) => [n, { ...s, target: t ?? null }])) };
  writeFileSync(RESULTS, JSON.stringify(all, null, 2) + "\n");
}

function f(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function requireBinary(): void {
  if (!existsSync(BIN)) {
    const r = Bun.spawnSync(["npm", "run", "build"], { cwd: ROOT });
    if (r.exitCode !== 0) throw new Error("npm run build failed");
  }
}

export class BenchBox {
  readonly dir = mkdtempSync(join(tmpdir(), "ccbench-"));
  readonly socket = join(this.dir, "s.sock");
  readonly config = join(this.dir, "config.toml");
  readonly procs: Subprocess[] = [];

  /** A sleeping process whose comm is `name`. */
  named(name: string): number {
    mkdirSync(join(this.dir, "bin"), { recursive: true });
    const exe = join(this.dir, "bin", name);
    if (!existsSync(exe)) {
      copyFileSync("/bin/sleep", exe);
      chmodSync(exe, 0o755);
    }
    const p = Bun.spawn([exe, "3600"], { stdout: "ignore", stderr: "ignore" });
    this.procs.push(p);
    return p.pid;
  }

  async daemon(groupsToml: string): Promise<Subprocess> {
    writeFileSync(this.config, `[daemon]\nsocket = "${this.socket}"\nlog_level = "error"\n${groupsToml}`);
    const p = Bun.spawn([BIN, "daemon", "--config", this.config], { stdout: "ignore", stderr: "inherit" });
    this.procs.push(p);
    for (let i = 0; i < 500 && !existsSync(this.socket); i++) await Bun.sleep(10);
    await Bun.sleep(50);
    return p;
  }

  close(): void {
    for (const p of this.procs) p.kill("SIGKILL");
  }
}

/**
 * Memory of a process in MiB: VmRSS and its peak VmHWM, split into anonymous memory (the
 * process's own) and file-backed pages (mostly the 100 MiB executable's code and embedded
 * bundle, shared with the page cache and with every other process running the same binary).
 */
export function memoryOf(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024, anon: kb("RssAnon") / 1024, file: kb("RssFile") / 1024 };
}

/** CPU seconds (user + system) a process used so far. */
export function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The daemon's status through its unix socket. */
export async function daemonStatus(socket: string): Promise<any> {
  const { request } = await import("../src/hook/client.ts");
  const res = await request(socket, { v: 1, type: "status" }, 5_000);
  if (res.type !== "status") throw new Error(`status: ${JSON.stringify(res)}`);
  return res.status;
}

/** Polls `pred` every 5 ms until it holds; throws after `ms`. */
export async function waitUntil(what: string, ms: number, pred: () => Promise<boolean>): Promise<void> {
  const end = performance.now() + ms;
  while (!(await pred())) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Compiles `source` the way the product is compiled (bytecode, minified), for floor figures. */
export function compileProgram(dir: string, name: string, source: string): string {
  const src = join(dir, `${name}.ts`);
  writeFileSync(src, source);
  const out = join(dir, name);
  const b = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), "build", "--compile", "--minify", "--bytecode", "--format=esm", src, "--outfile", out]);
  if (b.exitCode !== 0) throw new Error(`building ${name} failed: ${b.stderr}`);
  return out;
}
