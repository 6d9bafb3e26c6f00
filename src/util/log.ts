/** The logging seam: the daemon logs through this, tests capture it. */
export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

/** Collects log lines in memory (tests). */
export class MemoryLogger implements Logger {
  readonly lines: { level: string; msg: string }[] = [];
  error(msg: string) { this.lines.push({ level: "error", msg }); }
  warn(msg: string) { this.lines.push({ level: "warn", msg }); }
  info(msg: string) { this.lines.push({ level: "info", msg }); }
  debug(msg: string) { this.lines.push({ level: "debug", msg }); }
}
