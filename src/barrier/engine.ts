/**
 * The barrier engine: a pure state machine. Every method takes the current time in milliseconds
 * and returns the effects (replies to hook calls, log events) for the caller to carry out.
 *
 * Guarantees (see README "Guarantees"):
 * - Safety: a participant passes a barrier only when its dependencies reached that hook or a later
 *   one in the same operation; a commit hook (post-dump, post-restore) only when every member did.
 * - Every wait has a deadline: a waiter whose deadline passes aborts the operation, and so does an
 *   operation that makes no progress for the group's timeout.
 * - Abort is sticky and total: every waiting call fails, and every later vetoing hook call of the
 *   same operation fails, so CRIU resumes every dumped process (or kills every restored copy).
 */
import { hookInfo, isHookName, isPassThrough, kindsOf, startKind } from "./hooks.ts";
import { Operation, type Waiter } from "./operation.ts";
import { hookAtRank, recordOf, sameContent } from "./records.ts";
import { formatMs } from "./format.ts";
import type { Arrival, Decision, Effect, EngineOptions, FederatedOperation, GroupSpec, GroupView, OpRecord, ResultCode } from "./types.ts";

export type { EngineOptions, FederatedOperation } from "./types.ts";
export { formatMs } from "./format.ts";

interface GroupState {
  readonly spec: GroupSpec;
  /** Epoch of the newest operation; the next one gets epoch + 1. */
  epoch: number;
  /** The newest operation, kept after it ends so late calls of that round are recognised. */
  current: Operation | undefined;
}

export class BarrierEngine {
  readonly #groups = new Map<string, GroupState>();
  /** callId → operation holding that waiter, for disconnects. */
  readonly #waiting = new Map<string, Operation>();
  readonly #node: string | undefined;
  readonly #external: boolean;
  /** Version counter of this node's records; bumped on every change. */
  #seq = 0;
  /** group → the record last published for it. */
  readonly #published = new Map<string, OpRecord>();

  constructor(groups: readonly GroupSpec[], opts: EngineOptions = {}) {
    for (const spec of groups) this.#groups.set(spec.name, { spec, epoch: 0, current: undefined });
    this.#node = opts.node;
    this.#external = opts.decider === "external";
  }

  /** A hook call arrived. */
  arrive(now: number, a: Arrival): Effect[] {
    return this.#flush(this.#arrive(now, a));
  }

  #arrive(now: number, a: Arrival): Effect[] {
    const out: Effect[] = [];
    const group = this.#groups.get(a.group);
    if (!group) return [reply(a, false, "not-member", `Unknown group "${a.group}"`)];
    if (!group.spec.members.includes(a.participant)) {
      return [reply(a, false, "not-member", `"${a.participant}" is not a member of group "${a.group}"`)];
    }
    if (!isHookName(a.hook)) return [reply(a, false, "bad-request", `Unknown CRIU hook "${a.hook}"`)];
    if (isPassThrough(a.hook)) return [reply(a, true, "recorded", `${a.hook} is not coordinated`)];

    const op = this.#operationFor(now, group, a, out);
    if (!op) {
      const info = hookInfo(kindsOf(a.hook)[0]!, a.hook)!;
      const cur = group.current;
      if (cur && info.vetoes && kindsOf(a.hook).includes(cur.kind) && this.#lostProgress(now, cur, a, out)) return out;
      const why = `No ${kindsOf(a.hook).join(" or ")} operation of group "${a.group}" includes ${a.participant}: its first hook was not coordinated, or the daemon restarted since`;
      out.push(reply(a, !info.vetoes, info.vetoes ? "no-operation" : "recorded", why));
      return out;
    }
    this.#record(now, op, a, out);
    return out;
  }

  /** A waiting call's connection closed before it was answered: its CRIU run is gone. */
  disconnect(now: number, callId: string): Effect[] {
    const op = this.#waiting.get(callId);
    if (!op) return [];
    const w = op.waiters.get(callId)!;
    this.#dropWaiter(op, callId);
    if (!op.isOpen) return [];
    const out: Effect[] = [];
    this.#abort(now, op, `${w.participant} went away while waiting at ${w.hook} (its CRIU run ended)`, out);
    return this.#flush(out);
  }

