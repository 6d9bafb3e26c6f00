/**
 * Packet sealing: every gossip packet is AES-256-GCM encrypted and authenticated.
 *
 * Layout: magic(1) | version(1) | type(1) | senderLen(1) | sender | nonce(12) | ciphertext | tag(16)
 * AAD = label | 0x00 | version | type | senderLen | sender, so a packet can not be replayed under
 * another sender name or message type, nor into a cluster with another label sharing the key.
 * The nonce is random (96 bits); with one key per cluster and well under 2^32 packets per key
 * the collision risk is negligible. There is no plaintext mode: without a key nothing is accepted.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export const WIRE_MAGIC = 0xc5;
export const WIRE_VERSION = 1;
const NONCE = 12;
const TAG = 16;
const MAX_SENDER = 64;

export type OpenResult =
  | { readonly ok: true; readonly type: number; readonly sender: string; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly reason: "malformed" | "version" | "decrypt" };

export class Sealer {
  readonly #keys: readonly Uint8Array[];
  readonly #label: Uint8Array;

  /** `keys[0]` encrypts; every key is tried to decrypt. */
  constructor(keys: readonly Uint8Array[], label = "criu-coordinator") {
    if (keys.length === 0) throw new Error("Cluster key required: peer traffic is always encrypted");
    for (const k of keys) if (k.length !== 32) throw new Error(`Invalid cluster key: ${k.length} bytes, expected 32`);
    this.#keys = keys;
    this.#label = new TextEncoder().encode(label);
  }

  seal(type: number, sender: string, plaintext: Uint8Array): Uint8Array {
    const head = header(type, sender);
    const nonce = randomBytes(NONCE);
    const c = createCipheriv("aes-256-gcm", this.#keys[0]!, nonce);
    c.setAAD(this.#aad(head));
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([head, nonce, body, c.getAuthTag()]);
  }

  /** Never throws: anything that is not a packet sealed with one of our keys is a failure result. */
  open(packet: Uint8Array): OpenResult {
    if (packet.length < 4 || packet[0] !== WIRE_MAGIC) return { ok: false, reason: "malformed" };
    if (packet[1] !== WIRE_VERSION) return { ok: false, reason: "version" };
    const len = packet[3]!;
    const headLen = 4 + len;
    if (len === 0 || len > MAX_SENDER || packet.length < headLen + NONCE + TAG) return { ok: false, reason: "malformed" };
    const head = packet.subarray(0, headLen);
    const nonce = packet.subarray(headLen, headLen + NONCE);
    const body = packet.subarray(headLen + NONCE, packet.length - TAG);
    const tag = packet.subarray(packet.length - TAG);
    for (const key of this.#keys) {
      try {
        const d = createDecipheriv("aes-256-gcm", key, nonce);
        d.setAAD(this.#aad(head));
        d.setAuthTag(tag);
        const plaintext = Buffer.concat([d.update(body), d.final()]);
        const sender = new TextDecoder("utf-8", { fatal: false }).decode(head.subarray(4));
        return { ok: true, type: packet[2]!, sender, plaintext };
      } catch {
        // Wrong key or tampered packet: try the next key.
      }
    }
    return { ok: false, reason: "decrypt" };
  }

  #aad(head: Uint8Array): Uint8Array {
    return Buffer.concat([this.#label, Buffer.from([0]), head.subarray(1)]);
  }
}

function header(type: number, sender: string): Buffer {
  const name = Buffer.from(sender, "utf8");
  if (name.length === 0 || name.length > MAX_SENDER) throw new Error(`Invalid node name "${sender}": 1 to ${MAX_SENDER} bytes`);
  return Buffer.concat([Buffer.from([WIRE_MAGIC, WIRE_VERSION, type, name.length]), name]);
}
