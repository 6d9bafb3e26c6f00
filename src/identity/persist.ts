/**
 * The identity file written into the images directory at the first dump hook. Restore hooks read
 * it back: CRIU gives no CRTOOLS_INIT_PID at pre-restore, and a restored container may get a new
 * ID or land on another node, but it stays the same participant.
 *
 * Bun's own file API, not node:fs: loading node:fs costs a hook call about 1 ms of start-up, and
 * this runs on CRIU's critical path (bench/hook-startup.ts).
 */
import { readSmallFile } from "../util/small-file.ts";

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

/**
 * Written in place, with one write: a hook that dies half way through exits non-zero at pre-dump,
 * so CRIU abandons these images anyway, and a torn file reads back as an error (never as a
 * different participant).
 */
export async function writeIdentity(imagesDir: string, id: StoredIdentity): Promise<void> {
  await Bun.write(`${imagesDir}/${IDENTITY_FILE}`, JSON.stringify(id, null, 2) + "\n");
}

/** The stored identity, null when there is none, or an error message when it is unreadable. */
export function readIdentity(imagesDir: string): StoredIdentity | null | string {
  let text: string | null;
  try {
    text = readSmallFile(`${imagesDir}/${IDENTITY_FILE}`);
  } catch (e) {
    return `Cannot read ${IDENTITY_FILE}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (text === null) return null;
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
