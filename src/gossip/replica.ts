/**
 * Every node's records as this node last heard them: the scuttlebutt state. Each node writes only
 * its own records, versioned by (generation, seq), so "newer wins" is exact. Only the latest record
 * per (node, group) is kept: state stays O(nodes × groups), never O(history).
 */
import type { OpRecord } from "../barrier/types.ts";
import type { Digest, WireRecord } from "./wire.ts";

interface NodeRecords {
  gen: number;
  /** group → latest record. */
  readonly records: Map<string, OpRecord>;
}

export type ApplyResult = "new" | "known" | "stale" | "restarted";

export class Replica {
  readonly #nodes = new Map<string, NodeRecords>();

  constructor(readonly self: string, readonly selfGen: number) {
    this.#nodes.set(self, { gen: selfGen, records: new Map() });
  }

  /** This node's current record of `group`, if any. */
  local(group: string): OpRecord | undefined {
    return this.#nodes.get(this.self)!.records.get(group);
  }

  /** Records this node's own change. */
  setLocal(rec: OpRecord): WireRecord {
    this.#nodes.get(this.self)!.records.set(rec.group, rec);
    return { node: this.self, gen: this.selfGen, rec };
  }

  /**
   * Stores a peer's record. "restarted": the node has a new generation (its old records are
   * dropped; the record itself is stored as new); "stale": an older generation or version.
   */
  apply(w: WireRecord): ApplyResult {
    if (w.node === this.self) return "stale";
    const entry = this.#nodes.get(w.node);
    if (entry && w.gen < entry.gen) return "stale";
    let result: ApplyResult = "new";
    if (!entry || w.gen > entry.gen) {
      if (entry) result = "restarted";
      this.#nodes.set(w.node, { gen: w.gen, records: new Map([[w.rec.group, w.rec]]) });
      return result;
    }
    const old = entry.records.get(w.rec.group);
    if (old && old.seq >= w.rec.seq) return "known";
    entry.records.set(w.rec.group, w.rec);
    return result;
  }

  /** Generation of `node` as last heard, if any. */
  generation(node: string): number | undefined {
    return this.#nodes.get(node)?.gen;
  }

  /** Forgets a node's old generation (it restarted) so its new records are all taken. */
  resetGeneration(node: string, gen: number): boolean {
    const entry = this.#nodes.get(node);
    if (node === this.self || (entry && entry.gen >= gen)) return false;
    this.#nodes.set(node, { gen, records: new Map() });
    return entry !== undefined && entry.records.size > 0;
  }

  digest(): Digest {
    const d: Digest = {};
    for (const [node, e] of this.#nodes) d[node] = [e.gen, maxSeq(e)];
    return d;
  }

  /**
   * Records the holder of `d` lacks, per node in ascending seq so a truncated answer never leaves
   * a gap (a later round continues where the digest stops).
   */
  newerThan(d: Digest, limit: number): WireRecord[] {
    const out: WireRecord[] = [];
    for (const [node, e] of this.#nodes) {
      const [gen, seq] = d[node] ?? [-1, -1];
      if (e.gen < gen) continue;
      const recs = [...e.records.values()].filter((r) => e.gen > gen || r.seq > seq).sort((a, b) => a.seq - b.seq);
      for (const rec of recs) {
        if (out.length >= limit) return out;
        out.push({ node, gen: e.gen, rec });
      }
    }
    return out;
  }
}

function maxSeq(e: NodeRecords): number {
  let m = 0;
  for (const r of e.records.values()) m = Math.max(m, r.seq);
  return m;
}
