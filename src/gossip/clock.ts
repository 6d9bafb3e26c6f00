/**
 * Time as a dependency: the gossip layer never calls Date.now or setTimeout directly, so tests run
 * whole clusters on a FakeClock, deterministically and without sleeping.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds; wall time for the real clock because it is also stamped on packets. */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** A manual clock: timers run only inside `advance`, in due-time order (ties in creation order). */
export class FakeClock implements Clock {
  #now: number;
  #order = 0;
  #timers: Pending[] = [];

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, cancelled: false };
    this.#timers.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way (also new ones). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: Pending | undefined;
      for (const t of this.#timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.order < next.order))) next = t;
      if (!next) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = end;
  }

  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}
