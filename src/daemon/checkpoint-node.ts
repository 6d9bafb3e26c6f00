/**
 * This node's part of checkpoint and restore operations: it answers the peer commands of
 * src/operations/peer.ts (from another daemon, or from its own initiator) by scanning /proc,
 * running CRIU for its members and reporting how far each got.
 */
import { existsSync, readFileSync } from "node:fs";
import type { GroupView } from "../barrier/types.ts";
import type { Config } from "../config/schema.ts";
import { parsePeerCommand, type PeerCommand, type RestoreEntry } from "../operations/peer.ts";
import type { MemberProgress } from "../operations/types.ts";
import { ChangeSignal, keyOf } from "../util/change-signal.ts";
import type { Logger } from "../util/log.ts";
import { type CriuOptions, type CriuRun, criuBinary, diskUsage, startDump, startRestore } from "./checkpoint-criu.ts";
import { podmanProblem, startPodmanCheckpoint, startPodmanRestore } from "./checkpoint-podman.ts";
import { imagesMarker } from "./checkpoint-store.ts";
import { isAlive, scanMembers } from "./checkpoint-scan.ts";
import type { OperationStore } from "./checkpoint-store.ts";

export interface NodeContext {
  readonly node: string;
  readonly config: Config;
  readonly log: Logger;
  readonly store: OperationStore;
  /** The engine's view of the group's newest round (for the hook each member reached). */
  readonly groupView: (group: string) => GroupView | undefined;
  readonly now: () => number;
}

interface LocalRun {
  readonly group: string;
  readonly round: "dump" | "restore";
  readonly startedAt: number;
  readonly members: Map<string, MemberProgress>;
}

/** How long a restore waits for the dumped PID to be free (an unreaped zombie holds it). */
const PID_FREE_MS = 10_000;

export class CheckpointNode {
  readonly #runs = new Map<string, LocalRun>();
  readonly #changed = new ChangeSignal();

  constructor(readonly ctx: NodeContext) {}

  /** Something a report may show changed: a member's CRIU run, or a hook in the engine. */
  changed(): void {
    this.#changed.notify();
  }

  /** Runs one peer command; the answer is a plain object ({ error } on failure). */
  async handle(raw: unknown): Promise<Record<string, unknown>> {
    const cmd = parsePeerCommand(raw);
    if (typeof cmd === "string") return { error: cmd };
    try {
      return await this.#run(cmd);
    } catch (e) {
      this.ctx.log.error(`${cmd.c} failed: ${(e as Error).stack ?? e}`);
      return { error: `${cmd.c} failed on node ${this.ctx.node}: ${(e as Error).message}` };
    }
  }

