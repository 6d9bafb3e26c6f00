/**
 * Cluster keys: AES-256 keys as base64, one per line in the key file. The first key is primary
 * (used to encrypt); the others are only tried when decrypting, which allows rotation:
 * add the new key second on every node, then move it first everywhere, then drop the old one.
 */
import { randomBytes } from "node:crypto";

export const KEY_BYTES = 32;

/** A new random cluster key, base64 (what `criu-coordinator keygen` prints). */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/** Parses a keyring file: one base64 key per line; blank lines and `#` comments are skipped. */
export function parseKeyring(text: string, source = "key file"): Uint8Array[] {
  const keys: Uint8Array[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line)) throw new Error(`Invalid key in ${source} line ${i + 1}: not base64`);
    const key = new Uint8Array(Buffer.from(line, "base64"));
    if (key.length !== KEY_BYTES) {
      throw new Error(`Invalid key in ${source} line ${i + 1}: ${key.length} bytes, expected ${KEY_BYTES}`);
    }
    keys.push(key);
  });
  if (keys.length === 0) throw new Error(`No key in ${source}: generate one with criu-coordinator keygen`);
  return keys;
}

/** Reads and parses a keyring file. */
export async function loadKeyring(path: string): Promise<Uint8Array[]> {
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (err) {
    throw new Error(`Cannot read key file ${path}: ${(err as Error).message}`);
  }
  return parseKeyring(text, path);
}
