/**
 * The real coordinator for the e2e tests: `dist/criu-coordinator daemon` with a TOML file in the
 * lab dir, and the same binary as CRIU's --action-script. The hook finds the file through
 * CRIU_COORDINATOR_CONFIG, which CRIU passes on to its action scripts (they inherit its env).
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, ensureBinary } from "../../support/binary.ts";
import { run, waitFor } from "./proc.ts";

export { BIN as COORDINATOR_BIN, ensureBinary };

/** Where and how a daemon is started. */
export interface DaemonStartOptions {
  /** Run the daemon inside this network namespace (`/run/netns/X`), as a node's daemon. */
  netnsPath?: string;
  /** More environment for the daemon (e.g. CRIU_COORDINATOR_OPERATIONS_DIR). */
  env?: Record<string, string>;
}

/** A running `criu-coordinator daemon` and the configuration it was started with. */
export class CoordinatorDaemon {
  readonly configPath: string;
  readonly socket: string;
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  #log = "";

  private constructor(dir: string, groupsToml: string, opts: DaemonStartOptions) {
    this.configPath = join(dir, "config.toml");
    this.socket = join(dir, "coord.sock");
    writeFileSync(this.configPath, `[daemon]\nsocket = "${this.socket}"\nlog_level = "debug"\n\n${groupsToml}`);
    // nsenter --net only switches the netns: the socket in the lab dir stays reachable from the host.
    const prefix = opts.netnsPath ? ["nsenter", `--net=${opts.netnsPath}`] : [];
    this.proc = Bun.spawn([...prefix, ensureBinary(), "daemon", "--config", this.configPath], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
    });
    for (const s of [this.proc.stdout, this.proc.stderr]) void this.#collect(s);
  }

  async #collect(s: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of s) this.#log += dec.decode(chunk);
  }

  /**
   * Writes the config (daemon section + `groupsToml`, which may hold a `[cluster]` table) into
   * `dir`, starts the daemon, waits until it answers.
   */
  static async start(dir: string, groupsToml: string, opts: DaemonStartOptions = {}): Promise<CoordinatorDaemon> {
    const d = new CoordinatorDaemon(dir, groupsToml, opts);
    await waitFor("the coordinator daemon to answer status", async () => {
      if (d.proc.exitCode !== null) throw new Error(`Daemon exited with ${d.proc.exitCode}: ${d.log}`);
      return existsSync(d.socket) && (await d.status().catch(() => null)) !== null;
    }, { timeoutMs: 10_000, everyMs: 50, state: () => d.log });
    return d;
  }

  /** Everything the daemon printed so far. */
  get log(): string {
    return this.#log;
  }

  /** The environment CRIU needs so that the action-script finds this daemon. */
  get env(): Record<string, string> {
    return { CRIU_COORDINATOR_CONFIG: this.configPath, NO_COLOR: "1" };
  }

  /** `criu-coordinator status --json`. */
  async status(): Promise<Record<string, unknown>> {
    const r = await run([BIN, "status", "--json", "--socket", this.socket]);
    if (r.code !== 0) throw new Error(`Status failed: exit ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** SIGTERM, then SIGKILL after 3 s; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 3_000);
    await this.proc.exited;
    clearTimeout(t);
    return this.proc.exitCode;
  }
}
