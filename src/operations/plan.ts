/**
 * Planning a checkpoint: which process tree of which node is each member, or why it can not start.
 * Pure: the nodes scan /proc (src/daemon/checkpoint-scan.ts) and this decides, before anything is
 * frozen.
 */
import { join } from "node:path";
import type { MatchVia } from "../identity/match.ts";

/** A Podman container's full ID: what `podman container checkpoint/restore` are given. */
export const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** One process whose identity matched a member. */
export interface MatchedProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly member: string;
  readonly via: MatchVia;
  /** Set when the process runs in a Podman container and matched by a container form. */
  readonly container?: string;
}

/** A member found on a node: the roots of its matching process trees. */
export interface FoundMember {
  readonly member: string;
  readonly via: MatchVia;
  /** One per separate tree; more than one is ambiguous. */
  readonly roots: readonly number[];
  /** The Podman container the member is (its roots are the container's init). */
  readonly container?: string;
}

/** What one node answered to a scan. */
export interface NodeScan {
  readonly node: string;
  readonly found: readonly FoundMember[];
  /** Reasons this node can not take part (e.g. no CRIU binary). */
  readonly problems: readonly string[];
}

export interface Assignment {
  readonly member: string;
  readonly node: string;
  readonly pid: number;
  /** A Podman container: dumped by `podman container checkpoint`, not by CRIU directly. */
  readonly container?: string;
}

export type Plan = { readonly ok: true; readonly assignments: readonly Assignment[] } | { readonly ok: false; readonly problems: readonly string[] };

/**
 * A member's root process is the topmost matching one: a matching process whose parent does not
 * match the same member. CRIU dumps the whole tree below it (forked workers share the comm).
 */
export function rootsOf(matched: readonly MatchedProcess[]): FoundMember[] {
  const memberOf = new Map(matched.map((p) => [p.pid, p.member]));
  const byMember = new Map<string, { via: MatchVia; roots: number[]; container?: string }>();
  for (const p of [...matched].sort((a, b) => a.pid - b.pid)) {
    if (memberOf.get(p.ppid) === p.member) continue;
    const e = byMember.get(p.member) ?? { via: p.via, roots: [], ...(p.container ? { container: p.container } : {}) };
    e.roots.push(p.pid);
    byMember.set(p.member, e);
  }
  return [...byMember].map(([member, e]) => ({ member, via: e.via, roots: e.roots, ...(e.container ? { container: e.container } : {}) }));
}

/**
 * Every member must be one process tree on exactly one reachable node, and every node must be
 * reachable: otherwise nothing starts, and every reason is listed.
 */
export function planCheckpoint(members: readonly string[], scans: readonly NodeScan[], unreachable: readonly string[]): Plan {
  const problems: string[] = [...unreachable];
  for (const s of scans) for (const p of s.problems) problems.push(`node ${s.node}: ${p}`);
  const assignments: Assignment[] = [];
  for (const member of members) {
    const where = scans.flatMap((s) => s.found.filter((f) => f.member === member).map((f) => ({ node: s.node, f })));
    const first = where[0];
    if (!first) {
      problems.push(`member ${member} is not running on any ${unreachable.length > 0 ? "reachable " : ""}node`);
      continue;
    }
    if (where.length > 1) {
      problems.push(`member ${member} runs on several nodes: ${where.map((w) => `${w.node} (pid ${w.f.roots.join(", ")})`).join(", ")}`);
      continue;
    }
    if (first.f.roots.length > 1) {
      problems.push(`member ${member} matches ${first.f.roots.length} separate process trees on node ${first.node} (pids ${first.f.roots.join(", ")}): name it more precisely`);
      continue;
    }
    if (first.f.via !== "process-name" && !first.f.container) {
      problems.push(`member ${member} on node ${first.node} is a container (matched by ${first.f.via}) that Podman does not run: the checkpoint command checkpoints Podman containers only; use your engine's checkpoint command with criu-coordinator as CRIU's action-script`);
      continue;
    }
    assignments.push({ member, node: first.node, pid: first.f.roots[0]!, ...(first.f.container ? { container: first.f.container } : {}) });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, assignments };
}

/** `pair-20261129T071636Z-3fa2`: sortable by time within a group, safe as a file name. */
export function operationId(group: string, now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const suffix = Math.floor(random() * 0x10000).toString(16).padStart(4, "0");
  return `${group}-${stamp}-${suffix}`;
}

/** Operation ids as operationId makes them (and as a restore's --from must name them). */
export const OPERATION_ID = /^[A-Za-z0-9._-]{1,200}$/;

/** A member's images directory name: member names may hold "/" (Kubernetes form). */
export function memberDirName(member: string): string {
  return member.replaceAll("/", "~");
}

/** Default root of per-operation directories; CRIU_COORDINATOR_OPERATIONS_DIR overrides it. */
export const DEFAULT_OPERATIONS_DIR = "/var/lib/criu-coordinator/operations";

/** The directory of one operation: `--dir` if given, else `<operations dir>/<id>`. */
export function operationDir(baseDir: string, id: string, dir?: string): string {
  return dir ?? join(baseDir, id);
}
