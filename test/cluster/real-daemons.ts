/**
 * The real compiled daemon, federated: one `criu-coordinator daemon` per network namespace (a
 * bridge joins them, see netns.ts), a cluster key file, one member per node (alpha on n1, …).
 * Tests drive it with real hook processes (`hook`) or at the protocol level through each daemon's
 * unix socket (`arrive`, `status`), which sits on the shared file system. Needs root and iproute2.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { request } from "../../src/hook/client.ts";
import { PROTOCOL_VERSION, type ResultResponse } from "../../src/protocol/messages.ts";
import { ensureBinary, type HookRun, Sandbox, until } from "../support/binary.ts";
import { Lab } from "./netns.ts";

export const MEMBERS = ["alpha", "bravo", "charlie"];

export interface RealNode {
  readonly name: string;
  readonly config: string;
  readonly socket: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  log: () => string;
}

/** A result with the time it arrived (performance.now()). */
export type Timed = ResultResponse & { at: number };

export class RealCluster {
  readonly lab = new Lab();
  readonly box = new Sandbox();
  readonly nodes: RealNode[] = [];
  readonly addrs: string[];
  readonly keyFile: string;

  constructor(readonly size = 3, readonly timeout = "10s") {
    this.addrs = this.lab.build(size);
    this.keyFile = join(this.box.dir, "cluster.key");
    writeFileSync(this.keyFile, `${this.lab.key}\n`, { mode: 0o600 });
    for (let i = 1; i <= size; i++) {
      const socket = join(this.box.dir, `n${i}.sock`);
      const config = join(this.box.dir, `n${i}.toml`);
      const peers = this.addrs.filter((_, j) => j !== i - 1).map((a) => `"${a}"`).join(", ");
      const members = MEMBERS.slice(0, size).map((m) => `"${m}"`).join(", ");
      writeFileSync(
        config,
        `[daemon]\nsocket = "${socket}"\nlog_level = "debug"\n\n[cluster]\nnode = "n${i}"\nlisten = "${this.addrs[i - 1]}"\npeers = [${peers}]\nkey_file = "${this.keyFile}"\n\n[[group]]\nname = "trio"\nmembers = [${members}]\ntimeout = "${timeout}"\n`,
      );
      this.nodes.push({ name: `n${i}`, config, socket, proc: undefined!, log: () => "" });
    }
  }

  /** Starts every daemon and waits until each sees the whole cluster alive. */
  async start(): Promise<this> {
    for (let i = 0; i < this.size; i++) this.startDaemon(i);
    for (const n of this.nodes) await this.waitWhole(n);
    return this;
  }

  /** (Re)starts node i's daemon in its namespace. */
  startDaemon(i: number): RealNode {
    const n = this.nodes[i]!;
    n.proc = Bun.spawn(["nsenter", `--net=/run/netns/${this.lab.ns(i + 1)}`, ensureBinary(), "daemon", "--config", n.config], { stdout: "pipe", stderr: "pipe" });
    let text = "";
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) text += new TextDecoder().decode(c);
    };
    void collect(n.proc.stdout);
    void collect(n.proc.stderr);
    n.log = () => text;
    return n;
  }

  async waitWhole(n: RealNode, timeoutMs = 20_000): Promise<void> {
    await until(async () => {
      const st = await this.status(n).catch(() => null);
      return st?.cluster?.nodes?.filter((x: { state: string }) => x.state === "alive").length === this.size;
    }, timeoutMs, `${n.name} to see the whole cluster; log:\n${n.log()}`);
  }

  /** The daemon's status object, straight from its socket. */
  async status(n: RealNode): Promise<any> {
    const res = await request(n.socket, { v: PROTOCOL_VERSION, type: "status" }, 2_000);
    if (res.type !== "status") throw new Error(`status of ${n.name}: ${JSON.stringify(res)}`);
    return res.status;
  }

  /** A hook call at the protocol level: `member` on node i reached `hook`. */
  arrive(i: number, member: string, hook: string, attempt = `test-${member}`): Promise<Timed> {
    const req = { v: PROTOCOL_VERSION, type: "arrive", group: "trio", participant: member, hook, attempt } as const;
    return request(this.nodes[i]!.socket, req, 30_000).then((r) => {
      if (r.type !== "result") throw new Error(`${member} at ${hook}: ${JSON.stringify(r)}`);
      return { ...r, at: performance.now() };
    });
  }

  /** A real hook process of `member` on node i, as CRIU runs it there. */
  hook(i: number, action: string, pid: number | undefined, images: string): HookRun {
    return this.box.hook(action, { images, ...(pid ? { pid } : {}), env: { CRIU_COORDINATOR_CONFIG: this.nodes[i]!.config } });
  }

  /** Waits until node i holds `count` waiting hook calls. */
  async waiting(i: number, count: number, timeoutMs = 10_000): Promise<void> {
    await until(async () => (await this.status(this.nodes[i]!)).waiting === count, timeoutMs, `${count} call(s) waiting on n${i + 1}`);
  }

  /** Drops `probability` of the packets every node receives; "netem" when tc netem works, else iptables. */
  lossy(probability: number): "netem" | "iptables" {
    const pct = `${probability * 100}%`;
    const netem = Array.from({ length: this.size }, (_, i) =>
      Bun.spawnSync(["tc", "-n", this.lab.ns(i + 1), "qdisc", "add", "dev", `${this.lab.tag}n${i + 1}`, "root", "netem", "loss", pct], { stderr: "pipe" }).exitCode === 0,
    );
    if (netem.every(Boolean)) return "netem";
    for (let i = 1; i <= this.size; i++) {
      Bun.spawnSync(["tc", "-n", this.lab.ns(i), "qdisc", "del", "dev", `${this.lab.tag}n${i}`, "root"], { stderr: "pipe" });
      const r = Bun.spawnSync(
        ["ip", "netns", "exec", this.lab.ns(i), "iptables", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", String(probability), "-j", "DROP"],
        { stderr: "pipe" },
      );
      if (r.exitCode !== 0) throw new Error(`Neither tc netem nor iptables statistic works: ${r.stderr.toString().trim()}`);
    }
    return "iptables";
  }

  /** Packets the iptables loss rules dropped on every node so far (undefined with netem). */
  droppedPackets(): number | undefined {
    let total = 0;
    for (let i = 1; i <= this.size; i++) {
      const r = Bun.spawnSync(["ip", "netns", "exec", this.lab.ns(i), "iptables", "-L", "INPUT", "-v", "-x", "-n"], { stdout: "pipe", stderr: "pipe" });
      const rule = r.stdout.toString().split("\n").find((l) => l.includes("statistic"));
      if (!rule) return undefined;
      total += Number(rule.trim().split(/\s+/)[0]);
    }
    return total;
  }

  destroy(): void {
    for (const n of this.nodes) n.proc?.kill("SIGKILL");
    this.lab.destroy();
    this.box.cleanup();
  }
}

/** Tells whether tc netem or iptables can drop packets here (for the skip message). */
export function canDropPackets(): boolean {
  return Bun.spawnSync(["iptables", "-V"], { stdout: "pipe", stderr: "pipe" }).exitCode === 0 || Bun.spawnSync(["tc", "-V"], { stdout: "pipe" }).exitCode === 0;
}

/** p-th percentile of `xs` (nearest rank). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
