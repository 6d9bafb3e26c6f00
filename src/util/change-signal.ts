/**
 * Wakes whoever waits for "something changed": long-polled progress (operation snapshots for the
 * CLI, member progress between daemons) is answered when it changes, not on a timer.
 */
export class ChangeSignal {
  #waiters: (() => void)[] = [];

  notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves at the next notify(), or after `timeoutMs` at the latest. */
  next(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.push(done);
    });
  }

  /**
   * Waits until `current()` differs from `seen`, for at most `timeoutMs`; returns the value then.
   * With `seen` undefined it returns at once.
   */
  async until<T>(current: () => T, key: (v: T) => string, seen: string | undefined, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    let v = current();
    while (seen !== undefined && key(v) === seen && Date.now() < end) {
      await this.next(end - Date.now());
      v = current();
    }
    return v;
  }
}

/** A short fingerprint of a JSON-able value, for "answer when it differs from what I saw". */
export function keyOf(value: unknown): string {
  return Bun.hash(JSON.stringify(value)).toString(36);
}
