/**
 * The identity file written into the images directory at the first dump hook. Restore hooks read
 * it back: CRIU gives no CRTOOLS_INIT_PID at pre-restore, and a restored container may get a new
 * ID or land on another node, but it stays the same participant.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const IDENTITY_FILE = "criu-coordinator.identity.json";

export interface StoredIdentity {
  readonly version: 1;
  readonly participant: string;
  readonly group: string;
  readonly processName: string;
  readonly containerId: string | null;
  readonly pid: number;
  readonly dumpedAt: string;
}

export function writeIdentity(imagesDir: string, id: StoredIdentity): void {
  const final = join(imagesDir, IDENTITY_FILE);
  const tmp = `${final}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(id, null, 2) + "\n", { mode: 0o644 });
  renameSync(tmp, final); // a crash never leaves half a file behind
}

/** The stored identity, null when there is none, or an error message when it is unreadable. */
export function readIdentity(imagesDir: string): StoredIdentity | null | string {
  let text: string;
  try {
    text = readFileSync(join(imagesDir, IDENTITY_FILE), "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? null : `Cannot read ${IDENTITY_FILE}: ${code}`;
  }
  try {
    const v = JSON.parse(text) as Partial<StoredIdentity>;
    if (v.version !== 1 || typeof v.participant !== "string" || typeof v.group !== "string") {
      return `${IDENTITY_FILE} in ${imagesDir} is not a version 1 identity file`;
    }
    return v as StoredIdentity;
  } catch {
    return `${IDENTITY_FILE} in ${imagesDir} is not valid JSON`;
  }
}
