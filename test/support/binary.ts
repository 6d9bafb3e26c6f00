/**
 * Test support for the compiled binary: builds it when missing or older than the sources, starts
 * real daemon processes and real hook processes with CRTOOLS_* variables.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist", "criu-coordinator");

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/criu-coordinator unless it is newer than every file under src/. */
export function ensureBinary(): string {
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= newestSource(join(ROOT, "src"))) return BIN;
  const r = Bun.spawnSync(["npm", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
  return BIN;
}

export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), "ccoord-"));
  readonly socket = join(this.dir, "coordinator.sock");
  readonly configFile = join(this.dir, "config.toml");
  readonly procs: Subprocess[] = [];

  writeConfig(groupsToml: string, extra = ""): void {
    writeFileSync(this.configFile, `[daemon]\nsocket = "${this.socket}"\nlog_level = "debug"\n${extra}\n${groupsToml}`);
  }

  /** A sleeping process whose comm is `name` (the kernel takes comm from the executable's name). */
  spawnNamed(name: string): number {
    const binDir = join(this.dir, "bin");
    mkdirSync(binDir, { recursive: true });
    const exe = join(binDir, name);
    if (!existsSync(exe)) {
      copyFileSync("/bin/sleep", exe);
      chmodSync(exe, 0o755);
    }
    const p = Bun.spawn([exe, "600"], { stdout: "ignore", stderr: "ignore" });
    this.procs.push(p);
    return p.pid;
  }

  imagesDir(name: string): string {
    const d = join(this.dir, "img", name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  async startDaemon(): Promise<Daemon> {
    const proc = Bun.spawn([ensureBinary(), "daemon", "--config", this.configFile], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    this.procs.push(proc);
    const d = new Daemon(proc, this);
    await d.ready();
    return d;
  }

  /** Runs the binary as CRIU would: no arguments, CRTOOLS_* in the environment. */
  hook(hook: string, opts: { pid?: number; images: string; env?: Record<string, string> }): HookRun {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      CRIU_COORDINATOR_CONFIG: this.configFile,
      CRTOOLS_SCRIPT_ACTION: hook,
      CRTOOLS_IMAGE_DIR: opts.images,
      ...(opts.pid ? { CRTOOLS_INIT_PID: String(opts.pid) } : {}),
      ...opts.env,
    };
    const started = performance.now();
    const proc = Bun.spawn([ensureBinary()], { env, cwd: opts.images, stdout: "pipe", stderr: "pipe" });
    this.procs.push(proc);
    const done = (async () => {
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      return { code, output: out + err, ms: performance.now() - started, endedAt: performance.now() };
    })();
    let finished = false;
    done.then(() => (finished = true));
    return { proc, done, get finished() { return finished; } };
  }

  cleanup(): void {
    for (const p of this.procs) {
      try {
        p.kill("SIGKILL");
      } catch {}
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface HookResult {
  code: number;
  output: string;
  ms: number;
  endedAt: number;
}

export interface HookRun {
  proc: Subprocess;
  done: Promise<HookResult>;
  readonly finished: boolean;
}

export class Daemon {
  #log = "";
  constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly box: Sandbox,
  ) {
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) this.#log += new TextDecoder().decode(chunk);
    };
    collect(proc.stdout);
    collect(proc.stderr);
  }

  get log(): string {
    return this.#log;
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.proc.exitCode !== null) throw new Error(`daemon exited with ${this.proc.exitCode}:\n${this.#log}`);
      if (existsSync(this.box.socket) && (await this.status().catch(() => null))) return;
      await Bun.sleep(20);
    }
    throw new Error(`daemon not ready after ${timeoutMs}ms:\n${this.#log}`);
  }

  async status(): Promise<any> {
    const r = Bun.spawn([BIN, "status", "--json", "--socket", this.box.socket], { stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([r.exited, new Response(r.stdout).text()]);
    if (code !== 0) throw new Error(`status exited ${code}`);
    return JSON.parse(out);
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    this.proc.kill(signal);
    return await this.proc.exited;
  }
}

/** Waits until `pred` holds, polling; for observing other processes only. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await Bun.sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}