  /** Someone reported a failure: abort the group's operation in flight, if any. */
  fail(now: number, groupName: string, reason: string): Effect[] {
    const op = this.#groups.get(groupName)?.current;
    if (!op?.isOpen) return [];
    const out: Effect[] = [];
    this.#abort(now, op, reason, out);
    return this.#flush(out);
  }

  /**
   * The CRIU runs (attempts) of this node's participants in undecided operations. The daemon checks
   * that each is still alive: a CRIU run that ends before its operation is decided has failed.
   */
  liveAttempts(): { attempt: string; group: string; participant: string }[] {
    const out: { attempt: string; group: string; participant: string }[] = [];
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op?.isOpen) continue;
      for (const [participant, p] of op.progress) if (p.attempt !== undefined) out.push({ attempt: p.attempt, group: g.spec.name, participant });
    }
    return out;
  }

  /** A CRIU run ended: if its operation is still undecided, that participant failed. */
  runEnded(now: number, attempt: string, detail: string): Effect[] {
    const out: Effect[] = [];
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op?.isOpen) continue;
      for (const [participant, p] of op.progress) {
        if (p.attempt !== attempt) continue;
        this.#abort(now, op, `The CRIU run of ${participant} ended after ${p.hook} (${detail})`, out);
        break;
      }
    }
    return this.#flush(out);
  }

  /** Deadlines up to `now` take effect. */
  tick(now: number): Effect[] {
    const out: Effect[] = [];
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op) continue;
      for (const w of [...op.waiters.values()]) {
        if (w.deadline > now || !op.waiters.has(w.callId)) continue;
        const secs = formatMs(now - w.since);
        const blockers = op.blockersOf(w);
        const why = blockers.length > 0 || !this.#held(op, w)
          ? `Timed out at ${w.hook} after ${secs} waiting for ${op.describe(blockers)}`
          : `Timed out at ${w.hook} after ${secs} waiting for the recorded outcome of ${op.id}`;
        if (op.isOpen) this.#abort(now, op, why, out);
        if (!op.waiters.has(w.callId)) continue; // answered by the abort
        if (this.#held(op, w)) {
          // External decider, no recorded outcome by this call's deadline: failing is the only safe
          // answer. Should a commit be recorded after all, decide() reports the disagreement.
          this.#dropWaiter(op, w.callId);
          out.push(reply(w, false, "aborted", `Operation ${op.id} aborted: ${op.phase.state === "aborted" ? op.phase.reason : why}`));
          if (op.anyAtCommit()) {
            const message = `${op.id}: ${w.participant} failed at ${w.hook} with no recorded outcome; another node may see a commit recorded later`;
            out.push({ type: "event", level: "warn", operation: op.id, code: "outcome-uncertain", message });
          }
        } else {
          // Past the commit point: nothing left to abort, only this call's wait ends.
          this.#dropWaiter(op, w.callId);
          out.push(reply(w, false, "timeout", why));
        }
      }
      if (op.isOpen && op.waiters.size === 0 && op.lastEventAt + g.spec.timeoutMs <= now) {
        const missing = op.spec.members.filter((m) => !op.progress.has(m));
        const detail = missing.length > 0 ? `; never arrived: ${missing.join(", ")}` : "";
        this.#abort(now, op, `No progress for ${formatMs(now - op.lastEventAt)}${detail}`, out);
      }
    }
    return this.#flush(out);
  }

  /**
   * Joins a peer's record (progress max, abort OR). `from` is the peer's node name. Safe to call
   * with duplicates, stale or reordered records: nothing ever moves backwards.
   */
  merge(now: number, from: string, rec: OpRecord): Effect[] {
    const out: Effect[] = [];
    const g = this.#groups.get(rec.group);
    if (!g || from === this.#node || rec.epoch < g.epoch) return out;
    let op = g.current;
    if (!op || rec.epoch > g.epoch) {
      if (op?.isOpen) this.#abort(now, op, `superseded by ${rec.group}#${rec.epoch} opened on ${from}`, out);
      g.epoch = rec.epoch;
      op = new Operation(g.spec, rec.epoch, rec.kind, now);
      g.current = op;
      out.push({ type: "event", level: "info", operation: op.id, message: `${rec.kind} ${op.id} learned from ${from}` });
    }
    if (op.kind !== rec.kind) {
      if (op.isOpen) this.#abort(now, op, `${from} opened a ${rec.kind} as ${op.id} while this node opened a ${op.kind}`, out);
      return this.#flush(out);
    }
    for (const [p, rank] of Object.entries(rec.progress)) {
      const hook = hookAtRank(op, rank);
      if (!g.spec.members.includes(p) || hook === undefined) continue;
      const owner = op.owners.get(p);
      if (owner !== undefined && owner !== from) {
        if (op.isOpen) this.#abort(now, op, `${p} reported by both ${owner} and ${from}; two processes share this participant ID`, out);
        continue;
      }
      if ((op.progress.get(p)?.rank ?? -1) >= rank) continue;
      op.owners.set(p, from);
      op.progress.set(p, { hook, rank, at: now, attempt: undefined });
      op.lastEventAt = now;
    }
    const theirs = rec.outcome;
    if (theirs?.state === "aborted" && op.isOpen) this.#abort(now, op, `aborted on ${from}: ${theirs.reason}`, out, false);
    this.#release(now, op, out);
    // With an external decider records carry proposals; decide() reports real disagreements.
    if (theirs && !this.#external && !op.isOpen && theirs.state !== op.phase.state) {
      const message = `${op.id} ${op.phase.state} here but ${theirs.state} on ${from}: the nodes disagree on the outcome (commit window)`;
      out.push({ type: "event", level: "error", operation: op.id, code: "outcome-disagreement", message });
    }
    return this.#flush(out);
  }

  /** A peer is gone (declared dead, or restarted): abort every open operation it hosts participants of. */
  nodeLost(now: number, node: string, reason: string): Effect[] {
    const out: Effect[] = [];
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op?.isOpen) continue;
      const hosted = [...op.owners].filter(([, n]) => n === node).map(([p]) => p);
      if (hosted.length > 0) this.#abort(now, op, `node ${node} ${reason} while hosting ${hosted.join(", ")}`, out);
    }
    return this.#flush(out);
  }

  /**
   * External decider: the outcomes this node proposes, one per undecided operation: "committed"
   * when every member reached the commit hook, "aborted" once it aborted here. The caller records
   * one outcome per operation (first writer wins) and hands it back through `decide`.
   */
  pendingDecisions(): Decision[] {
    const out: Decision[] = [];
    if (!this.#external) return out;
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op || op.decided) continue;
      const base = { group: g.spec.name, epoch: op.epoch, kind: op.kind };
      if (op.phase.state === "aborted") out.push({ ...base, outcome: { state: "aborted", reason: op.phase.reason } });
      else if (op.isOpen && op.allAtCommit()) out.push({ ...base, outcome: { state: "committed" } });
    }
    return out;
  }

  /**
   * External decider: the recorded outcome of an operation. It is final: a commit releases every
   * commit waiter (even one this node aborted on its own, which is reported as a disagreement), an
   * abort fails them. A decision for an operation this node never heard of makes it the group's
   * newest (so the next one gets a higher epoch); one for an older operation changes nothing.
   */
  decide(now: number, d: Decision): Effect[] {
    const out: Effect[] = [];
    const g = this.#groups.get(d.group);
    if (!this.#external || !g || d.epoch < g.epoch) return out;
    let op = g.current;
    if (!op || d.epoch > g.epoch) {
      if (op?.isOpen) this.#abort(now, op, `superseded by ${d.group}#${d.epoch}, decided elsewhere`, out);
      g.epoch = d.epoch;
      op = new Operation(g.spec, d.epoch, d.kind, now);
      g.current = op;
    }
    const by = d.by ? ` (recorded by ${d.by})` : "";
    if (op.decided) {
      if (op.phase.state !== d.outcome.state) {
        out.push({ type: "event", level: "error", operation: op.id, code: "outcome-disagreement", message: `${op.id} was recorded ${op.phase.state} and now ${d.outcome.state}${by}` });
      }
      return this.#flush(out);
    }
    op.decided = true;
    if (d.outcome.state === "committed") {
      if (op.phase.state === "aborted") {
        const message = `${op.id} aborted here (${op.phase.reason}) but its commit was recorded${by}: the recorded outcome stands`;
        out.push({ type: "event", level: "error", operation: op.id, code: "outcome-disagreement", message });
      }
      op.phase = { state: "committed", at: now };
      out.push({ type: "event", level: "info", operation: op.id, message: `${op.kind} ${op.id} committed${by}: every member reached ${hooksOfCommit(op)}` });
      this.#release(now, op, out);
    } else if (op.isOpen) {
      this.#abort(now, op, d.outcome.reason, out, false);
    } else {
      // Aborted here first: the recorded reason is the one every node reports.
      op.phase = { state: "aborted", at: op.phase.state === "aborted" ? op.phase.at : now, reason: d.outcome.reason };
      for (const w of [...op.waiters.values()]) {
        this.#dropWaiter(op, w.callId);
        out.push(reply(w, false, "aborted", `Operation ${op.id} aborted: ${d.outcome.reason}`));
      }
    }
    return this.#flush(out);
  }

  /** This node's current records, for a peer that asks for everything (join, anti-entropy). */
  localRecords(): OpRecord[] {
    return [...this.#published.values()];
  }

  /** Open operations with participants on this node, for self-fencing. */
  federatedOperations(): FederatedOperation[] {
    const out: FederatedOperation[] = [];
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op?.isOpen || !op.published) continue;
      const nodes = new Set([...op.owners.values()].filter((n) => n !== this.#node));
      out.push({ id: op.id, group: g.spec.name, nodes: [...nodes] });
    }
    return out;
  }

  /** The earliest time at which `tick` has something to do, or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    const consider = (t: number) => {
      if (next === undefined || t < next) next = t;
    };
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op) continue;
      for (const w of op.waiters.values()) consider(w.deadline);
      if (op.isOpen && op.waiters.size === 0) consider(op.lastEventAt + g.spec.timeoutMs);
    }
    return next;
  }

  /** Number of hook calls currently held. */
  get waitingCount(): number {
    return this.#waiting.size;
  }

  /** Operations not yet decided. */
  get openOperations(): number {
    let n = 0;
    for (const g of this.#groups.values()) if (g.current?.isOpen) n++;
    return n;
  }

  groups(): GroupView[] {
    return [...this.#groups.values()].map((g) => ({
      name: g.spec.name,
      members: g.spec.members,
      timeoutMs: g.spec.timeoutMs,
      operation: g.current?.view() ?? null,
    }));
  }

  // --- internal ---

  /** Finds or opens the operation an arrival belongs to; may abort a stale one. */
  #operationFor(now: number, g: GroupState, a: Arrival, out: Effect[]): Operation | undefined {
    const cur = g.current;
    const opens = startKind(a.hook);
    if (opens === undefined) {
      // Later hooks belong to the newest operation, and only if the participant started it.
      return cur && kindsOf(a.hook).includes(cur.kind) && cur.progress.has(a.participant) ? cur : undefined;
    }
    if (cur?.isOpen) {
      const prev = cur.progress.get(a.participant);
      if (cur.kind === opens && !prev) return cur; // joins the round in flight
      if (cur.kind === opens && prev?.hook === a.hook && a.attempt !== undefined && prev.attempt === a.attempt) {
        return cur; // the same CRIU run reconnecting
      }
      const why = prev
        ? `${a.participant} started a new ${opens} while this ${cur.kind} was in flight (its previous run ended)`
        : `${a.participant} started a ${opens} while a ${cur.kind} was in flight`;
      this.#abort(now, cur, why, out);
    }
    g.epoch += 1;
    const op = new Operation(g.spec, g.epoch, opens, now);
    g.current = op;
    out.push({ type: "event", level: "info", operation: op.id, message: `${opens} ${op.id} opened by ${a.participant}` });
    return op;
  }

  /**
   * A later hook of a participant this node has no record of in the group's operation, which it
   * learned from peers: the participant's earlier hooks went to this daemon before it restarted
   * (federation), and that progress is lost. The operation can never commit safely, so it aborts
   * (if peers have not already aborted it), and the call fails with the operation's reason.
   */
  #lostProgress(now: number, cur: Operation, a: Arrival, out: Effect[]): boolean {
    if (this.#node === undefined || cur.progress.has(a.participant)) return false;
    if (cur.isOpen) {
      this.#abort(now, cur, `${a.participant} reached ${a.hook} but node ${this.#node} has no record of its earlier hooks (the daemon restarted during the operation)`, out);
    }
    const why = cur.phase.state === "aborted" ? cur.phase.reason : "it was decided without this call";
    out.push(reply(a, false, "aborted", `Operation ${cur.id} was aborted: ${why}`));
    return true;
  }

  #record(now: number, op: Operation, a: Arrival, out: Effect[]): void {
    const info = hookInfo(op.kind, a.hook)!;
    if (op.phase.state === "aborted") {
      const prev = op.progress.get(a.participant);
      if (this.#external && !op.decided && info.role === "commit" && prev && prev.rank >= info.rank && prev.attempt === a.attempt) {
        // A commit call reconnecting before the outcome is recorded: it waits for the record too.
        for (const w of [...op.waiters.values()]) if (w.participant === a.participant) this.#dropWaiter(op, w.callId);
        this.#hold(now, op, a, info.rank);
        return;
      }
      const why = `Operation ${op.id} was aborted: ${op.phase.reason}`;
      out.push(reply(a, !info.vetoes, info.vetoes ? "aborted" : "recorded", why));
      return;
    }
    const prev = op.progress.get(a.participant);
    const owner = op.owners.get(a.participant);
    if (this.#node !== undefined && owner !== undefined && owner !== this.#node) {
      out.push(reply(a, false, "duplicate", `${a.participant} is hosted by node ${owner} in ${op.id}; two processes share this participant ID`));
      return;
    }
    if (prev && prev.rank > info.rank) {
      out.push(reply(a, true, "recorded", `${a.participant} is already past ${a.hook} (at ${prev.hook})`));
      return;
    }
    if (prev && prev.rank === info.rank && info.role !== "progress") {
      const same = a.attempt !== undefined && prev.attempt === a.attempt;
      if (!same) {
        const msg = `${a.participant} is already at ${a.hook} in ${op.id} from another CRIU run; two processes share this participant ID`;
        out.push(reply(a, false, "duplicate", msg));
        return;
      }
      // A reconnect replaces the earlier wait of the same run.
      for (const w of [...op.waiters.values()]) if (w.participant === a.participant) this.#dropWaiter(op, w.callId);
    }

    // A dump that unlocks its network before post-dump has failed: CRIU only does that on error.
    if (op.kind === "dump" && a.hook === "network-unlock" && (prev?.rank ?? -1) < hookInfo("dump", "post-dump")!.rank) {
      op.progress.set(a.participant, { hook: a.hook, rank: info.rank, at: now, attempt: a.attempt });
      this.#own(op, a.participant);
      if (op.isOpen) this.#abort(now, op, `The dump of ${a.participant} failed (CRIU unlocked its network before post-dump)`, out);
      out.push(reply(a, true, "recorded", `Operation ${op.id} aborted: the dump of ${a.participant} failed`));
      return;
    }

    op.progress.set(a.participant, { hook: a.hook, rank: info.rank, at: now, attempt: a.attempt });
    this.#own(op, a.participant);
    op.lastEventAt = now;
    if (info.role === "progress") {
      out.push(reply(a, true, "recorded", `${a.hook} recorded for ${a.participant}`));
    } else {
      this.#hold(now, op, a, info.rank);
    }
    this.#release(now, op, out);
  }

  /** Answers every waiter whose condition now holds. */
  #release(now: number, op: Operation, out: Effect[]): void {
    if (op.phase.state === "aborted") return;
    if (op.isOpen && op.allAtCommit() && !this.#external) {
      op.phase = { state: "committed", at: now };
      out.push({ type: "event", level: "info", operation: op.id, message: `${op.kind} ${op.id} committed: every member reached ${op.kind === "dump" ? "post-dump" : "post-restore"}` });
    }
    for (const w of [...op.waiters.values()]) {
      if (this.#held(op, w)) continue;
      // A recorded commit means every member reached the commit hook, whatever this node has seen.
      if (op.blockersOf(w).length > 0 && !(w.commit && op.decided)) continue;
      this.#dropWaiter(op, w.callId);
      const code: ResultCode = w.commit ? "committed" : "released";
      const what = w.commit ? `${op.id} committed at ${w.hook}` : `released at ${w.hook}`;
      out.push(reply(w, true, code, `${what} after ${formatMs(now - w.since)}`));
    }
  }

  /** `local`: the abort is decided here, so this node publishes it even without participants. */
  #abort(now: number, op: Operation, reason: string, out: Effect[], local = true): void {
    op.phase = { state: "aborted", at: now, reason };
    if (local && this.#node !== undefined) op.published = true;
    out.push({ type: "event", level: "error", operation: op.id, message: `${op.kind} ${op.id} aborted: ${reason}` });
    // Only where the abort is decided: a node that learns an abort from a peer has not committed
    // (it would have nothing to abort), and the peer that decided it warns for itself.
    if (local && this.#node !== undefined && !this.#external && op.otherNodeMayCommit(this.#node)) {
      const message = `${op.id} aborted after a member reached ${hooksOfCommit(op)}: another node may have committed it`;
      out.push({ type: "event", level: "warn", operation: op.id, code: "outcome-uncertain", message });
    }
    for (const w of [...op.waiters.values()]) {
      if (this.#held(op, w)) continue; // answered by decide(), or at its deadline
      this.#dropWaiter(op, w.callId);
      out.push(reply(w, false, "aborted", `Operation ${op.id} aborted: ${reason}`));
    }
  }

  #hold(now: number, op: Operation, a: Arrival, rank: number): void {
    const w: Waiter = {
      callId: a.callId,
      participant: a.participant,
      hook: a.hook,
      rank,
      since: now,
      deadline: now + op.spec.timeoutMs,
      commit: hookInfo(op.kind, a.hook)!.role === "commit",
    };
    op.waiters.set(a.callId, w);
    this.#waiting.set(a.callId, op);
  }

  /** External decider: a commit waiter stays until the recorded outcome (or its deadline). */
  #held(op: Operation, w: Waiter): boolean {
    return this.#external && w.commit && !op.decided;
  }

  #own(op: Operation, participant: string): void {
    if (this.#node === undefined) return;
    op.owners.set(participant, this.#node);
    op.published = true;
  }

  /** Appends a publish effect for every group whose record of this node changed. */
  #flush(out: Effect[]): Effect[] {
    if (this.#node === undefined) return out;
    for (const g of this.#groups.values()) {
      const op = g.current;
      if (!op?.published) continue;
      const last = this.#published.get(g.spec.name);
      const rec = recordOf(op, this.#node, this.#seq + 1);
      if (last && sameContent(last, rec)) continue;
      this.#seq += 1;
      this.#published.set(g.spec.name, rec);
      out.push({ type: "publish", record: rec });
    }
    return out;
  }

  #dropWaiter(op: Operation, callId: string): void {
    op.waiters.delete(callId);
    this.#waiting.delete(callId);
  }
}

function hooksOfCommit(op: Operation): string {
  return op.kind === "dump" ? "post-dump" : "post-restore";
}

function reply(to: { callId: string }, ok: boolean, code: ResultCode, message: string): Effect {
  return { type: "reply", callId: to.callId, ok, code, message };
}
