/**
 * The etcd key layout (all under the configured prefix P; epochs zero-padded so that key order is
 * epoch order):
 *
 *   P/<group>/epoch                          newest epoch with a recorded outcome; no lease, one per group
 *   P/<group>/op/<epoch>/rec/<node>          a node's single-writer record (JSON OpRecord), under its lease
 *   P/<group>/op/<epoch>/outcome             the decision, written once by the operation's transaction
 *   P/@node/<node>                           a daemon is up (under its lease): the cluster's members
 *   P/@req/<to>/<from>/<id>                  a request between daemons (checkpoint commands), under the asker's lease
 *   P/@rep/<to>/<from>/<id>                  its reply, under the answering daemon's lease; each side deletes what it read
 *
 * "@" can not start a group name, so these keys never collide with a group's.
 * The transaction that records an operation's outcome also deletes every key of the group's older
 * operations, so a group keeps the keys of at most its newest decided operation and the one in
 * flight; records also vanish with their daemon's lease. Pure: no I/O.
 */
import type { OperationKind } from "../barrier/hooks.ts";
import type { Decision, OpRecord, RecordOutcome } from "../barrier/types.ts";
import { prefixEnd } from "./client.ts";

export type ParsedKey =
  | { readonly type: "record"; readonly group: string; readonly epoch: number; readonly node: string }
  | { readonly type: "outcome"; readonly group: string; readonly epoch: number }
  | { readonly type: "epoch"; readonly group: string }
  | { readonly type: "node"; readonly node: string }
  | { readonly type: "request" | "reply"; readonly to: string; readonly from: string; readonly id: string };

export function pad(epoch: number): string {
  return String(epoch).padStart(12, "0");
}

export class KeyLayout {
  constructor(readonly prefix: string) {}

  /** [start, end) of every key of this installation. */
  all(): [string, string] {
    return [`${this.prefix}/`, prefixEnd(`${this.prefix}/`)];
  }

  epoch(group: string): string {
    return `${this.prefix}/${group}/epoch`;
  }

  records(group: string, epoch: number): string {
    return `${this.prefix}/${group}/op/${pad(epoch)}/rec/`;
  }

  record(group: string, epoch: number, node: string): string {
    return `${this.records(group, epoch)}${encodeURIComponent(node)}`;
  }

  outcome(group: string, epoch: number): string {
    return `${this.prefix}/${group}/op/${pad(epoch)}/outcome`;
  }

  node(name: string): string {
    return `${this.prefix}/@node/${encodeURIComponent(name)}`;
  }

  /** A request from `from` to `to`. */
  request(to: string, from: string, id: string): string {
    return `${this.prefix}/@req/${encodeURIComponent(to)}/${encodeURIComponent(from)}/${id}`;
  }

  /** The reply to request `id` of `to`, from `from`. */
  reply(to: string, from: string, id: string): string {
    return `${this.prefix}/@rep/${encodeURIComponent(to)}/${encodeURIComponent(from)}/${id}`;
  }

  /** [start, end) of the keys of every operation of `group` older than `epoch`. */
  olderThan(group: string, epoch: number): [string, string] {
    return [`${this.prefix}/${group}/op/`, `${this.prefix}/${group}/op/${pad(epoch)}`];
  }

  parse(key: string): ParsedKey | undefined {
    if (!key.startsWith(`${this.prefix}/`)) return undefined;
    const parts = key.slice(this.prefix.length + 1).split("/");
    const group = parts[0];
    if (!group) return undefined;
    if (group.startsWith("@")) return parseDaemonKey(parts);
    if (parts.length === 2 && parts[1] === "epoch") return { type: "epoch", group };
    if (parts[1] !== "op" || !/^\d{12}$/.test(parts[2] ?? "")) return undefined;
    const epoch = Number(parts[2]);
    if (parts.length === 4 && parts[3] === "outcome") return { type: "outcome", group, epoch };
    if (parts.length === 5 && parts[3] === "rec" && parts[4]) {
      try {
        return { type: "record", group, epoch, node: decodeURIComponent(parts[4]) };
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}

/** The keys of daemons rather than groups: presence, requests and replies. */
function parseDaemonKey(parts: string[]): ParsedKey | undefined {
  try {
    if (parts[0] === "@node" && parts.length === 2 && parts[1]) return { type: "node", node: decodeURIComponent(parts[1]) };
    if ((parts[0] === "@req" || parts[0] === "@rep") && parts.length === 4 && parts[1] && parts[2] && /^[A-Za-z0-9._-]{1,100}$/.test(parts[3] ?? "")) {
      return { type: parts[0] === "@req" ? "request" : "reply", to: decodeURIComponent(parts[1]), from: decodeURIComponent(parts[2]), id: parts[3]! };
    }
  } catch {
    // a malformed %-escape
  }
  return undefined;
}

/** The value of an outcome key. */
export interface OutcomeValue {
  readonly group: string;
  readonly epoch: number;
  readonly kind: OperationKind;
  readonly state: RecordOutcome["state"];
  readonly reason?: string;
  /** The node whose transaction recorded it, and when (ISO time, for people reading etcd). */
  readonly by: string;
  readonly at: string;
}

export function outcomeValue(d: Decision, by: string, at: Date): string {
  const v: OutcomeValue = {
    group: d.group,
    epoch: d.epoch,
    kind: d.kind,
    state: d.outcome.state,
    ...(d.outcome.state === "aborted" ? { reason: d.outcome.reason } : {}),
    by,
    at: at.toISOString(),
  };
  return JSON.stringify(v);
}

/** The decision an outcome key holds, or undefined if it is not one of ours. */
export function parseOutcome(text: string): Decision | undefined {
  try {
    const v = JSON.parse(text) as Partial<OutcomeValue>;
    if (typeof v.group !== "string" || typeof v.epoch !== "number" || (v.kind !== "dump" && v.kind !== "restore")) return undefined;
    const outcome: RecordOutcome | undefined =
      v.state === "committed" ? { state: "committed" } : v.state === "aborted" ? { state: "aborted", reason: String(v.reason ?? "aborted") } : undefined;
    if (!outcome) return undefined;
    return { group: v.group, epoch: v.epoch, kind: v.kind, outcome, ...(typeof v.by === "string" ? { by: v.by } : {}) };
  } catch {
    return undefined;
  }
}

/** A peer's record from its key's value, checked against the key; undefined if malformed. */
export function parseRecord(text: string, group: string, epoch: number): OpRecord | undefined {
  try {
    const r = JSON.parse(text) as OpRecord;
    if (r.group !== group || r.epoch !== epoch || (r.kind !== "dump" && r.kind !== "restore")) return undefined;
    if (typeof r.progress !== "object" || r.progress === null || typeof r.seq !== "number") return undefined;
    return r;
  } catch {
    return undefined;
  }
}
