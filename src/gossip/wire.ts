/**
 * Gossip messages: codes, shapes, and a validating decoder. The body is JSON inside the sealed
 * packet (security.ts); it is parsed only after authentication and only under the size limit, and
 * every field is checked before use, so a peer with the key but a bug can not crash us either.
 */
import type { OpRecord } from "../barrier/types.ts";

/** Message type codes. WARNING: ONLY APPEND TO THIS LIST! The numbers are part of the protocol. */
export const MSG = {
  ping: 1,
  ack: 2,
  pingReq: 3,
  push: 4,
  pushAck: 5,
  sync: 6,
  syncReply: 7,
  req: 8,
  reqReply: 9,
} as const;

export type MemberState = "alive" | "suspect" | "dead";

/** A SWIM membership fact, piggybacked on probes and exchanged whole on sync. */
export interface MemberUpdate {
  readonly name: string;
  readonly addr: string;
  readonly inc: number;
  readonly state: MemberState;
}

/** A node's record, tagged with its writer and the writer's generation. */
export interface WireRecord {
  readonly node: string;
  readonly gen: number;
  readonly rec: OpRecord;
}

/** node → [generation, highest record seq] (scuttlebutt digest). */
export type Digest = Record<string, [number, number]>;

/** Fields every message carries. */
export interface Common {
  /** Sender clock, ms: replay window. */
  readonly ts: number;
  /** Sender generation (boot id): a new one means the daemon restarted. */
  readonly gen: number;
  /** Sender packet counter within the generation. */
  readonly n: number;
  /** Sender's advertised address and incarnation, so unknown senders can be added. */
  readonly addr: string;
  readonly inc: number;
  readonly updates: readonly MemberUpdate[];
}

export type Body =
  | { readonly t: "ping"; readonly seq: number; readonly target: string }
  | { readonly t: "ack"; readonly seq: number }
  | { readonly t: "pingReq"; readonly seq: number; readonly target: string; readonly targetAddr: string }
  | { readonly t: "push"; readonly id: number; readonly records: readonly WireRecord[] }
  | { readonly t: "pushAck"; readonly id: number }
  | { readonly t: "sync"; readonly members: readonly MemberUpdate[]; readonly digest: Digest }
  | { readonly t: "syncReply"; readonly members: readonly MemberUpdate[]; readonly digest: Digest; readonly records: readonly WireRecord[] }
  // Request/reply between daemons (requests.ts); the body is checked by whoever handles it.
  | { readonly t: "req"; readonly id: number; readonly body: Record<string, unknown> }
  | { readonly t: "reqReply"; readonly id: number; readonly body: Record<string, unknown> };

export type Message = Common & Body;

export function encode(m: Message): { type: number; data: Uint8Array } {
  return { type: MSG[m.t], data: new TextEncoder().encode(JSON.stringify(m)) };
}

/** The message, or undefined when it is not valid JSON of the shape its type code says. */
export function decode(type: number, data: Uint8Array): Message | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (!isObj(v) || MSG[v.t as keyof typeof MSG] !== type) return undefined;
  if (!num(v.ts) || !num(v.gen) || !num(v.n) || !str(v.addr) || !num(v.inc) || !arr(v.updates, isUpdate)) return undefined;
  return bodyOk(v) ? (v as unknown as Message) : undefined;
}

function bodyOk(v: Obj): boolean {
  switch (v.t) {
    case "ping":
      return num(v.seq) && str(v.target);
    case "ack":
      return num(v.seq);
    case "pingReq":
      return num(v.seq) && str(v.target) && str(v.targetAddr);
    case "push":
      return num(v.id) && arr(v.records, isWireRecord);
    case "pushAck":
      return num(v.id);
    case "sync":
      return arr(v.members, isUpdate) && isDigest(v.digest);
    case "syncReply":
      return arr(v.members, isUpdate) && isDigest(v.digest) && arr(v.records, isWireRecord);
    case "req":
    case "reqReply":
      return num(v.id) && isObj(v.body);
    default:
      return false;
  }
}

// --- internal ---

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 256;
const num = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const arr = <T>(v: unknown, ok: (x: unknown) => x is T): v is T[] => Array.isArray(v) && v.length <= 4096 && v.every(ok);

function isUpdate(v: unknown): v is MemberUpdate {
  return isObj(v) && str(v.name) && str(v.addr) && num(v.inc) && (v.state === "alive" || v.state === "suspect" || v.state === "dead");
}

function isDigest(v: unknown): v is Digest {
  if (!isObj(v)) return false;
  return Object.values(v).every((d) => Array.isArray(d) && d.length === 2 && num(d[0]) && num(d[1]));
}

function isWireRecord(v: unknown): v is WireRecord {
  if (!isObj(v) || !str(v.node) || !num(v.gen) || !isObj(v.rec)) return false;
  const r = v.rec;
  if (!str(r.group) || !num(r.epoch) || !num(r.seq) || (r.kind !== "dump" && r.kind !== "restore")) return false;
  if (!isObj(r.progress) || !Object.values(r.progress).every(num)) return false;
  if (r.outcome === undefined) return true;
  if (!isObj(r.outcome)) return false;
  return r.outcome.state === "committed" || (r.outcome.state === "aborted" && typeof r.outcome.reason === "string");
}
