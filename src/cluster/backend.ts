/**
 * How a daemon shares barrier state with other nodes. The daemon forwards every `publish` effect
 * of its engine to `publish`; a backend feeds peers' records back into the engine and hands the
 * resulting effects to the daemon's dispatcher. A single-node daemon uses LocalBackend.
 */
import type { FederatedOperation } from "../barrier/types.ts";
import type { Effect, OpRecord, Publish } from "../barrier/types.ts";

/** The engine surface a backend drives (BarrierEngine implements it). */
export interface FederatedEngine {
  merge(now: number, from: string, rec: OpRecord): Effect[];
  nodeLost(now: number, node: string, reason: string): Effect[];
  fail(now: number, group: string, reason: string): Effect[];
  localRecords(): OpRecord[];
  federatedOperations(): FederatedOperation[];
}

export type NodeState = "alive" | "suspect" | "dead";

export interface ClusterNode {
  readonly name: string;
  readonly addr: string;
  readonly state: NodeState;
  readonly self?: boolean;
}

export interface ClusterStatus {
  readonly node: string;
  readonly nodes: readonly ClusterNode[];
  /** Counters for `status --json` and tests (dropped packets by reason, retransmits…). */
  readonly counters: Readonly<Record<string, number>>;
}

/** The daemon status' `backend` entry: which backend federates this node, and whether it can. */
export interface BackendHealth {
  readonly kind: "gossip" | "etcd";
  /** "ok"; "connecting" before the first contact; "lost" when it can not reach what it needs. */
  readonly health: "ok" | "connecting" | "lost";
  /** One line for people: endpoint, lease, last contact, or why it is lost. */
  readonly detail: string;
  readonly [extra: string]: unknown;
}

export interface Backend {
  start(): Promise<void>;
  /** This node's record changed (an engine `publish` effect). */
  publish(effect: Publish): void;
  status(): ClusterStatus;
  /** Kind and health for `status`; backends without it are reported from status() by the daemon. */
  health?(): BackendHealth;
  close(): Promise<void>;
}

/** Logging surface (consola-compatible). */
export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
