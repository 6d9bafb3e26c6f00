/**
 * The local socket server: decodes frames, turns requests into engine calls, and sends each reply
 * to the connection that waits for it. A bad frame or request gets an error answer and the
 * connection is closed; it never reaches the engine and never stops the daemon.
 */
import type { Socket, SocketListener } from "bun";
import { encodeFrame, FrameDecoder, FrameError } from "../protocol/frame.ts";
import { parseRequest, PROTOCOL_VERSION, type Request, type Response } from "../protocol/messages.ts";
import type { Logger } from "../util/log.ts";

interface ConnState {
  readonly id: number;
  readonly decoder: FrameDecoder;
  /** Calls of this connection still waiting for the engine's answer. */
  readonly calls: Set<string>;
}

export interface RequestHandler {
  /** Handles one request. Return a response to send now, or undefined if it comes later via `reply`. */
  handle(req: Request, callId: string): Response | undefined;
  /** The connection of a waiting call closed. */
  gone(callId: string): void;
}

export class IpcServer {
  #listener: SocketListener<ConnState> | undefined;
  readonly #byCall = new Map<string, Socket<ConnState>>();
  #nextConn = 0;
  #nextCall = 0;

  constructor(
    readonly handler: RequestHandler,
    readonly log: Logger,
  ) {}

  /** Listens on a path, or on an inherited listening fd (systemd socket activation). */
  listen(where: { unix: string } | { fd: number }): void {
    const socket = {
      open: (s: Socket<ConnState>) => {
        s.data = { id: ++this.#nextConn, decoder: new FrameDecoder(), calls: new Set() };
      },
      data: (s: Socket<ConnState>, chunk: Uint8Array) => this.#onData(s, chunk),
      close: (s: Socket<ConnState>) => this.#onClose(s),
      error: (s: Socket<ConnState>, e: Error) => {
        this.log.debug(`connection ${s.data?.id}: ${e.message}`);
        this.#onClose(s);
      },
    };
    // The typings lack `fd` for listen; Bun accepts it (see notes: bun-toolchain §4).
    this.#listener = Bun.listen<ConnState>({ ...(where as { unix: string }), socket } as Parameters<typeof Bun.listen<ConnState>>[0]);
  }

  /** Sends the engine's answer for a waiting call, if its connection is still there. */
  reply(callId: string, res: Response): void {
    const s = this.#byCall.get(callId);
    if (!s) return;
    this.#byCall.delete(callId);
    s.data.calls.delete(callId);
    s.write(encodeFrame(res));
  }

  get connections(): number {
    return this.#byCall.size;
  }

  stop(): void {
    this.#listener?.stop(true);
    this.#listener = undefined;
  }

  #onData(s: Socket<ConnState>, chunk: Uint8Array): void {
    let msgs: unknown[];
    try {
      msgs = s.data.decoder.push(chunk);
    } catch (e) {
      const why = e instanceof FrameError ? e.message : `Bad frame: ${(e as Error).message}`;
      this.log.warn(`connection ${s.data.id}: ${why}; closing it`);
      s.end(encodeFrame({ v: PROTOCOL_VERSION, type: "error", message: why } satisfies Response));
      return;
    }
    for (const raw of msgs) {
      const req = parseRequest(raw);
      if (typeof req === "string") {
        this.log.warn(`connection ${s.data.id}: bad request: ${req}`);
        s.write(encodeFrame({ v: PROTOCOL_VERSION, type: "error", message: req } satisfies Response));
        continue;
      }
      const callId = `${s.data.id}.${++this.#nextCall}`;
      this.#byCall.set(callId, s);
      s.data.calls.add(callId);
      let res: Response | undefined;
      try {
        res = this.handler.handle(req, callId);
      } catch (e) {
        // A bug in one request must not take the daemon down for everyone else.
        this.log.error(`request ${req.type} failed: ${(e as Error).stack ?? e}`);
        res = { v: PROTOCOL_VERSION, type: "error", message: `Internal error: ${(e as Error).message}` };
      }
      if (res) this.reply(callId, res);
    }
  }

  #onClose(s: Socket<ConnState>): void {
    if (!s.data) return;
    for (const callId of [...s.data.calls]) {
      this.#byCall.delete(callId);
      s.data.calls.delete(callId);
      this.handler.gone(callId);
    }
  }
}
