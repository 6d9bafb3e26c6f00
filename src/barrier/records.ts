/**
 * Federation helpers: this node's single-writer record of an operation, and how a peer's record
 * maps back onto hooks. Pure; the engine decides when a record changed.
 *
 * Operation identity across nodes: `group#epoch`. A node opens epoch = (highest epoch it knows
 * for the group) + 1, and it knows every epoch any peer published. Two nodes that open the next
 * operation concurrently (before hearing of each other) pick the same epoch, so their records join
 * into one operation; if they opened different kinds (dump vs restore) the join aborts it and the
 * next attempt takes epoch + 1. A record with a higher epoch than the node's open operation means
 * the peers moved on: the open operation aborts (superseded), it never merges across epochs.
 */
import { hooksOf } from "./hooks.ts";
import type { Operation } from "./operation.ts";
import type { OpRecord, RecordOutcome } from "./types.ts";

/** The record `node` publishes for `op`, with version `seq`. */
export function recordOf(op: Operation, node: string, seq: number): OpRecord {
  const progress: Record<string, number> = {};
  for (const [p, owner] of op.owners) {
    const rank = op.progress.get(p)?.rank;
    if (owner === node && rank !== undefined) progress[p] = rank;
  }
  const phase = op.phase;
  const outcome: RecordOutcome | undefined =
    phase.state === "committed" ? { state: "committed" } : phase.state === "aborted" ? { state: "aborted", reason: phase.reason } : undefined;
  return { group: op.spec.name, epoch: op.epoch, kind: op.kind, progress, ...(outcome ? { outcome } : {}), seq };
}

/** Whether two records carry the same content (ignoring their version). */
export function sameContent(a: OpRecord, b: OpRecord): boolean {
  if (a.group !== b.group || a.epoch !== b.epoch || a.kind !== b.kind) return false;
  if (a.outcome?.state !== b.outcome?.state) return false;
  const ka = Object.keys(a.progress);
  if (ka.length !== Object.keys(b.progress).length) return false;
  return ka.every((k) => a.progress[k] === b.progress[k]);
}

/** The hook name of `rank` in an operation of `op`'s kind, or undefined for an unknown rank. */
export function hookAtRank(op: Operation, rank: number): string | undefined {
  return Number.isInteger(rank) && rank >= 0 ? hooksOf(op.kind)[rank] : undefined;
}
