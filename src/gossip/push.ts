/**
 * Direct push of this node's changed records: sent at once to every reachable member, acked,
 * retransmitted with a doubling timeout. A newer record of the same group replaces the pending
 * one, so a slow peer gets the latest state, not a backlog. Loss beyond the attempt budget is
 * repaired by anti-entropy.
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
}

export class Pusher {
  readonly #pending = new Map<string, Pending>();
  readonly #byId = new Map<number, Pending>();
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
      const pending: Pending = { id: this.#nextId++, peer: p.name, key, attempts: 0, rto: this.cfg.pushRtoMs, timer: { cancel() {} } };
      this.#pending.set(key, pending);
      this.#byId.set(pending.id, pending);
      this.#attempt(pending, w);
    }
  }

  acked(id: number): void {
    this.#cancel(this.#byId.get(id));
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
    p.attempts++;
    p.timer = this.clock.setTimeout(() => this.#attempt(p, w), p.rto);
    p.rto = Math.min(p.rto * 2, this.cfg.pushRtoMaxMs);
  }

  #cancel(p: Pending | undefined): void {
    if (!p) return;
    p.timer.cancel();
    this.#pending.delete(p.key);
    this.#byId.delete(p.id);
  }
}
