/**
 * Request/reply between daemons over the sealed gossip channel (used by checkpoint and restore
 * commands, src/daemon/checkpoint-*.ts). A request is resent every `retryMs` until its reply
 * arrives or its deadline passes; the receiver runs the handler once per (sender, generation, id)
 * and answers duplicates from a cache, so a lost packet never runs a command twice.
 */
import type { Clock, Timer } from "./clock.ts";
import type { Body } from "./wire.ts";

export type RequestBody = Record<string, unknown>;
export type RequestHandler = (from: string, body: RequestBody) => Promise<RequestBody>;

/** Resend interval; far below any request deadline, far above a LAN RTT. */
const RETRY_MS = 250;
/** How long a reply is kept for duplicates of its request. */
const REPLY_CACHE_MS = 60_000;

interface Pending {
  readonly node: string;
  readonly resolve: (b: RequestBody) => void;
  readonly reject: (e: Error) => void;
  retry?: Timer;
  deadline?: Timer;
}

interface Answer {
  readonly at: number;
  readonly reply: Promise<RequestBody>;
  done: boolean;
}

export class PeerRequests {
  readonly #pending = new Map<number, Pending>();
  readonly #answers = new Map<string, Answer>();
  #nextId = 1;

  constructor(
    readonly clock: Clock,
    /** Sends one message to a node; false when it is not a reachable member. */
    readonly send: (node: string, body: Body) => boolean,
    readonly handler: RequestHandler | undefined,
  ) {}

  /** Sends `body` to `node` and resolves with its reply; rejects after `timeoutMs`. */
  ask(node: string, body: RequestBody, timeoutMs: number): Promise<RequestBody> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { node, resolve, reject };
      this.#pending.set(id, p);
      const attempt = () => {
        if (!this.#pending.has(id)) return;
        if (!this.send(node, { t: "req", id, body })) return this.#settle(id, new Error(`node ${node} is not a reachable cluster member`));
        p.retry = this.clock.setTimeout(attempt, RETRY_MS);
      };
      p.deadline = this.clock.setTimeout(() => this.#settle(id, new Error(`node ${node} did not answer within ${timeoutMs} ms`)), timeoutMs);
      attempt();
    });
  }

  /** A request from `from` (generation `gen`): run it once, answer every copy. */
  onRequest(from: string, gen: number, id: number, body: RequestBody): void {
    const now = this.clock.now();
    for (const [k, a] of this.#answers) if (now - a.at > REPLY_CACHE_MS) this.#answers.delete(k);
    const key = `${from}/${gen}/${id}`;
    const a = this.#answers.get(key);
    const answer = (reply: RequestBody) => this.send(from, { t: "reqReply", id, body: reply });
    if (!a) {
      const run = this.handler ? this.handler(from, body) : Promise.resolve({ error: "This daemon does not take requests" });
      const entry: Answer = { at: now, done: false, reply: run.catch((e: Error) => ({ error: e.message })) };
      this.#answers.set(key, entry);
      void entry.reply.then((reply) => {
        entry.done = true;
        answer(reply);
      });
    } else if (a.done) {
      // A copy sent after the answer: that answer was lost. Copies that arrive while a slow
      // request (a long poll) runs get the one answer it sends when done.
      void a.reply.then(answer);
    }
  }

  onReply(from: string, id: number, body: RequestBody): void {
    const p = this.#pending.get(id);
    if (!p || p.node !== from) return;
    this.#stop(id, p);
    p.resolve(body);
  }

  close(): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, new Error("the cluster backend is closing"));
  }

  #settle(id: number, e: Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#stop(id, p);
    p.reject(e);
  }

  #stop(id: number, p: Pending): void {
    this.#pending.delete(id);
    p.retry?.cancel();
    p.deadline?.cancel();
  }
}
