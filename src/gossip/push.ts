/**
 * Direct push of this node's changed records: sent at once to every reachable member, acked,
 * retransmitted with a doubling timeout. A newer record of the same group replaces the pending
 * one, so a slow peer gets the latest state, not a backlog. Loss beyond the attempt budget is
 * repaired by anti-entropy.
 *
 * The first retransmit waits the peer's RTO, estimated from acked pushes as TCP does (RFC 6298:
 * srtt + 4·rttvar; unlike Karn, a resent push is sampled from its first send, so a peer slower than
 * the floor is learned at all, erring high), clamped to [pushRtoMs, pushRtoMaxMs]. On an
 * idle LAN that is the 10 ms floor; when a peer answers late (a loaded host running many daemons)
 * the RTO grows with it, instead of a storm of retransmits that makes every peer slower still.
 */
import type { Clock, Timer } from "./clock.ts";
import type { GossipConfig } from "./config.ts";
import type { WireRecord } from "./wire.ts";

export interface PushTarget {
  readonly name: string;
  readonly addr: string;
}

interface Pending {
  readonly id: number;
  readonly peer: string;
  readonly key: string;
  attempts: number;
  rto: number;
  timer: Timer;
  sentAt: number;
}

interface RttEstimate {
  srtt: number;
  rttvar: number;
}

export class Pusher {
  readonly #pending = new Map<string, Pending>();
  readonly #byId = new Map<number, Pending>();
  readonly #rtt = new Map<string, RttEstimate>();
  #nextId = 1;
  retransmits = 0;

  constructor(
    readonly clock: Clock,
    readonly cfg: GossipConfig,
    /** Sends one push message; returns false when the peer is no longer reachable. */
    readonly send: (peer: string, id: number, records: WireRecord[]) => boolean,
  ) {}

  push(peers: readonly PushTarget[], w: WireRecord): void {
    for (const p of peers) {
      const key = `${p.name}|${w.rec.group}`;
      this.#cancel(this.#pending.get(key));
      const pending: Pending = { id: this.#nextId++, peer: p.name, key, attempts: 0, rto: this.rtoOf(p.name), timer: { cancel() {} }, sentAt: 0 };
      this.#pending.set(key, pending);
      this.#byId.set(pending.id, pending);
      this.#attempt(pending, w);
    }
  }

  acked(id: number): void {
    const p = this.#byId.get(id);
    if (p) this.#sample(p.peer, this.clock.now() - p.sentAt);
    this.#cancel(p);
  }

  /** The first retransmit timeout for `peer`, ms. */
  rtoOf(peer: string): number {
    const e = this.#rtt.get(peer);
    const rto = e ? e.srtt + 4 * e.rttvar : this.cfg.pushRtoMs;
    return Math.min(this.cfg.pushRtoMaxMs, Math.max(this.cfg.pushRtoMs, rto));
  }

  get pending(): number {
    return this.#pending.size;
  }

  close(): void {
    for (const p of [...this.#pending.values()]) this.#cancel(p);
  }

  #attempt(p: Pending, w: WireRecord): void {
    if (p.attempts >= this.cfg.pushAttempts || !this.send(p.peer, p.id, [w])) {
      this.#cancel(p);
      return;
    }
    if (p.attempts > 0) this.retransmits++;
    if (p.attempts === 0) p.sentAt = this.clock.now();
    p.attempts++;
    p.timer = this.clock.setTimeout(() => this.#attempt(p, w), p.rto);
    p.rto = Math.min(p.rto * 2, this.cfg.pushRtoMaxMs);
  }

  /** RFC 6298 §2: α = 1/8, β = 1/4. */
  #sample(peer: string, rtt: number): void {
    const e = this.#rtt.get(peer);
    if (!e) {
      this.#rtt.set(peer, { srtt: rtt, rttvar: rtt / 2 });
      return;
    }
    e.rttvar = 0.75 * e.rttvar + 0.25 * Math.abs(e.srtt - rtt);
    e.srtt = 0.875 * e.srtt + 0.125 * rtt;
  }

  #cancel(p: Pending | undefined): void {
    if (!p) return;
    p.timer.cancel();
    this.#pending.delete(p.key);
    this.#byId.delete(p.id);
  }
}
