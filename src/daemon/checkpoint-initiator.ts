/**
 * The daemon a `checkpoint` or `restore` command talks to runs the operation across the cluster:
 * it asks every node (itself included) to scan, refuses before anything is frozen when a node is
 * unreachable or a member is not running, starts every node's CRIU runs at once, follows their
 * progress (long polls: each node answers when its members' progress changes) for the CLI, and
 * records the outcome in every node's manifest.
 */
import { join } from "node:path";
import type { ClusterStatus } from "../cluster/backend.ts";
import type { GroupConfig } from "../config/schema.ts";
import type { RequestBody } from "../gossip/requests.ts";
import { finalManifest, initialManifest, newestOf, outcomeOf, restoreProblems, withRestore } from "../operations/manifest.ts";
import type { PeerCommand, RestoreEntry } from "../operations/peer.ts";
import { placeMembers, type Placement } from "../operations/placement.ts";
import { memberDirName, type NodeScan, operationId, planCheckpoint } from "../operations/plan.ts";
import type { Manifest, ManifestMember, MemberProgress, OperationSnapshot, StoredOperation } from "../operations/types.ts";
import { ChangeSignal, keyOf } from "../util/change-signal.ts";
import type { Logger } from "../util/log.ts";
import type { CheckpointNode } from "./checkpoint-node.ts";

/** The cluster as the initiator needs it (GossipBackend provides both). */
export interface PeerLink {
  status(): ClusterStatus;
  ask(node: string, body: RequestBody, timeoutMs: number): Promise<RequestBody>;
}

export interface InitiatorOptions {
  readonly self: string;
  readonly local: CheckpointNode;
  readonly peers?: PeerLink;
  readonly groups: readonly GroupConfig[];
  readonly log: Logger;
}

/** Scan, start and list answers: a node that is slower is unreachable for our purpose. */
const ASK_MS = 3_000;
/** How long a node holds a progress report that has not changed (a long poll). */
const LONG_POLL_MS = 10_000;
/** After a node failed to answer, before it is asked again. */
const RETRY_MS = 500;
/** A node silent for this long beyond the group timeout has lost its members' runs for us. */
const SILENCE_GRACE_MS = 15_000;

/** Replies by node; why each silent node is unreachable, and those nodes' names. */
type Answers = { replies: Map<string, RequestBody>; unreachable: string[]; unreachableNodes: Set<string> };

export class Initiator {
  readonly #ops = new Map<string, OperationSnapshot>();
  readonly #changed = new ChangeSignal();
  readonly #busy = new Set<string>();

  constructor(readonly o: InitiatorOptions) {}

  snapshot(id: string): OperationSnapshot | undefined {
    return this.#ops.get(id);
  }

  /** The snapshot once it differs from the one whose keyOf() is `after` (or after `waitMs`). */
  nextSnapshot(id: string, after: string | undefined, waitMs: number): Promise<OperationSnapshot | undefined> {
    return this.#changed.until(() => this.#ops.get(id), (s) => (s ? keyOf(s) : ""), after, waitMs);
  }

  /** Starts a checkpoint of `group`; the snapshot to poll, or why nothing was started. */
  async checkpoint(group: string, leaveRunning: boolean, dir?: string): Promise<OperationSnapshot | string> {
    const g = this.#group(group);
    if (typeof g === "string") return g;
    this.#busy.add(group);
    try {
      const { replies, unreachable } = await this.#askAll({ c: "scan", group });
      const scans = [...replies].map(([node, r]) => ({ node, found: r.found, problems: r.problems, operationsDir: r.operationsDir }) as NodeScan & { operationsDir: string });
      const plan = planCheckpoint(g.members, scans, unreachable);
      if (!plan.ok) {
        this.#busy.delete(group);
        return `Refusing to checkpoint group "${group}"; nothing was frozen:\n${plan.problems.map((p) => `  - ${p}`).join("\n")}`;
      }
      const id = operationId(group, new Date());
      const members: MemberProgress[] = plan.assignments.map((a) => {
        const base = dir ?? join(scans.find((s) => s.node === a.node)!.operationsDir, id);
        return { member: a.member, node: a.node, pid: a.pid, dir: join(base, memberDirName(a.member)), ...(a.container ? { container: a.container } : {}), state: "planned", hook: null };
      });
      const manifest = initialManifest(id, group, new Date().toISOString(), leaveRunning, members);
      const snap: OperationSnapshot = { id, kind: "checkpoint", group, checkpoint: id, state: "running", startedAt: manifest.createdAt, leaveRunning, members };
      this.#ops.set(id, snap);
      this.o.log.info(`${id}: checkpoint of ${members.map((m) => `${m.member}@${m.node} (pid ${m.pid})`).join(", ")}`);
      const starts = manifest.nodes.map((node) => {
        const targets = plan.assignments.filter((a) => a.node === node).map((a) => ({ member: a.member, pid: a.pid, ...(a.container ? { container: a.container } : {}) }));
        return this.#call(node, { c: "dump", manifest, targets, ...(dir ? { dir } : {}) });
      });
      void this.#follow(snap, g, starts, manifest);
      return snap;
    } catch (e) {
      this.#busy.delete(group);
      throw e;
    }
  }

