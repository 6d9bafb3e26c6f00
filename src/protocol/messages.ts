/**
 * Messages on the local socket. Every message carries `v`, the protocol version; a daemon answers
 * a version it does not speak with an error naming the versions it does.
 */
import type { ResultCode } from "../barrier/types.ts";

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

export type Request = ArriveRequest | StatusRequest | AbortRequest;

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

export type Response = ResultResponse | StatusResponse | ErrorResponse;

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
    default:
      return `Unknown request type ${JSON.stringify(r.type)}; expected "arrive", "status" or "abort"`;
  }
}

function shortString(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= LIMIT;
}
