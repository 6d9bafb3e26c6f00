/**
 * Messages on the local socket. Every message carries `v`, the protocol version; a daemon answers
 * a version it does not speak with an error naming the versions it does.
 */
import type { ResultCode } from "../barrier/types.ts";
import type { OperationSnapshot, StoredOperation } from "../operations/types.ts";

export const PROTOCOL_VERSION = 1;

/** A hook call: participant `participant` of `group` reached `hook`. */
export interface ArriveRequest {
  readonly v: 1;
  readonly type: "arrive";
  readonly group: string;
  readonly participant: string;
  readonly hook: string;
  /** One CRIU run; the same attempt reconnecting is not a second participant. */
  readonly attempt?: string;
  /** The dumped or restored root task, for logs and status. */
  readonly pid?: number;
}

export interface StatusRequest {
  readonly v: 1;
  readonly type: "status";
}

/** Aborts the group's operation in flight (an operator, or a tool that saw a failure). */
export interface AbortRequest {
  readonly v: 1;
  readonly type: "abort";
  readonly group: string;
  readonly reason: string;
}

/** Checkpoints every member of a group on its node (docs/checkpoint.md); answered with an operation. */
export interface CheckpointRequest {
  readonly v: 1;
  readonly type: "checkpoint";
  readonly group: string;
  readonly leaveRunning?: boolean;
  /** Absolute directory for the operation's images on every node (default: per-operation). */
  readonly dir?: string;
}

/** Restores every member of a group from one checkpoint operation (default: the newest). */
export interface RestoreRequest {
  readonly v: 1;
  readonly type: "restore";
  readonly group: string;
  readonly from?: string;
  /** Members restored on another node than the one that dumped them (`restore --on`). */
  readonly placement?: Readonly<Record<string, string>>;
}

/** Progress of an operation this daemon started. */
export interface OperationRequest {
  readonly v: 1;
  readonly type: "operation";
  readonly id: string;
  /** keyOf() the snapshot last seen: the answer waits until the operation changes (a long poll). */
  readonly after?: string;
}

/** Operations whose images the cluster's nodes hold. */
export interface OperationsRequest {
  readonly v: 1;
  readonly type: "operations";
  readonly group?: string;
}

export type Request = ArriveRequest | StatusRequest | AbortRequest | CheckpointRequest | RestoreRequest | OperationRequest | OperationsRequest;

export interface ResultResponse {
  readonly v: 1;
  readonly type: "result";
  readonly ok: boolean;
  readonly code: ResultCode;
  readonly message: string;
}

export interface StatusResponse {
  readonly v: 1;
  readonly type: "status";
  readonly status: unknown;
}

export interface ErrorResponse {
  readonly v: 1;
  readonly type: "error";
  readonly message: string;
}

/** An operation's snapshot (src/operations/types.ts OperationSnapshot). */
export interface OperationResponse {
  readonly v: 1;
  readonly type: "operation";
  readonly operation: OperationSnapshot;
}

/** Every node's copy of each operation, and the nodes that did not answer. */
export interface OperationsResponse {
  readonly v: 1;
  readonly type: "operations";
  readonly operations: readonly StoredOperation[];
  readonly unreachable: readonly string[];
}

export type Response = ResultResponse | StatusResponse | ErrorResponse | OperationResponse | OperationsResponse;

const LIMIT = 256; // longest name, hook or attempt accepted

/** Checks an untrusted decoded frame; returns the request or an error message. */
export function parseRequest(raw: unknown): Request | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "Request must be a JSON object";
  const r = raw as Record<string, unknown>;
  if (r.v !== PROTOCOL_VERSION) return `Unsupported protocol version ${JSON.stringify(r.v)}; this daemon speaks version ${PROTOCOL_VERSION}`;
  switch (r.type) {
    case "arrive": {
      for (const k of ["group", "participant", "hook"] as const) {
        if (!shortString(r[k])) return `Field "${k}" must be a non-empty string of at most ${LIMIT} characters`;
      }
      if (r.attempt !== undefined && !shortString(r.attempt)) return `Field "attempt" must be a string of at most ${LIMIT} characters`;
      if (r.pid !== undefined && !(Number.isInteger(r.pid) && (r.pid as number) > 0)) return `Field "pid" must be a positive integer`;
      return r as unknown as ArriveRequest;
    }
    case "status":
      return { v: 1, type: "status" };
    case "abort":
      if (!shortString(r.group)) return `Field "group" must be a non-empty string of at most ${LIMIT} characters`;
      if (typeof r.reason !== "string" || r.reason.length > 1024) return `Field "reason" must be a string of at most 1024 characters`;
      return r as unknown as AbortRequest;
    case "checkpoint":
      if (!shortString(r.group)) return `Field "group" must be a non-empty string of at most ${LIMIT} characters`;
      if (r.leaveRunning !== undefined && typeof r.leaveRunning !== "boolean") return `Field "leaveRunning" must be a boolean`;
      if (r.dir !== undefined && !(typeof r.dir === "string" && r.dir.startsWith("/") && r.dir.length <= 4096)) return `Field "dir" must be an absolute path`;
      return r as unknown as CheckpointRequest;
    case "restore":
      if (!shortString(r.group)) return `Field "group" must be a non-empty string of at most ${LIMIT} characters`;
      if (r.from !== undefined && !operationId(r.from)) return `Field "from" must be an operation id (letters, digits, ".", "_", "-")`;
      if (r.placement !== undefined && !validPlacement(r.placement)) return `Field "placement" must map member names to node names (at most ${LIMIT} characters each)`;
      return r as unknown as RestoreRequest;
    case "operation":
      if (!operationId(r.id)) return `Field "id" must be an operation id (letters, digits, ".", "_", "-")`;
      if (r.after !== undefined && !(typeof r.after === "string" && r.after.length <= 64)) return `Field "after" must be a string of at most 64 characters`;
      return r as unknown as OperationRequest;
    case "operations":
      if (r.group !== undefined && !shortString(r.group)) return `Field "group" must be a non-empty string of at most ${LIMIT} characters`;
      return r as unknown as OperationsRequest;
    default:
      return `Unknown request type ${JSON.stringify(r.type)}; expected "arrive", "status", "abort", "checkpoint", "restore", "operation" or "operations"`;
  }
}

function operationId(v: unknown): v is string {
  return typeof v === "string" && /^[A-Za-z0-9._-]{1,200}$/.test(v);
}

function shortString(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= LIMIT;
}

/** A restore's placement: member → node, short strings (the hook path must not load operations/). */
function validPlacement(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const entries = Object.entries(v);
  return entries.length <= 1000 && entries.every(([k, n]) => shortString(k) && shortString(n));
}
