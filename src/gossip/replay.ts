/**
 * Replay protection. Every packet carries the sender's generation (boot id), a packet counter and
 * a timestamp. A packet is accepted once: counters already seen, or too old for the window, or of
 * an older generation are replays; a timestamp further than `maxSkewMs` from our clock is stale
 * (this also covers a receiver that restarted and lost its windows).
 */

const WINDOW = 1024;

interface SenderWindow {
  gen: number;
  max: number;
  seen: Set<number>;
}

export type ReplayVerdict = "ok" | "replayed" | "stale";

export class ReplayGuard {
  readonly #senders = new Map<string, SenderWindow>();

  constructor(readonly maxSkewMs: number) {}

  check(now: number, sender: string, gen: number, n: number, ts: number): ReplayVerdict {
    if (Math.abs(now - ts) > this.maxSkewMs) return "stale";
    const w = this.#senders.get(sender);
    if (!w || gen > w.gen) {
      this.#senders.set(sender, { gen, max: n, seen: new Set([n]) });
      return "ok";
    }
    if (gen < w.gen || n <= w.max - WINDOW || w.seen.has(n)) return "replayed";
    w.seen.add(n);
    if (n > w.max) {
      w.max = n;
      for (const old of w.seen) if (old <= n - WINDOW) w.seen.delete(old);
    }
    return "ok";
  }
}
