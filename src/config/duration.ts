/** Durations in the configuration: "500ms", "30s", "2m", "1h", or a bare number of seconds. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds for `value`, or an error message saying what was expected. */
export function parseDuration(value: unknown): number | string {
  if (typeof value === "number" || typeof value === "bigint") {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n * 1000 : `expected a positive duration, got ${n}`;
  }
  if (typeof value !== "string") return `expected a duration such as "30s", got ${typeof value}`;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!m) return `expected a duration such as "500ms", "30s" or "2m", got "${value}"`;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return ms > 0 ? ms : `expected a positive duration, got "${value}"`;
}
