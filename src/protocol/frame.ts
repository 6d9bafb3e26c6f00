/**
 * Framing between hook calls and the daemon on the local socket: a 4-byte big-endian length,
 * then that many bytes of UTF-8 JSON. The length is checked before anything is buffered, so a
 * client can not make the daemon hold more than MAX_FRAME bytes per connection.
 */

/** Largest frame either side accepts. Hook requests are a few hundred bytes; status can be larger. */
export const MAX_FRAME = 1 << 20;

export class FrameError extends Error {
  override name = "FrameError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeFrame(message: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  if (body.length > MAX_FRAME) throw new FrameError(`Frame too large: ${body.length} bytes, at most ${MAX_FRAME}`);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Accumulates bytes from a stream and yields each complete message. */
export class FrameDecoder {
  #buf: Uint8Array = new Uint8Array(0);

  constructor(readonly maxFrame: number = MAX_FRAME) {}

  /** Returns the messages completed by `chunk`; throws FrameError on a bad frame. */
  push(chunk: Uint8Array): unknown[] {
    this.#buf = this.#buf.length === 0 ? chunk.slice() : concat(this.#buf, chunk);
    const out: unknown[] = [];
    for (;;) {
      if (this.#buf.length < 4) break;
      const len = new DataView(this.#buf.buffer, this.#buf.byteOffset, 4).getUint32(0);
      if (len > this.maxFrame) throw new FrameError(`Frame too large: ${len} bytes, at most ${this.maxFrame}`);
      if (this.#buf.length < 4 + len) break;
      const body = this.#buf.subarray(4, 4 + len);
      this.#buf = this.#buf.slice(4 + len);
      let text: string;
      try {
        text = decoder.decode(body);
      } catch {
        throw new FrameError("Frame is not valid UTF-8");
      }
      try {
        out.push(JSON.parse(text));
      } catch {
        throw new FrameError(`Frame is not valid JSON: ${JSON.stringify(text.slice(0, 40))}`);
      }
    }
    return out;
  }

  get buffered(): number {
    return this.#buf.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
