/**
 * Finds where a key stands in TOML text, so that errors found after parsing (a wrong type, an
 * unknown member) still name a line and column. Best effort: it understands the table headers
 * and `key =` lines this project's configuration uses, and falls back to the table header.
 */

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** `path` like ["daemon", "socket"], ["group", 1, "members"], ["group", 0, "dependencies", "web"]. */
export function locate(text: string, path: readonly (string | number)[]): Position {
  const lines = text.split("\n");
  let start = 0;
  let end = lines.length;
  let at: Position = { line: 1, column: 1 };
  let i = 0;
  const table = path[0];
  if (typeof table === "string") {
    const arrayIndex = typeof path[1] === "number" ? path[1] : undefined;
    const header = arrayIndex === undefined ? new RegExp(`^\\s*\\[\\s*${esc(table)}\\s*\\]`) : new RegExp(`^\\s*\\[\\[\\s*${esc(table)}\\s*\\]\\]`);
    let seen = -1;
    for (let n = 0; n < lines.length; n++) {
      if (!header.test(lines[n]!)) continue;
      seen++;
      if (arrayIndex === undefined || seen === arrayIndex) {
        start = n + 1;
        at = { line: n + 1, column: lines[n]!.indexOf("[") + 1 };
        end = nextHeader(lines, start);
        break;
      }
    }
    if (at.line === 1 && start === 0) {
      // No header: maybe a dotted or top-level key; search the whole text for the key itself.
      start = 0;
    }
    i = arrayIndex === undefined ? 1 : 2;
  }
  for (; i < path.length; i++) {
    const key = path[i];
    if (typeof key !== "string") continue;
    const re = new RegExp(`(^|[\\s{,])("${esc(key)}"|${esc(key)})\\s*=`);
    for (let n = start; n < end; n++) {
      const m = re.exec(lines[n]!);
      if (m) {
        at = { line: n + 1, column: m.index + m[1]!.length + 1 };
        start = n;
        break;
      }
    }
  }
  return at;
}

function nextHeader(lines: string[], from: number): number {
  for (let n = from; n < lines.length; n++) if (/^\s*\[/.test(lines[n]!)) return n;
  return lines.length;
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
