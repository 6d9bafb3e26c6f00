/**
 * The SWIM member table: alive → suspect → dead, incarnation numbers, refutation, and the queue of
 * membership facts piggybacked on outgoing messages.
 *
 * Rules (SWIM §4.2, as memberlist applies them): a fact about another member wins when its
 * incarnation is higher, or equal and the state is worse (alive < suspect < dead). A suspect
 * member that does not refute within the suspicion timeout is declared dead. A fact saying
 * *this* node is suspect or dead is refuted by bumping our incarnation and spreading "alive".
 */
import type { Clock, Timer } from "./clock.ts";
import { type GossipConfig, retransmitLimit, suspicionTimeoutMs } from "./config.ts";
import type { MemberState, MemberUpdate } from "./wire.ts";

export interface Member {
  readonly name: string;
  addr: string;
  inc: number;
  state: MemberState;
  /** When the state last changed. */
  since: number;
  suspicion?: Timer;
}

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2 };

export type MemberListener = (m: Member, previous: MemberState | undefined) => void;

export class Members {
  readonly #table = new Map<string, Member>();
  #inc = 0;
  #queue: { u: MemberUpdate; left: number }[] = [];

  constructor(
    readonly self: string,
    readonly selfAddr: string,
    readonly clock: Clock,
    readonly cfg: GossipConfig,
    readonly onChange: MemberListener,
  ) {}

  get incarnation(): number {
    return this.#inc;
  }

  get(name: string): Member | undefined {
    return this.#table.get(name);
  }

  /** Every other member, any state. */
  all(): Member[] {
    return [...this.#table.values()];
  }

  /** Members we talk to: alive or suspect (a suspect may still be alive). */
  reachable(): Member[] {
    return this.all().filter((m) => m.state !== "dead");
  }

  /** Cluster size for the formulas, this node included. */
  get size(): number {
    return this.reachable().length + 1;
  }

  /** We received an authenticated message from `name`: it exists, and is alive at `inc` or later. */
  heard(name: string, addr: string, inc: number): void {
    if (name === this.self) return;
    const m = this.#table.get(name);
    if (!m || inc > m.inc) this.apply({ name, addr, inc, state: "alive" });
    else if (m.state === "alive") m.addr = addr;
  }

  /** Applies a membership fact from a peer (or from ourselves). */
  apply(u: MemberUpdate): void {
    if (u.name === this.self) {
      if (u.state !== "alive" && u.inc >= this.#inc) {
        this.#inc = u.inc + 1; // refute: we are alive, with a newer incarnation
        this.#enqueue(this.selfFact());
      }
      return;
    }
    const m = this.#table.get(u.name);
    if (m && (u.inc < m.inc || (u.inc === m.inc && RANK[u.state] <= RANK[m.state]))) return;
    const previous = m?.state;
    const next: Member = m ?? { name: u.name, addr: u.addr, inc: u.inc, state: u.state, since: this.clock.now() };
    next.inc = u.inc;
    next.addr = u.addr;
    if (!m) this.#table.set(u.name, next);
    this.#enqueue(u);
    if (previous === u.state) return;
    next.state = u.state;
    next.since = this.clock.now();
    next.suspicion?.cancel();
    next.suspicion = undefined;
    if (u.state === "suspect") {
      const inc = u.inc;
      next.suspicion = this.clock.setTimeout(() => {
        if (next.state === "suspect" && next.inc === inc) this.apply({ name: next.name, addr: next.addr, inc, state: "dead" });
      }, suspicionTimeoutMs(this.cfg, this.size));
    }
    this.onChange(next, previous);
  }

  /** Our own probe of `name` failed: suspect it at its current incarnation. */
  suspect(name: string): void {
    const m = this.#table.get(name);
    if (m?.state === "alive") this.apply({ name, addr: m.addr, inc: m.inc, state: "suspect" });
  }

  selfFact(): MemberUpdate {
    return { name: this.self, addr: this.selfAddr, inc: this.#inc, state: "alive" };
  }

  /** The whole table, this node included, for a sync. */
  snapshot(): MemberUpdate[] {
    return [this.selfFact(), ...this.all().map(({ name, addr, inc, state }) => ({ name, addr, inc, state }))];
  }

  /**
   * Facts to piggyback on a message to `to`: what we believe about `to` first when it is suspect or
   * dead (so it can refute), then the freshest queued facts, each sent a bounded number of times.
   */
  piggyback(to: string | undefined, max = 6): MemberUpdate[] {
    const out: MemberUpdate[] = [];
    const target = to === undefined ? undefined : this.#table.get(to);
    if (target && target.state !== "alive") out.push({ name: target.name, addr: target.addr, inc: target.inc, state: target.state });
    for (const q of this.#queue) {
      if (out.length >= max) break;
      if (q.u.name === to && target?.state !== "alive") continue;
      out.push(q.u);
      q.left--;
    }
    this.#queue = this.#queue.filter((q) => q.left > 0);
    return out;
  }

  close(): void {
    for (const m of this.#table.values()) m.suspicion?.cancel();
  }

  #enqueue(u: MemberUpdate): void {
    // Newest first (tarantool #4253); a newer fact about a member replaces the older one.
    this.#queue = [{ u, left: retransmitLimit(this.cfg, this.size) }, ...this.#queue.filter((q) => q.u.name !== u.name)];
  }
}