  async #run(cmd: PeerCommand): Promise<Record<string, unknown>> {
    switch (cmd.c) {
      case "scan":
        return this.#scan(cmd.group);
      case "dump":
        return this.#dump(cmd);
      case "restore":
        return this.#restore(cmd);
      case "report": {
        const run = this.#runs.get(cmd.op);
        if (!run) return { error: `Node ${this.ctx.node} runs no part of operation ${cmd.op}` };
        const done = () => [...run.members.values()].every((m) => m.state !== "running");
        const members = await this.#changed.until(() => this.#progress(run), (m) => (done() ? "" : keyOf(m)), cmd.after, cmd.waitMs ?? 0);
        return { members };
      }
      case "list":
        return { operations: this.ctx.store.list(cmd.group) };
      case "check":
        return { missing: cmd.entries.filter((e) => !existsSync(imagesMarker(e))).map((e) => e.member) };
      case "finish": {
        const dir = this.ctx.store.dirOf(cmd.manifest.id);
        if (!dir) return { error: `Node ${this.ctx.node} holds no images of ${cmd.manifest.id}` };
        this.ctx.store.write(dir, cmd.manifest);
        return { ok: true };
      }
    }
  }

  #scan(group: string): Record<string, unknown> {
    const g = this.ctx.config.groups.find((x) => x.name === group);
    if (!g) return { error: `Group "${group}" is not configured on node ${this.ctx.node}` };
    const problems: string[] = [];
    if (!criuBinary()) problems.push("CRIU is not installed (no criu on PATH, no /usr/local/sbin/criu)");
    if (!canRunCriu()) problems.push("this daemon runs without CAP_SYS_ADMIN (the systemd unit's hardening drops every capability), so it can not run CRIU; install the drop-in /usr/share/criu-coordinator/checkpoint-command.conf (see docs/checkpoint.md)");
    const busy = [...this.#runs.values()].find((r) => r.group === group && [...r.members.values()].some((m) => m.state === "running"));
    if (busy) problems.push(`a ${busy.round} of group ${group} is still running here`);
    const op = this.ctx.groupView(group)?.operation;
    if (op?.phase.state === "open") problems.push(`the ${op.kind} round ${op.id} of group ${group} is in flight here`);
    const found = scanMembers(group, this.ctx.config.groups);
    const podman = found.some((f) => f.container) ? podmanProblem() : undefined;
    if (podman) problems.push(podman);
    return { node: this.ctx.node, operationsDir: this.ctx.store.baseDir, found, problems };
  }

  #dump(cmd: Extract<PeerCommand, { c: "dump" }>): Record<string, unknown> {
    const m = cmd.manifest;
    const mine = m.members.filter((x) => x.node === this.ctx.node);
    for (const t of cmd.targets) if (!isAlive(t.pid)) return { error: `${t.member} (pid ${t.pid}) is no longer running on node ${this.ctx.node}` };
    const opDir = this.ctx.store.prepare(m.id, mine.map((x) => x.member), cmd.dir);
    this.ctx.store.write(opDir, m);
    const run = this.#open(m.id, m.group, "dump", mine);
    const o = this.#criu();
    for (const t of cmd.targets) {
      const dir = run.members.get(t.member)!.dir;
      if (t.container) {
        this.ctx.log.info(`${m.id}: checkpointing ${t.member} (Podman container ${t.container.slice(0, 12)}) into ${dir}`);
        this.#track(m.id, run, t.member, startPodmanCheckpoint(t.container, dir, m.leaveRunning, o.env), true);
      } else {
        this.ctx.log.info(`${m.id}: dumping ${t.member} (pid ${t.pid}) into ${dir}`);
        this.#track(m.id, run, t.member, startDump(o, t.pid, dir, m.leaveRunning), true);
      }
    }
    return { ok: true };
  }

  async #restore(cmd: Extract<PeerCommand, { c: "restore" }>): Promise<Record<string, unknown>> {
    let mine: readonly RestoreEntry[];
    if (cmd.entries) {
      mine = cmd.entries;
    } else {
      const m = this.ctx.store.read(cmd.checkpoint);
      if (!m) return { error: `Node ${this.ctx.node} holds no images of ${cmd.checkpoint}` };
      mine = m.members.filter((x) => x.node === this.ctx.node && cmd.members.includes(x.member));
    }
    const unreadable = mine.filter((e) => !existsSync(imagesMarker(e)));
    if (unreadable.length > 0) return { error: `Node ${this.ctx.node} can not read the images of ${unreadable.map((e) => `${e.member} (${e.dir})`).join(", ")}` };
    const run = this.#open(cmd.op, cmd.group, "restore", mine);
    const o = this.#criu();
    for (const x of mine) {
      if (x.container) {
        this.ctx.log.info(`${cmd.op}: restoring ${x.member} (Podman container ${x.container.slice(0, 12)})`);
        void startPodmanRestore(x.container, x.dir, o.env).then((r) => this.#track(cmd.op, run, x.member, r, false));
        continue;
      }
      // CRIU restores the original PID: wait for the dumped process's zombie to be reaped.
      void this.#pidFree(x.pid).then((free) => {
        if (!free) return this.#set(run, x.member, { state: "failed", message: `PID ${x.pid} is still taken on node ${this.ctx.node}; CRIU restores the original PID` });
        this.ctx.log.info(`${cmd.op}: restoring ${x.member} from ${x.dir}`);
        this.#track(cmd.op, run, x.member, startRestore(o, x.dir), false);
      });
    }
    return { ok: true };
  }

  #open(id: string, group: string, round: LocalRun["round"], members: readonly { member: string; pid: number; dir: string; container?: string }[]): LocalRun {
    const run: LocalRun = { group, round, startedAt: this.ctx.now(), members: new Map() };
    for (const x of members) run.members.set(x.member, { member: x.member, node: this.ctx.node, pid: x.pid, dir: x.dir, ...(x.container ? { container: x.container } : {}), state: "running", hook: null });
    this.#runs.set(id, run);
    return run;
  }

  #track(id: string, run: LocalRun, member: string, criu: CriuRun, measure: boolean): void {
    void criu.done.then(({ code, message }) => {
      const dir = run.members.get(member)!.dir;
      this.ctx.log[code === 0 ? "info" : "warn"](`${id}: CRIU for ${member} exited ${code}${message ? `: ${message}` : ""}`);
      this.#set(run, member, { state: code === 0 ? "ok" : "failed", code, ...(message ? { message } : {}), ...(measure ? { bytes: diskUsage(dir) } : {}) });
    });
  }

  #set(run: LocalRun, member: string, change: Partial<MemberProgress>): void {
    const cur = run.members.get(member)!;
    run.members.set(member, { ...cur, hook: this.#hookOf(run, member) ?? cur.hook, ...change });
    this.#changed.notify();
  }

  #progress(run: LocalRun): MemberProgress[] {
    return [...run.members.values()].map((m) => (m.state === "running" ? { ...m, hook: this.#hookOf(run, m.member) ?? m.hook } : m));
  }

  /** The furthest hook of `member` in the engine's round that belongs to this run. */
  #hookOf(run: LocalRun, member: string): string | null {
    const op = this.ctx.groupView(run.group)?.operation;
    if (!op || op.kind !== run.round || op.startedAt < run.startedAt) return null;
    return op.participants.find((p) => p.name === member)?.hook ?? null;
  }

  #criu(): CriuOptions {
    const criu = criuBinary();
    if (!criu) throw new Error("CRIU is not installed");
    const source = this.ctx.config.source;
    // The hooks must find this daemon: they read the same configuration file.
    const env: Record<string, string | undefined> = { ...process.env, ...(source.startsWith("/") ? { CRIU_COORDINATOR_CONFIG: source } : {}) };
    delete env.CRTOOLS_SCRIPT_ACTION;
    return { criu, actionScript: process.execPath, env };
  }

  async #pidFree(pid: number): Promise<boolean> {
    const end = this.ctx.now() + PID_FREE_MS;
    while (existsSync(`/proc/${pid}`)) {
      if (this.ctx.now() > end) return false;
      await Bun.sleep(50);
    }
    return true;
  }
}

/** CRIU needs CAP_SYS_ADMIN (capability 21) among others; without it every dump fails late. */
function canRunCriu(): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << 21n)) !== 0n;
}
