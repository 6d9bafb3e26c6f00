/**
 * The reference's log format for `-o/--log-file`: "LEVEL - message" lines appended to a file
 * created with mode 0600; "-" means standard output. A relative name is taken inside `dir`, as
 * the reference does with the images directory.
 */
import { appendFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { Logger } from "../util/log.ts";

const RANK = { error: 0, warn: 1, info: 2, debug: 3 } as const;

export function referenceLogger(file: string, dir = ".", level: keyof typeof RANK = "info"): Logger {
  const path = file === "-" ? undefined : isAbsolute(file) ? file : join(dir, file);
  const write = (lvl: keyof typeof RANK) => (msg: string) => {
    if (RANK[lvl] > RANK[level]) return;
    const line = `${lvl.toUpperCase()} - ${msg}\n`;
    if (path === undefined) process.stdout.write(line);
    else appendFileSync(path, line, { mode: 0o600 });
  };
  return { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug") };
}
