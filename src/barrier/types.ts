/** Types shared by the barrier engine and its callers. Nothing here does I/O. */
import type { OperationKind } from "./hooks.ts";

/** A group of participants that are checkpointed and restored together. */
export interface GroupSpec {
  readonly name: string;
  /** Participant IDs, as written in the configuration. */
  readonly members: readonly string[];
  /**
   * Who waits for whom at the non-commit barriers. Undefined means every member waits for every
   * other member. Commit hooks (post-dump, post-restore) always wait for every member: a
   * checkpoint either completes for everyone or for no one.
   */
  readonly dependencies?: Readonly<Record<string, readonly string[]>>;
  /** Longest wait at any one hook (and longest silence of an operation) before it aborts. */
  readonly timeoutMs: number;
}

/** One hook call that reached the daemon. */
export interface Arrival {
  /** Identifies the connection that waits for the answer; unique within one daemon. */
  readonly callId: string;
  readonly group: string;
  readonly participant: string;
  readonly hook: string;
  /**
   * Identifies one CRIU run (for example "criu pid:start time"). A call with the same attempt at
   * the same hook is a reconnect of a call the daemon already knows, not a second participant.
   */
  readonly attempt?: string;
}

/** Stable result codes carried to the hook process. WARNING: only append; they are on the wire. */
export type ResultCode =
  | "released" // every dependency reached the hook
  | "committed" // every member reached the commit hook: the operation is complete
  | "recorded" // a hook that does not wait: progress noted
  | "aborted" // the operation was aborted (failure, timeout, or a later operation replaced it)
  | "timeout" // this call's own deadline passed
  | "not-member" // the participant or group is not configured here
  | "duplicate" // the participant is already at this hook from another CRIU run
  | "no-operation" // no operation in flight that this hook belongs to
  | "bad-request"; // malformed or unknown request

export interface Reply {
  readonly type: "reply";
  readonly callId: string;
  readonly ok: boolean;
  readonly code: ResultCode;
  /** One line for CRIU's log: what happened and why. */
  readonly message: string;
}

/**
 * Events that need their own alert, beyond the log line. WARNING: only append.
 * - "outcome-uncertain": this node aborted an operation in which some member had already reached
 *   the commit hook, so another node may have committed it (the gossip commit window).
 * - "outcome-disagreement": a peer reports the opposite outcome for an operation decided here.
 */
export type EventCode = "outcome-uncertain" | "outcome-disagreement";

export interface EngineEvent {
  readonly type: "event";
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  readonly operation?: string;
  readonly code?: EventCode;
}

export type RecordOutcome = { readonly state: "committed" } | { readonly state: "aborted"; readonly reason: string };

/**
 * One node's single-writer share of an operation: the hook ranks its own participants reached and
 * what it decided. Peers join these records (progress max, abort OR); every node evaluates the same
 * release rule on the join.
 */
export interface OpRecord {
  readonly group: string;
  /** Operation identity is `group#epoch`; the kind must agree or the operation aborts. */
  readonly epoch: number;
  readonly kind: OperationKind;
  /** Participant → rank of the furthest hook it reached (see hooks.ts). Only this node's participants. */
  readonly progress: Readonly<Record<string, number>>;
  readonly outcome?: RecordOutcome;
  /** The writer's version counter at the last change of this record; only grows. */
  readonly seq: number;
}

/**
 * An operation's outcome as decided outside the engine (engine option `decider: "external"`): a
 * proposal from `pendingDecisions()`, or the recorded decision handed to `decide()`.
 */
export interface Decision {
  readonly group: string;
  readonly epoch: number;
  readonly kind: OperationKind;
  readonly outcome: RecordOutcome;
  /** The node whose proposal was recorded, when known (for log lines). */
  readonly by?: string;
}

/** This node's record changed: push it to the peers. Only emitted when the engine has a node name. */
export interface Publish {
  readonly type: "publish";
  readonly record: OpRecord;
}

/** What the engine asks its caller to do. The engine itself never touches a socket or a timer. */
export type Effect = Reply | EngineEvent | Publish;

export type OperationPhase =
  | { readonly state: "open" }
  | { readonly state: "committed"; readonly at: number }
  | { readonly state: "aborted"; readonly at: number; readonly reason: string };

export interface ParticipantView {
  readonly name: string;
  /** The furthest hook reached in this operation, or null if it never arrived. */
  readonly hook: string | null;
  /** The hook it is waiting at, if it is waiting. */
  readonly waitingAt: string | null;
  /** Dependencies that have not yet reached the hook it waits at. */
  readonly waitingFor: readonly string[];
  /** The node whose daemon received its hook calls, when federated and known. */
  readonly node?: string;
}

export interface OperationView {
  readonly id: string;
  readonly group: string;
  readonly kind: OperationKind;
  readonly phase: OperationPhase;
  readonly startedAt: number;
  readonly participants: readonly ParticipantView[];
}

export interface GroupView {
  readonly name: string;
  readonly members: readonly string[];
  readonly timeoutMs: number;
  readonly operation: OperationView | null;
}

export interface EngineOptions {
  /**
   * This daemon's node name. Set it to federate: the engine then emits `publish` effects with this
   * node's records and accepts peers' records through `merge`. Unset: a single-node engine.
   */
  readonly node?: string;
  /**
   * Who decides commit or abort. "local" (default): the engine commits when every member reached
   * the commit hook. "external" (federated only, e.g. one etcd transaction per operation): the
   * engine proposes outcomes through `pendingDecisions()` and holds every commit waiter until
   * `decide()` hands it the recorded outcome, or until that waiter's own deadline (then it fails).
   * Barriers before the commit hook still release, and abort, locally: failing a participant before
   * its commit hook means it never reaches it, so no commit can be recorded without it.
   */
  readonly decider?: "local" | "external";
}

/** An open operation with participants on this node, and the other nodes hosting its participants. */
export interface FederatedOperation {
  readonly id: string;
  readonly group: string;
  readonly nodes: readonly string[];
}
