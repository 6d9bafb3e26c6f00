/**
 * Manifests: building, validating (they are read back from disk and from peers), and the restore
 * rule. Pure. A set of images is restorable only when every node that holds part of it recorded
 * the same committed outcome: a read-time check, because gossip can not make nodes agree on commit
 * vs abort in every failure (src/gossip/gossip-backend.ts, COMMIT WINDOW).
 */
import type { Manifest, ManifestMember, ManifestRestore, MemberProgress, OperationState, StoredOperation } from "./types.ts";
import { CONTAINER_ID } from "./plan.ts";

export const MANIFEST_FILE = "manifest.json";

/** The manifest of a checkpoint that is about to start. */
export function initialManifest(id: string, group: string, createdAt: string, leaveRunning: boolean, members: readonly MemberProgress[]): Manifest {
  return {
    version: 1,
    id,
    group,
    createdAt,
    leaveRunning,
    outcome: "running",
    nodes: [...new Set(members.map((m) => m.node))].sort(),
    members: members.map((m) => ({ member: m.member, node: m.node, pid: m.pid ?? 0, dir: m.dir, ...(m.container ? { container: m.container } : {}), outcome: m.state })),
    restores: [],
  };
}

/** The manifest once every member's dump ended (or its node went silent). */
export function finalManifest(m: Manifest, endedAt: string, members: readonly MemberProgress[]): Manifest {
  const state = outcomeOf(members);
  const list: ManifestMember[] = members.map((p) => ({
    member: p.member,
    node: p.node,
    pid: p.pid ?? 0,
    dir: p.dir,
    ...(p.container ? { container: p.container } : {}),
    outcome: p.state,
    ...(p.code !== undefined ? { code: p.code } : {}),
    ...(p.message ? { message: p.message } : {}),
  }));
  return { ...m, endedAt, outcome: state.state, ...(state.reason ? { reason: state.reason } : {}), members: list };
}

/** Committed only if every member's CRIU run succeeded; else which members did not. */
export function outcomeOf(members: readonly MemberProgress[]): { state: OperationState; reason?: string } {
  if (members.some((m) => m.state === "planned" || m.state === "running")) return { state: "running" };
  // Members whose own CRIU run failed first; those the coordinator aborted because of them after.
  const aborted = (m: MemberProgress) => (m.message?.startsWith("criu-coordinator:") ? 1 : 0);
  const bad = members.filter((m) => m.state !== "ok").sort((a, b) => aborted(a) - aborted(b));
  if (bad.length === 0) return { state: "committed" };
  return { state: "failed", reason: bad.map((m) => `${m.member} on ${m.node}: ${m.state === "unknown" ? "its node stopped answering" : (m.message ?? `CRIU exited ${m.code}`)}`).join("; ") };
}

/** The manifest with one more restore recorded. */
export function withRestore(m: Manifest, r: ManifestRestore): Manifest {
  return { ...m, restores: [...m.restores, r] };
}

/**
 * Problems that forbid restoring `id` from these per-node copies; empty when it is restorable.
 * Restoring the same images twice, or images taken with --leave-running, is allowed: every member
 * is restored from the same cut (the caller checks that none still runs), so TCP peers agree.
 */
export function restoreProblems(id: string, copies: readonly StoredOperation[], needed?: ReadonlySet<string>): string[] {
  const mine = copies.filter((c) => c.manifest.id === id);
  const first = mine[0];
  if (!first) return [`No node holds images of operation ${id}`];
  const m = first.manifest;
  const problems: string[] = [];
  for (const node of m.nodes) {
    const copy = mine.find((c) => c.node === node);
    if (!copy) {
      // A node whose members are all restored elsewhere (restore --on) is not needed.
      if (!needed || needed.has(node)) problems.push(`node ${node} holds no manifest of ${id}: its images are missing`);
      continue;
    }
    const c = copy.manifest;
    if (c.outcome === "running") problems.push(`node ${node} never recorded the outcome of ${id} (the checkpoint was interrupted)`);
    else if (c.outcome === "failed") problems.push(`the checkpoint did not commit everywhere: ${c.reason ?? "some member failed"}`);
    if (copy.missing.length > 0 && (!needed || needed.has(node))) problems.push(`node ${node} lacks the images of ${copy.missing.join(", ")}`);
  }
  return [...new Set(problems)];
}

/** The newest checkpoint of `group` among the copies (by creation time, then id). */
export function newestOf(group: string, copies: readonly StoredOperation[]): Manifest | undefined {
  return copies
    .map((c) => c.manifest)
    .filter((m) => m.group === group)
    .sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)))
    .at(-1);
}

const STATES = new Set(["planned", "running", "ok", "failed", "unknown"]);

/** The manifest, or why `raw` is not a version 1 manifest. */
export function parseManifest(raw: unknown): Manifest | string {
  if (!isObj(raw) || raw.version !== 1) return "not a version 1 manifest";
  for (const k of ["id", "group", "createdAt"] as const) if (typeof raw[k] !== "string") return `field "${k}" must be a string`;
  if (raw.outcome !== "running" && raw.outcome !== "committed" && raw.outcome !== "failed") return `field "outcome" must be running, committed or failed`;
  if (typeof raw.leaveRunning !== "boolean") return `field "leaveRunning" must be a boolean`;
  if (!Array.isArray(raw.nodes) || !raw.nodes.every((n) => typeof n === "string")) return `field "nodes" must be a list of strings`;
  if (!Array.isArray(raw.members) || !raw.members.every(isMember)) return `field "members" must be a list of members`;
  if (!Array.isArray(raw.restores) || !raw.restores.every(isRestore)) return `field "restores" must be a list of restores`;
  return raw as unknown as Manifest;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function isMember(v: unknown): boolean {
  return (
    isObj(v) &&
    typeof v.member === "string" &&
    typeof v.node === "string" &&
    typeof v.dir === "string" &&
    typeof v.pid === "number" &&
    (v.container === undefined || (typeof v.container === "string" && CONTAINER_ID.test(v.container))) &&
    STATES.has(v.outcome as string)
  );
}

function isRestore(v: unknown): boolean {
  return isObj(v) && typeof v.id === "string" && typeof v.at === "string" && (v.outcome === "committed" || v.outcome === "failed");
}