  /** Starts a restore of `group` from `from` (default: its newest checkpoint). */
  async restore(group: string, from?: string, placement: Placement = {}): Promise<OperationSnapshot | string> {
    const g = this.#group(group);
    if (typeof g === "string") return g;
    this.#busy.add(group);
    try {
      const refuse = (problems: string[]) => {
        this.#busy.delete(group);
        return `Refusing to restore group "${group}"; nothing was started:\n${problems.map((p) => `  - ${p}`).join("\n")}`;
      };
      const listed = await this.#askAll({ c: "list", group });
      const copies = [...listed.replies.values()].flatMap((r) => r.operations as StoredOperation[]);
      const chosen = from ? copies.find((c) => c.manifest.id === from)?.manifest : newestOf(group, copies);
      if (!chosen) return refuse([...listed.unreachable, from ? `no reachable node holds operation ${from}` : `no reachable node holds a checkpoint of group ${group}`]);
      const nodes = new Map((this.o.peers?.status().nodes ?? [{ name: this.o.self, state: "alive" as const }]).map((n) => [n.name, n.state]));
      const { placed, needed, problems } = placeMembers(chosen.members, placement, nodes);
      const targets = new Set(placed.map((p) => p.target));
      // Only the nodes that restore a member must answer; a gone node whose members all moved may not.
      const silent = [...listed.unreachableNodes].filter((n) => needed.has(n) || targets.has(n));
      problems.push(...listed.unreachable.filter((u) => silent.some((n) => u.startsWith(`node ${n} `) || u.startsWith(`node ${n}:`))));
      const gone = chosen.members.filter((m) => silent.includes(m.node) && !(m.member in placement)).map((m) => m.member);
      if (gone.length > 0) problems.push(`to restore ${gone.join(", ")} on another node, name it: --on ${gone.map((m) => `${m}=NODE`).join(",")} (the images must be readable there at the same path, e.g. a checkpoint made with --dir on shared storage)`);
      problems.push(...restoreProblems(chosen.id, copies, needed));
      for (const node of targets) {
        const moved = placed.filter((p) => p.target === node && p.node !== node);
        if (moved.length === 0 || silent.includes(node)) continue;
        const r = await this.#call(node, { c: "check", entries: moved.map(entryOf) }).catch((e: Error): RequestBody => ({ error: e.message }));
        if (typeof r.error === "string") problems.push(`node ${node}: ${r.error}`);
        for (const member of (r.missing as string[] | undefined) ?? []) problems.push(`node ${node} can not read the images of ${member} at ${placed.find((p) => p.member === member)!.dir}: restoring it there needs them on storage that node reads`);
      }
      const scan = await this.#askAll({ c: "scan", group });
      for (const [node, r] of scan.replies) {
        for (const f of r.found as NodeScan["found"]) problems.push(`member ${f.member} is running on node ${node} (pid ${f.roots.join(", ")}): restoring it would make a second copy; stop it first`);
      }
      if (problems.length > 0) return refuse([...new Set(problems)]);
      const id = operationId(group, new Date());
      const members: MemberProgress[] = placed.map((m) => ({ member: m.member, node: m.target, pid: m.pid, dir: m.dir, ...(m.container ? { container: m.container } : {}), state: "planned", hook: null }));
      const snap: OperationSnapshot = { id, kind: "restore", group, checkpoint: chosen.id, state: "running", startedAt: new Date().toISOString(), members };
      this.#ops.set(id, snap);
      this.o.log.info(`${id}: restore of ${chosen.id}: ${members.map((m) => `${m.member}@${m.node}`).join(", ")}`);
      const starts = [...targets].sort().map((node) => {
        const here = placed.filter((p) => p.target === node);
        return this.#call(node, { c: "restore", op: id, checkpoint: chosen.id, group, members: here.map((p) => p.member), entries: here.map(entryOf) });
      });
      void this.#follow(snap, g, starts, chosen);
      return snap;
    } catch (e) {
      this.#busy.delete(group);
      throw e;
    }
  }

  /** Every operation the reachable nodes hold, one entry per node copy. */
  async list(group?: string): Promise<{ operations: StoredOperation[]; unreachable: string[] }> {
    const { replies, unreachable } = await this.#askAll({ c: "list", ...(group ? { group } : {}) });
    return { operations: [...replies.values()].flatMap((r) => r.operations as StoredOperation[]), unreachable };
  }

