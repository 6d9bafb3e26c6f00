/**
 * Prepares the unix socket path: parent directory, stale socket files, permissions. A socket
 * file left by a crashed daemon is removed; one that still answers belongs to a running daemon
 * and is an error, never silently stolen.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";

export async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`Cannot listen on ${path}: a file that is not a socket is in the way`);
  if (await answers(path)) throw new Error(`Cannot listen on ${path}: another daemon is already listening there`);
  unlinkSync(path);
}

/** Only the owner (root) may hold hook calls or release barriers through the local socket. */
export function restrictSocket(path: string): void {
  chmodSync(path, 0o600);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          s.end();
          resolve(true);
        },
        data() {},
        connectError() {
          resolve(false);
        },
      },
    }).catch(() => resolve(false));
  });
}
