/**
 * Commands one daemon sends another for checkpoint and restore operations. They travel as the
 * body of an authenticated gossip request (src/gossip/requests.ts); a daemon also runs them on
 * itself. Every field is checked before use: a peer with the key but a bug can not crash us.
 */
import { parseManifest } from "./manifest.ts";
import { CONTAINER_ID, OPERATION_ID } from "./plan.ts";
import type { Manifest } from "./types.ts";

/** The longest a long-polled progress request may be held (`report`, and the CLI's `operation`). */
export const MAX_WAIT_MS = 30_000;

/** One member a node must dump: its root process and where its images go. */
export interface DumpTarget {
  readonly member: string;
  readonly pid: number;
  /** A Podman container's ID: `podman container checkpoint` instead of `criu dump`. */
  readonly container?: string;
}

/** A member's images, as a restore on any node needs them. */
export interface RestoreEntry {
  readonly member: string;
  readonly pid: number;
  readonly dir: string;
  readonly container?: string;
}

export type PeerCommand =
  /** Which members of `group` run here? */
  | { readonly c: "scan"; readonly group: string }
  /** Dump these members into the operation's directory (`dir`, else the node's default). */
  | { readonly c: "dump"; readonly manifest: Manifest; readonly targets: readonly DumpTarget[]; readonly dir?: string }
  /**
   * Restore these members of checkpoint `checkpoint` as restore operation `op`, from `entries`
   * (their manifest entries: a member placed on this node from another has none here).
   */
  | { readonly c: "restore"; readonly op: string; readonly checkpoint: string; readonly group: string; readonly members: readonly string[]; readonly entries?: readonly RestoreEntry[] }
  /** Which of these members' images can this node not read? (before a restore places them here) */
  | { readonly c: "check"; readonly entries: readonly RestoreEntry[] }
  /**
   * Progress of this node's members in operation `op`. With `after` (the keyOf() of the members
   * last seen), answered when they differ from it, or after `waitMs` (a long poll).
   */
  | { readonly c: "report"; readonly op: string; readonly after?: string; readonly waitMs?: number }
  /** The operations whose images this node holds. */
  | { readonly c: "list"; readonly group?: string }
  /** Record the final manifest next to this node's images. */
  | { readonly c: "finish"; readonly manifest: Manifest };

/** The command, or why `raw` is not one. */
export function parsePeerCommand(raw: unknown): PeerCommand | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "Command must be an object";
  const r = raw as Record<string, unknown>;
  switch (r.c) {
    case "scan":
      return name(r.group) ? { c: "scan", group: r.group } : `Field "group" must be a name`;
    case "dump": {
      const m = parseManifest(r.manifest);
      if (typeof m === "string") return `Field "manifest": ${m}`;
      if (!Array.isArray(r.targets) || !r.targets.every(isTarget)) return `Field "targets" must be a list of { member, pid }`;
      if (r.dir !== undefined && !absolute(r.dir)) return `Field "dir" must be an absolute path`;
      return { c: "dump", manifest: m, targets: r.targets, ...(r.dir !== undefined ? { dir: r.dir as string } : {}) };
    }
    case "restore":
      if (!opId(r.op) || !opId(r.checkpoint) || !name(r.group)) return `Fields "op", "checkpoint" and "group" must be ids`;
      if (!Array.isArray(r.members) || !r.members.every(name)) return `Field "members" must be a list of names`;
      if (r.entries !== undefined && !(Array.isArray(r.entries) && r.entries.every(isEntry))) return `Field "entries" must be a list of { member, pid, dir[, container] }`;
      return { c: "restore", op: r.op, checkpoint: r.checkpoint, group: r.group, members: r.members, ...(r.entries !== undefined ? { entries: r.entries as RestoreEntry[] } : {}) };
    case "check":
      if (!Array.isArray(r.entries) || !r.entries.every(isEntry)) return `Field "entries" must be a list of { member, pid, dir[, container] }`;
      return { c: "check", entries: r.entries };
    case "report":
      if (!opId(r.op)) return `Field "op" must be an operation id`;
      if (r.after !== undefined && !(typeof r.after === "string" && r.after.length <= 64)) return `Field "after" must be a string of at most 64 characters`;
      if (r.waitMs !== undefined && !(Number.isInteger(r.waitMs) && (r.waitMs as number) >= 0 && (r.waitMs as number) <= MAX_WAIT_MS)) return `Field "waitMs" must be an integer from 0 to ${MAX_WAIT_MS}`;
      return { c: "report", op: r.op, ...(r.after !== undefined ? { after: r.after as string } : {}), ...(r.waitMs !== undefined ? { waitMs: r.waitMs as number } : {}) };
    case "list":
      if (r.group !== undefined && !name(r.group)) return `Field "group" must be a name`;
      return { c: "list", ...(r.group !== undefined ? { group: r.group as string } : {}) };
    case "finish": {
      const m = parseManifest(r.manifest);
      return typeof m === "string" ? `Field "manifest": ${m}` : { c: "finish", manifest: m };
    }
    default:
      return `Unknown command ${JSON.stringify(r.c)}`;
  }
}

const name = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 256;
const opId = (v: unknown): v is string => typeof v === "string" && OPERATION_ID.test(v);
const absolute = (v: unknown): v is string => typeof v === "string" && v.startsWith("/") && v.length <= 4096;

function isEntry(v: unknown): v is RestoreEntry {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Record<string, unknown>;
  return isTarget(v) && absolute(t.dir);
}

function isTarget(v: unknown): v is DumpTarget {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Record<string, unknown>;
  return name(t.member) && Number.isInteger(t.pid) && (t.pid as number) > 0 && (t.container === undefined || (typeof t.container === "string" && CONTAINER_ID.test(t.container)));
}
