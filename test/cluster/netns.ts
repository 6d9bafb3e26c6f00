/**
 * Network namespaces for multi-node tests: a hub namespace with a bridge, one namespace per node
 * joined to it by a veth pair, addresses 10.214.X.N/24. Names are unique per run; `destroy()`
 * removes every namespace (and with them the veths and the bridge), whatever state it is in.
 */
import { generateKey } from "../../src/gossip/keyring.ts";

export function canUseNetns(): boolean {
  return process.getuid?.() === 0 && Bun.spawnSync(["ip", "netns", "list"]).exitCode === 0;
}

function ip(...args: string[]): void {
  const r = Bun.spawnSync(["ip", ...args], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr.toString().trim()}`);
}

export class Lab {
  readonly tag = `cc${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  readonly subnet = `10.214.${(process.pid + Math.floor(Math.random() * 250)) % 250}`;
  readonly hub = `${this.tag}h`;
  readonly key = generateKey();
  readonly namespaces: string[] = [];
  readonly procs: LabNode[] = [];

  /** Creates `n` node namespaces; returns their addresses. */
  build(n: number): string[] {
    ip("netns", "add", this.hub);
    this.namespaces.push(this.hub);
    ip("-n", this.hub, "link", "add", "br0", "type", "bridge");
    ip("-n", this.hub, "link", "set", "br0", "up");
    const addrs: string[] = [];
    for (let i = 1; i <= n; i++) {
      const ns = this.ns(i);
      ip("netns", "add", ns);
      this.namespaces.push(ns);
      ip("link", "add", `${this.tag}n${i}`, "netns", ns, "type", "veth", "peer", "name", `${this.tag}b${i}`, "netns", this.hub);
      ip("-n", ns, "addr", "add", `${this.subnet}.${i}/24`, "dev", `${this.tag}n${i}`);
      ip("-n", ns, "link", "set", `${this.tag}n${i}`, "up");
      ip("-n", ns, "link", "set", "lo", "up");
      ip("-n", this.hub, "link", "set", `${this.tag}b${i}`, "master", "br0");
      ip("-n", this.hub, "link", "set", `${this.tag}b${i}`, "up");
      addrs.push(`${this.subnet}.${i}:7946`);
    }
    return addrs;
  }

  ns(i: number): string {
    return `${this.tag}${i}`;
  }

  /** Cuts (or restores) node i's link to the bridge. */
  link(i: number, up: boolean): void {
    ip("-n", this.ns(i), "link", "set", `${this.tag}n${i}`, up ? "up" : "down");
  }

  start(i: number, name: string, listen: string, peers: string[], members: string[], key = this.key): LabNode {
    const proc = Bun.spawn(
      ["nsenter", `--net=/run/netns/${this.ns(i)}`, process.execPath, "test/cluster/node.ts", name, listen, peers.join(",") || "-", key, members.join(",")],
      { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
    );
    const node = new LabNode(proc);
    this.procs.push(node);
    return node;
  }

  destroy(): void {
    for (const p of this.procs) p.kill();
    for (const ns of this.namespaces.reverse()) Bun.spawnSync(["ip", "netns", "del", ns]);
  }
}

export class LabNode {
  readonly lines: string[] = [];
  #waiters: (() => void)[] = [];

  constructor(readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">) {
    void this.#read();
  }

  async #read(): Promise<void> {
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += new TextDecoder().decode(chunk);
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        for (const w of this.#waiters.splice(0)) w();
      }
    }
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
  }

  /** Waits for a line starting with `prefix`; returns it. */
  async expectLine(prefix: string, timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => l.startsWith(prefix));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`Timed out waiting for "${prefix}": got ${JSON.stringify(this.lines.slice(-5))}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async status(): Promise<{ nodes: { name: string; state: string }[] }> {
    const before = this.lines.length;
    this.send("status");
    for (;;) {
      const l = this.lines.slice(before).find((x) => x.startsWith("status "));
      if (l) return JSON.parse(l.slice(7));
      await Bun.sleep(20);
    }
  }

  kill(): void {
    try {
      this.proc.kill(9);
    } catch {
      // already gone
    }
  }
}
