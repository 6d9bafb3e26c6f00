/**
 * The TCP listener for the reference protocol: one request per connection, buffered until a
 * complete JSON object arrived (split writes are fine), answered with a bare token, then closed.
 * Nothing a client sends or does can affect another client: there is no shared lock to poison,
 * and a bad request only gets a "bad request" answer on its own connection.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../util/log.ts";
import { parseReferenceRequest, TOKENS } from "./protocol.ts";
import { RequestBuffer } from "./request-buffer.ts";
import type { Pending, ReferenceRouter } from "./router.ts";

/** Seconds a connection may take to send its request; the wait for the answer is not limited here. */
const REQUEST_TIMEOUT_S = 10;

interface Conn {
  readonly n: number;
  readonly buffer: RequestBuffer;
  /** Set once the request is complete; later bytes are ignored. */
  pending: Pending | undefined;
  done: boolean;
}

export class ReferenceListener {
  #listener: TCPSocketListener<Conn> | undefined;
  #next = 0;

  constructor(
    readonly router: ReferenceRouter,
    readonly log: Logger,
  ) {}

  /** Listens on "host:port" ("[::1]:8080" for IPv6); returns the bound port. */
  listen(address: string): number {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
    if (!m) throw new Error(`Cannot listen on "${address}": expected host:port`);
    const hostname = m[1] ?? m[2]!;
    this.#listener = Bun.listen<Conn>({
      hostname,
      port: Number(m[3]),
      socket: {
        open: (s) => {
          s.data = { n: ++this.#next, buffer: new RequestBuffer(), pending: undefined, done: false };
          s.timeout(REQUEST_TIMEOUT_S);
        },
        data: (s, chunk) => this.#onData(s, chunk),
        timeout: (s) => {
          if (s.data.pending) return;
          this.log.warn(`reference connection ${s.data.n}: no complete request within ${REQUEST_TIMEOUT_S}s (${s.data.buffer.size} bytes); closing it`);
          this.#answer(s, TOKENS.badRequest);
        },
        close: (s) => this.#onClose(s),
        error: (s, e) => {
          this.log.debug(`reference connection ${s.data?.n}: ${e.message}`);
          this.#onClose(s);
        },
      },
    });
    return this.#listener.port;
  }

  stop(): void {
    this.#listener?.stop(true);
    this.#listener = undefined;
  }

  #onData(s: Socket<Conn>, chunk: Uint8Array): void {
    if (s.data.pending || s.data.done) return; // one request per connection, as the reference
    const r = s.data.buffer.push(chunk);
    if (r.state === "incomplete") return;
    if (r.state === "invalid") {
      this.log.warn(`reference connection ${s.data.n}: ${r.reason}`);
      this.#answer(s, TOKENS.badRequest);
      return;
    }
    const req = parseReferenceRequest(r.value);
    if (typeof req === "string") {
      this.log.warn(`reference connection ${s.data.n}: bad request: ${req}`);
      this.#answer(s, TOKENS.badRequest);
      return;
    }
    s.timeout(0); // the answer may take the whole wait timeout
    try {
      s.data.pending = this.router.handle(req, (token) => this.#answer(s, token));
    } catch (e) {
      // A bug in one request must not take the listener down for everyone else.
      this.log.error(`reference request failed: ${(e as Error).stack ?? e}`);
      this.#answer(s, TOKENS.badRequest);
    }
  }

  #answer(s: Socket<Conn>, token: string): void {
    if (s.data.done) return;
    s.data.done = true;
    s.end(token);
  }

  #onClose(s: Socket<Conn>): void {
    if (!s.data || s.data.done) return;
    s.data.done = true;
    s.data.pending?.gone();
  }
}
