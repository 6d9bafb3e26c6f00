/**
 * One round of a group: a dump or a restore. Rounds never share state: a finished or aborted
 * round can not release a barrier of a later one, because every progress record belongs to
 * exactly one operation and a new operation starts empty.
 */
import { hookInfo, type OperationKind } from "./hooks.ts";
import type { GroupSpec, OperationPhase, OperationView, ParticipantView } from "./types.ts";

export interface Progress {
  readonly hook: string;
  readonly rank: number;
  readonly at: number;
  readonly attempt: string | undefined;
}

export interface Waiter {
  readonly callId: string;
  readonly participant: string;
  readonly hook: string;
  readonly rank: number;
  readonly since: number;
  readonly deadline: number;
  /** Commit waiters wait for every member; barrier waiters for their dependencies. */
  readonly commit: boolean;
}

export class Operation {
  phase: OperationPhase = { state: "open" };
  lastEventAt: number;
  readonly progress = new Map<string, Progress>();
  readonly waiters = new Map<string, Waiter>();
  /** Participant → node that reported its progress (federation: single writer per participant). */
  readonly owners = new Map<string, string>();
  /** This node has a share in the operation (a local participant, or a local abort) to publish. */
  published = false;
  /** External decider: the recorded outcome was applied (until then commit waiters are held). */
  decided = false;

  constructor(
    readonly spec: GroupSpec,
    readonly epoch: number,
    readonly kind: OperationKind,
    readonly startedAt: number,
  ) {
    this.lastEventAt = startedAt;
  }

  get id(): string {
    return `${this.spec.name}#${this.epoch}`;
  }

  get isOpen(): boolean {
    return this.phase.state === "open";
  }

  /** Members `participant` waits for at a non-commit barrier. */
  dependenciesOf(participant: string): readonly string[] {
    const deps = this.spec.dependencies;
    if (deps === undefined) return this.spec.members.filter((m) => m !== participant);
    return (deps[participant] ?? []).filter((m) => m !== participant);
  }

  /** Members that have not reached `rank` (a later hook counts). */
  missingAt(rank: number, among: readonly string[]): string[] {
    return among.filter((m) => (this.progress.get(m)?.rank ?? -1) < rank);
  }

  /** Who still holds `waiter` back. */
  blockersOf(waiter: Waiter): string[] {
    const among = waiter.commit
      ? this.spec.members.filter((m) => m !== waiter.participant)
      : this.dependenciesOf(waiter.participant);
    return this.missingAt(waiter.rank, among);
  }

  /** Rank of this kind's commit hook (post-dump, post-restore). */
  get commitRank(): number {
    return this.kind === "dump" ? hookInfo("dump", "post-dump")!.rank : hookInfo("restore", "post-restore")!.rank;
  }

  /** Every member has reached the commit hook of this kind (or a later hook). */
  allAtCommit(): boolean {
    return this.missingAt(this.commitRank, this.spec.members).length === 0;
  }

  /** Some member reached the commit hook: another node may already have seen all of them there. */
  anyAtCommit(): boolean {
    return this.missingAt(this.commitRank, this.spec.members).length < this.spec.members.length;
  }

  /**
   * Could another node have seen every member at the commit hook? Only if some member is there,
   * and every member not there in this node's view is hosted elsewhere: a member hosted here that
   * has not reached the commit hook is known to nobody as having reached it (its host is the only
   * writer of its progress), so no node can have committed.
   */
  otherNodeMayCommit(self: string): boolean {
    if (!this.anyAtCommit()) return false;
    return this.missingAt(this.commitRank, this.spec.members).every((m) => {
      const owner = this.owners.get(m);
      return owner !== self;
    });
  }

  /** "backend (never arrived), cache (last at pre-dump)" for error messages. */
  describe(names: readonly string[]): string {
    return names
      .map((n) => {
        const p = this.progress.get(n);
        return p ? `${n} (last at ${p.hook})` : `${n} (never arrived)`;
      })
      .join(", ");
  }

  view(): OperationView {
    const waitingBy = new Map<string, Waiter>();
    for (const w of this.waiters.values()) waitingBy.set(w.participant, w);
    const participants: ParticipantView[] = this.spec.members.map((name) => {
      // A waiter held here, or (federated) a participant whose call another node holds: it waits
      // at a barrier or commit hook its blockers have not reached.
      const p = this.progress.get(name);
      const info = p && this.isOpen ? hookInfo(this.kind, p.hook) : undefined;
      const w =
        waitingBy.get(name) ??
        (info && info.role !== "progress"
          ? { callId: "", participant: name, hook: p!.hook, rank: info.rank, since: p!.at, deadline: Infinity, commit: info.role === "commit" }
          : undefined);
      const waitingFor = w ? this.blockersOf(w) : [];
      return {
        name,
        hook: p?.hook ?? null,
        waitingAt: waitingFor.length > 0 || waitingBy.has(name) ? w!.hook : null,
        waitingFor,
        ...(this.owners.has(name) ? { node: this.owners.get(name) } : {}),
      };
    });
    return {
      id: this.id,
      group: this.spec.name,
      kind: this.kind,
      phase: this.phase,
      startedAt: this.startedAt,
      participants,
    };
  }
}
