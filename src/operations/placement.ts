/**
 * Where a restore puts each member: on the node that dumped it, unless `--on MEMBER=NODE` says
 * otherwise (the node is gone, or being drained). Pure.
 *
 * The images must be readable on the new node at the same path (shared storage, e.g. a checkpoint
 * made with `--dir` on NFS): daemons do not copy images between nodes.
 */
import type { ManifestMember } from "./types.ts";

export type Placement = Readonly<Record<string, string>>;

/** `alpha=n2,beta=n3` → { alpha: "n2", beta: "n3" }, or why it is not that form. */
export function parsePlacement(text: string): Placement | string {
  const out: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.lastIndexOf("=");
    const member = part.slice(0, eq).trim();
    const node = part.slice(eq + 1).trim();
    if (eq <= 0 || member === "" || node === "") return `"${part}" is not MEMBER=NODE`;
    if (member in out) return `member ${member} is placed twice`;
    out[member] = node;
  }
  return Object.keys(out).length > 0 ? out : "no MEMBER=NODE given";
}

export interface PlacedMember extends ManifestMember {
  /** The node that restores it (its own `node` unless placed elsewhere). */
  readonly target: string;
}

/**
 * Each member with the node that restores it, the original nodes still needed (they restore a
 * member that stays), and what is wrong with the placement.
 */
export function placeMembers(
  members: readonly ManifestMember[],
  placement: Placement,
  nodes: ReadonlyMap<string, "alive" | "suspect" | "dead">,
): { placed: PlacedMember[]; needed: Set<string>; problems: string[] } {
  const problems: string[] = [];
  const names = new Set(members.map((m) => m.member));
  for (const [member, node] of Object.entries(placement)) {
    if (!names.has(member)) problems.push(`--on names ${member}, which is not a member of this checkpoint (members: ${[...names].join(", ")})`);
    const state = nodes.get(node);
    if (state === undefined) problems.push(`--on places ${member} on node ${node}, which is not in the cluster (nodes: ${[...nodes.keys()].join(", ")})`);
    else if (state === "dead") problems.push(`--on places ${member} on node ${node}, which is declared dead`);
  }
  const placed = members.map((m) => ({ ...m, target: placement[m.member] ?? m.node }));
  const needed = new Set(placed.filter((p) => p.target === p.node).map((p) => p.node));
  return { placed, needed, problems };
}
