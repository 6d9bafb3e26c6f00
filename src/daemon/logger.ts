/**
 * The daemon's logger, on consola's core (no bundled reporters). Two reporters:
 * - journal (under systemd): one line per entry with an sd-daemon(3) priority prefix ("<3>"
 *   error … "<7>" debug) that journald turns into the entry's priority; no colour, no glyphs.
 * - otherwise: the time and a level tag.
 * Both write with console.error: Bun's node-compatible process.stderr stream costs about 7 MB of
 * resident memory in an otherwise idle daemon, and full consola another 5 MB (bench/scale.ts).
 */
import { createConsola, type ConsolaReporter, type LogObject } from "consola/core";
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

function text(obj: LogObject): string {
  return obj.args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" ");
}

export const journalReporter: ConsolaReporter = {
  log(obj: LogObject) {
    console.error(`<${priority(obj.level)}>${text(obj).replace(/\s*\n\s*/g, " ⏎ ")}`);
  },
};

const TAGS: Record<number, string> = { 0: "ERROR", 1: "WARN ", 2: "INFO ", 3: "INFO ", 4: "DEBUG", 5: "TRACE" };

export const terminalReporter: ConsolaReporter = {
  log(obj: LogObject) {
    // UTC from toISOString: local-time formatting loads time zone data (about 5 MB resident).
    const time = obj.date.toISOString().slice(11, 23);
    console.error(`${time} ${TAGS[obj.level] ?? "INFO "} ${text(obj)}`);
  },
};

export function createLogger(level: LogLevel, opts: { journal?: boolean } = {}): Logger {
  // systemd sets JOURNAL_STREAM for a service whose stderr goes to the journal. (Neither
  // process.stderr.isTTY nor node:tty is used: each costs the idle daemon about 6 MB.)
  const journal = opts.journal ?? (process.env.JOURNAL_STREAM !== undefined || process.env.INVOCATION_ID !== undefined);
  const c = createConsola({ level: LEVELS[level], reporters: [journal ? journalReporter : terminalReporter] });
  return {
    error: (m) => c.error(m),
    warn: (m) => c.warn(m),
    info: (m) => c.info(m),
    debug: (m) => c.debug(m),
  };
}
