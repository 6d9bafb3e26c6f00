/**
 * The daemon's logger. On a terminal: consola's usual output. Otherwise (systemd, pipes): one line
 * per entry with an sd-daemon(3) priority prefix ("<3>" error … "<7>" debug) that journald turns
 * into the entry's priority, and no colour or glyphs.
 */
import { createConsola, type ConsolaReporter, type LogObject } from "consola";
import type { LogLevel } from "../config/schema.ts";
import type { Logger } from "../util/log.ts";

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4 };

/** consola's numeric level → syslog priority. */
function priority(level: number): number {
  if (level <= 0) return 3;
  if (level === 1) return 4;
  if (level <= 3) return 6;
  return 7;
}

export const journalReporter: ConsolaReporter = {
  log(obj: LogObject) {
    const text = obj.args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" ");
    process.stderr.write(`<${priority(obj.level)}>${text.replace(/\s*\n\s*/g, " ⏎ ")}\n`);
  },
};

export function createLogger(level: LogLevel, opts: { journal?: boolean } = {}): Logger {
  const journal = opts.journal ?? !process.stderr.isTTY;
  const c = createConsola({ level: LEVELS[level], ...(journal ? { reporters: [journalReporter] } : {}) });
  return {
    error: (m) => c.error(m),
    warn: (m) => c.warn(m),
    info: (m) => c.info(m),
    debug: (m) => c.debug(m),
  };
}
