/**
 * Collects the bytes of one reference request until they hold a complete JSON object. The
 * reference server parses whatever its single read() returned, so a request split across TCP
 * segments fails there; here it is buffered, up to the reference's own size limit.
 *
 * The scan only tracks braces outside strings: JSON's structural characters are ASCII, and no
 * byte of a multi-byte UTF-8 sequence is below 0x80, so scanning bytes is safe.
 */
import { MAX_REQUEST_BYTES } from "./protocol.ts";

export type BufferResult =
  | { readonly state: "incomplete" }
  | { readonly state: "complete"; readonly value: unknown }
  | { readonly state: "invalid"; readonly reason: string };

export class RequestBuffer {
  #bytes = new Uint8Array(1024);
  #length = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #started = false;

  constructor(readonly limit = MAX_REQUEST_BYTES) {}

  /** Adds a chunk; bytes after the first complete object are ignored (one request per connection). */
  push(chunk: Uint8Array): BufferResult {
    for (let i = 0; i < chunk.length; i++) {
      if (this.#length >= this.limit) return { state: "invalid", reason: `request larger than ${this.limit} bytes` };
      const b = chunk[i]!;
      this.#append(b);
      const end = this.#scan(b);
      if (typeof end === "string") return { state: "invalid", reason: end };
      if (end) return this.#parse();
    }
    return { state: "incomplete" };
  }

  get size(): number {
    return this.#length;
  }

  /** True once the object is closed; a string is a reason to reject. */
  #scan(b: number): boolean | string {
    if (!this.#started) {
      if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) return false;
      if (b !== 0x7b) return "request is not a JSON object";
      this.#started = true;
      this.#depth = 1;
      return false;
    }
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (b === 0x5c) this.#escaped = true;
      else if (b === 0x22) this.#inString = false;
      return false;
    }
    if (b === 0x22) this.#inString = true;
    else if (b === 0x7b || b === 0x5b) this.#depth++;
    else if (b === 0x7d || b === 0x5d) this.#depth--;
    return this.#depth === 0;
  }

  #parse(): BufferResult {
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(this.#bytes.subarray(0, this.#length));
      return { state: "complete", value: JSON.parse(text) };
    } catch (e) {
      return { state: "invalid", reason: `request is not valid JSON: ${(e as Error).message}` };
    }
  }

  #append(b: number): void {
    if (this.#length === this.#bytes.length) {
      const bigger = new Uint8Array(Math.min(this.#bytes.length * 2, this.limit));
      bigger.set(this.#bytes);
      this.#bytes = bigger;
    }
    this.#bytes[this.#length++] = b;
  }
}