  #group(group: string): GroupConfig | string {
    const g = this.o.groups.find((x) => x.name === group);
    if (!g) return `Group "${group}" is not configured (known: ${this.o.groups.map((x) => x.name).join(", ") || "none"})`;
    if (this.#busy.has(group)) return `An operation of group "${group}" is already running from this node`;
    return g;
  }

  /** Follows the nodes' runs until every member ended, then records the outcome everywhere. */
  async #follow(snap: OperationSnapshot, g: GroupConfig, starts: Promise<RequestBody>[], manifest: Manifest): Promise<void> {
    // In the order the starts were made: by node name.
    const nodes = [...new Set(snap.members.map((m) => m.node))].sort();
    let members = [...snap.members];
    const started = await Promise.all(starts.map((p) => p.catch((e: Error) => ({ error: e.message }))));
    started.forEach((r, i) => {
      if (typeof r.error !== "string") return;
      members = members.map((m) => (m.node === nodes[i] ? { ...m, state: "failed", message: r.error as string } : m));
    });
    const publish = () => {
      this.#ops.set(snap.id, { ...this.#ops.get(snap.id)!, members });
      this.#changed.notify();
    };
    publish();
    // One long poll per node: each answers as soon as its members' progress changes.
    await Promise.all(nodes.map(async (node) => {
      const open = () => members.some((m) => m.node === node && (m.state === "running" || m.state === "planned"));
      let heard = Date.now();
      let after: string | undefined;
      while (open()) {
        const r = await this.#call(node, { c: "report", op: snap.id, ...(after !== undefined ? { after } : {}), waitMs: LONG_POLL_MS }, LONG_POLL_MS + ASK_MS).catch(() => undefined);
        if (r && Array.isArray(r.members)) {
          heard = Date.now();
          after = keyOf(r.members);
          for (const p of r.members as MemberProgress[]) members = members.map((m) => (m.member === p.member ? p : m));
        } else if (Date.now() - heard > g.timeoutMs + SILENCE_GRACE_MS) {
          members = members.map((m) => (m.node === node && m.state !== "ok" && m.state !== "failed" ? { ...m, state: "unknown" } : m));
        } else {
          await Bun.sleep(RETRY_MS); // the node did not answer: ask again shortly
        }
        publish();
      }
    }));
    const out = outcomeOf(members);
    const endedAt = new Date().toISOString();
    const final =
      snap.kind === "checkpoint"
        ? finalManifest(manifest, endedAt, members)
        : withRestore(manifest, { id: snap.id, at: endedAt, outcome: out.state === "committed" ? "committed" : "failed", ...(out.reason ? { reason: out.reason } : {}) });
    await Promise.all(final.nodes.map((n) => this.#call(n, { c: "finish", manifest: final }).catch((e: Error) => this.o.log.warn(`${snap.id}: node ${n} did not record the outcome: ${e.message}`))));
    const message = out.state === "committed" ? `every member ${snap.kind === "checkpoint" ? "was checkpointed" : "was restored"}` : (out.reason ?? "some member failed");
    this.#ops.set(snap.id, { ...this.#ops.get(snap.id)!, members, state: out.state, endedAt, message });
    this.#changed.notify();
    this.o.log.info(`${snap.id}: ${out.state}: ${message}`);
    this.#busy.delete(snap.group);
  }

  /** Asks every cluster node (this one included); dead or silent nodes are listed as unreachable. */
  async #askAll(cmd: PeerCommand): Promise<Answers> {
    const nodes = this.o.peers?.status().nodes ?? [{ name: this.o.self, addr: "", state: "alive" as const, self: true }];
    const replies = new Map<string, RequestBody>();
    const unreachable: string[] = [];
    const unreachableNodes = new Set<string>();
    const miss = (node: string, why: string) => {
      unreachable.push(why);
      unreachableNodes.add(node);
    };
    await Promise.all(nodes.map(async (n) => {
      const where = n.addr ? `node ${n.name} (${n.addr})` : `node ${n.name}`;
      if (n.state === "dead") return miss(n.name, `${where} is unreachable: declared dead by failure detection`);
      try {
        const r = await this.#call(n.name, cmd);
        if (typeof r.error === "string") miss(n.name, `${where}: ${r.error}`);
        else replies.set(n.name, r);
      } catch (e) {
        miss(n.name, `${where} is unreachable: ${(e as Error).message}`);
      }
    }));
    return { replies, unreachable: unreachable.sort(), unreachableNodes };
  }

  #call(node: string, cmd: PeerCommand, timeoutMs = ASK_MS): Promise<RequestBody> {
    if (node === this.o.self) return this.o.local.handle(cmd);
    if (!this.o.peers) return Promise.reject(new Error(`node ${node} is not this node and there is no cluster`));
    return this.o.peers.ask(node, cmd as unknown as RequestBody, timeoutMs);
  }
}

function entryOf(m: ManifestMember): RestoreEntry {
  return { member: m.member, pid: m.pid, dir: m.dir, ...(m.container ? { container: m.container } : {}) };
}
