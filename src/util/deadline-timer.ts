/**
 * One timer for a pure engine's earliest deadline: `set(at)` after every engine call, and
 * `onFire` runs the engine's tick. Setting the same deadline again is free, so callers can call
 * it unconditionally.
 */
export class DeadlineTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at: number | undefined;

  constructor(
    readonly now: () => number,
    readonly onFire: () => void,
  ) {}

  /** Arms the timer for `at` (ms, on the `now` clock), or disarms it for undefined. */
  set(at: number | undefined): void {
    if (at === this.#at) return;
    this.clear();
    this.#at = at;
    if (at === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#at = undefined;
      this.onFire();
    }, Math.max(0, at - this.now()));
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = undefined;
  }
}
