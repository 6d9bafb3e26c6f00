/**
 * Requests between daemons through etcd (the checkpoint and restore commands' peer commands,
 * src/operations/peer.ts), for clusters federated by etcd rather than gossip.
 *
 * The asker puts P/@req/<to>/<from>/<id> under its lease; the addressee, which sees every key on
 * its one watch, runs the request once, puts the reply as P/@rep/<from>/<to>/<id> under its own
 * lease and deletes the request; the asker reads the reply from its watch and deletes it. A
 * request that gets no answer in time is deleted by the asker; keys left by a dead daemon go with
 * its lease. Same contract as the gossip requests: a reply, or an error after `timeoutMs`.
 */
import type { ParsedKey } from "./keys.ts";
import type { KeyLayout } from "./keys.ts";

export type RequestBody = Record<string, unknown>;

export interface EtcdRequestsOptions {
  readonly node: string;
  readonly keys: KeyLayout;
  /** Puts under this daemon's lease; rejects when etcd can not be reached. */
  readonly put: (key: string, value: string) => Promise<void>;
  readonly del: (key: string) => Promise<void>;
  readonly handler?: (from: string, body: RequestBody) => Promise<RequestBody>;
}

interface Pending {
  readonly resolve: (b: RequestBody) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class EtcdRequests {
  readonly #pending = new Map<string, Pending>();
  /** Request keys taken on (a watch event and a snapshot may both show one). */
  readonly #taken = new Set<string>();
  /** Unique across this daemon's runs: two runs never reuse an id while old keys may linger. */
  readonly #run = `${process.pid.toString(36)}.${Date.now().toString(36)}`;
  #next = 1;

  constructor(readonly o: EtcdRequestsOptions) {}

  ask(to: string, body: RequestBody, timeoutMs: number): Promise<RequestBody> {
    const id = `${this.#run}.${this.#next++}`;
    const requestKey = this.o.keys.request(to, this.o.node, id);
    const replyKey = this.o.keys.reply(this.o.node, to, id);
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        if (!this.#pending.delete(replyKey)) return;
        clearTimeout(timer);
        void this.o.del(requestKey).catch(() => {});
        reject(e);
      };
      const timer = setTimeout(() => fail(new Error(`node ${to} did not answer within ${timeoutMs} ms`)), timeoutMs);
      this.#pending.set(replyKey, { resolve, reject, timer });
      this.o.put(requestKey, JSON.stringify(body)).catch((e: Error) => fail(new Error(`cannot reach node ${to} through etcd: ${e.message}`)));
    });
  }

  /** A key of a request or reply appeared (watch event or snapshot). */
  onPut(k: Extract<ParsedKey, { type: "request" | "reply" }>, key: string, value: string): void {
    if (k.to !== this.o.node) return;
    if (k.type === "reply") {
      const p = this.#pending.get(key);
      if (!p) return;
      this.#pending.delete(key);
      clearTimeout(p.timer);
      void this.o.del(key).catch(() => {});
      p.resolve(parseBody(value) ?? { error: `node ${k.from} sent a reply that is not a JSON object` });
      return;
    }
    if (this.#taken.has(key)) return;
    this.#taken.add(key);
    const body = parseBody(value);
    const run = !body
      ? Promise.resolve({ error: "The request is not a JSON object" })
      : this.o.handler
        ? this.o.handler(k.from, body).catch((e: Error) => ({ error: e.message }))
        : Promise.resolve({ error: "This daemon does not take requests" });
    void run.then(async (reply) => {
      await this.o.put(this.o.keys.reply(k.from, this.o.node, k.id), JSON.stringify(reply)).catch(() => {});
      await this.o.del(key).catch(() => {});
    });
  }

  /** A request key is gone: forget it (the asker gave up, or it was answered). */
  onDelete(key: string): void {
    this.#taken.delete(key);
  }

  close(): void {
    for (const [key, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new Error("the etcd backend is closing"));
      this.#pending.delete(key);
    }
  }
}

function parseBody(text: string): RequestBody | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as RequestBody) : undefined;
  } catch {
    return undefined;
  }
}
