/**
 * A small etcd v3 client over etcd's JSON gateway (grpc-gateway, `POST /v3/...`) with `fetch`: no
 * dependency, works inside the compiled binary. Keys and values travel base64-encoded; int64
 * fields (revisions, lease IDs) are strings in JSON, and lease IDs stay strings here (they exceed
 * 2^53). Fields equal to their default are left out by the gateway (`succeeded`, event `type` PUT).
 *
 * Endpoints are tried in order: a transport failure (refused, reset, timeout) moves to the next one
 * for the following requests. Verified against etcd 3.4.23 (Debian 12).
 */

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Lease ID, "" when the key has none. */
  readonly lease: string;
}

export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly kv: KeyValue;
}

export interface Compare {
  readonly key: string;
  /** Compare every key in [key, rangeEnd). */
  readonly rangeEnd?: string;
  readonly target: "CREATE" | "MOD" | "VALUE";
  readonly result: "EQUAL" | "LESS" | "GREATER" | "NOT_EQUAL";
  /** A revision for CREATE/MOD, a string for VALUE. */
  readonly value: number | string;
}

export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: string; readonly lease?: string } }
  | { readonly range: { readonly key: string } }
  | { readonly deleteRange: { readonly key: string; readonly rangeEnd: string } };

export interface TxnResult {
  readonly succeeded: boolean;
  readonly revision: number;
  /** The key-values of each range operation of the branch taken, in order. */
  readonly ranges: KeyValue[][];
}

/** TLS material (file contents), for https endpoints. */
export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export class EtcdError extends Error {
  constructor(
    message: string,
    /** True when etcd was not reached (or did not answer): try another endpoint, count as unhealthy. */
    readonly transport: boolean,
    readonly grpcCode?: number,
  ) {
    super(message);
    this.name = "EtcdError";
  }
}

export interface WatchHandle {
  close(): void;
  /** Resolves when the stream ends (closed, broken, or canceled by etcd). */
  readonly ended: Promise<{ reason: string; compacted: boolean }>;
}

const enc = (s: string) => Buffer.from(s, "utf8").toString("base64");
const dec = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

/** The first key after every key that starts with `prefix` (etcd's prefix range end); keys are ASCII here. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export class EtcdClient {
  #current = 0;

  constructor(
    readonly endpoints: readonly string[],
    readonly tls: TlsMaterial = {},
    readonly timeoutMs = 2_000,
  ) {}

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.endpoints[this.#current % this.endpoints.length]!;
  }

  async range(key: string, rangeEnd?: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call("/v3/kv/range", { key: enc(key), ...(rangeEnd !== undefined ? { range_end: encRangeEnd(rangeEnd) } : {}) });
    return { kvs: (r.kvs ?? []).map(kvOf), revision: Number(r.header?.revision ?? 0) };
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call("/v3/kv/put", { key: enc(key), value: enc(value), ...(lease ? { lease } : {}) });
    return Number(r.header?.revision ?? 0);
  }

  async txn(compare: readonly Compare[], success: readonly TxnOp[], failure: readonly TxnOp[]): Promise<TxnResult> {
    const r = await this.call("/v3/kv/txn", { compare: compare.map(cmpJson), success: success.map(opJson), failure: failure.map(opJson) });
    const ranges = ((r.responses ?? []) as any[]).filter((x) => x.response_range).map((x) => ((x.response_range.kvs ?? []) as any[]).map(kvOf));
    return { succeeded: r.succeeded === true, revision: Number(r.header?.revision ?? 0), ranges };
  }

  async leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const r = await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    if (r.error) throw new EtcdError(`Lease grant failed: ${r.error}`, false);
    return { id: String(r.ID), ttl: Number(r.TTL ?? 0) };
  }

  /** Renews a lease once; resolves with its remaining TTL, 0 when the lease no longer exists. */
  async leaseKeepAlive(id: string): Promise<number> {
    const r = await this.call("/v3/lease/keepalive", { ID: id });
    return Number(r.result?.TTL ?? 0);
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: id }).catch((e: EtcdError) => {
      if (e.grpcCode !== 5) throw e; // NotFound: already gone
    });
  }

  /**
   * Streams every change of [key, rangeEnd) from `startRevision` on (one HTTP/1.1 response that
   * stays open). `onEvents` gets each batch with the revision it brings the watcher up to.
   */
  watch(key: string, rangeEnd: string, startRevision: number, onEvents: (events: WatchEvent[], revision: number) => void): WatchHandle {
    const ac = new AbortController();
    const url = this.endpoint;
    const ended = (async () => {
      let res: Response;
      try {
        res = await fetch(`${url}/v3/watch`, {
          method: "POST",
          body: JSON.stringify({ create_request: { key: enc(key), range_end: encRangeEnd(rangeEnd), start_revision: String(startRevision) } }),
          signal: ac.signal,
          ...this.#fetchExtras(false),
        } as RequestInit);
      } catch (e) {
        if (!ac.signal.aborted) this.#rotate(url);
        return { reason: `watch could not start at ${url}: ${(e as Error).message}`, compacted: false };
      }
      if (!res.ok || !res.body) return { reason: `watch at ${url} answered HTTP ${res.status}`, compacted: false };
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of res.body) {
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line);
            if (msg.error) return { reason: `watch error: ${msg.error.message ?? JSON.stringify(msg.error)}`, compacted: false };
            const r = msg.result ?? {};
            if (r.compact_revision && Number(r.compact_revision) > 0) return { reason: `watch start revision compacted (now ${r.compact_revision})`, compacted: true };
            if (r.canceled) return { reason: `watch canceled by etcd: ${r.cancel_reason ?? ""}`, compacted: false };
            const events = ((r.events ?? []) as any[]).map((ev): WatchEvent => ({ type: ev.type === "DELETE" ? "delete" : "put", kv: kvOf(ev.kv) }));
            onEvents(events, Number(r.header?.revision ?? 0));
          }
        }
        return { reason: `watch stream from ${url} ended`, compacted: false };
      } catch (e) {
        if (!ac.signal.aborted) this.#rotate(url);
        return { reason: ac.signal.aborted ? "closed" : `watch stream from ${url} broke: ${(e as Error).message}`, compacted: false };
      }
    })();
    return { close: () => ac.abort(), ended };
  }

  /** One gateway call; transport failures rotate to the next endpoint. */
  async call(path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<any> {
    const url = this.endpoint;
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs), ...this.#fetchExtras(true) } as RequestInit);
    } catch (e) {
      this.#rotate(url);
      throw new EtcdError(`etcd at ${url} did not answer ${path}: ${(e as Error).message}`, true);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      this.#rotate(url);
      throw new EtcdError(`etcd at ${url} broke off ${path}: ${(e as Error).message}`, true);
    }
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EtcdError(`etcd at ${url} answered ${path} with HTTP ${res.status}: ${text.slice(0, 200).trim()}`, res.status >= 500);
    }
    if (!res.ok || json.error) {
      const msg = json.message ?? json.error?.message ?? json.error ?? `HTTP ${res.status}`;
      // No leader, timeouts, unavailability: etcd is there but can not serve (no quorum).
      const unavailable = res.status >= 500 || /no leader|timed out|unavailable|too many requests/i.test(String(msg));
      if (unavailable) this.#rotate(url);
      throw new EtcdError(`etcd at ${url} refused ${path}: ${msg}`, unavailable, json.code ?? json.error?.grpc_code);
    }
    return json;
  }

  #rotate(failed: string): void {
    if (this.endpoint === failed) this.#current = (this.#current + 1) % this.endpoints.length;
  }

  #fetchExtras(unary: boolean): Record<string, unknown> {
    const extras: Record<string, unknown> = {};
    if (!unary) extras.timeout = false; // Bun: a watch stays open for ever
    if (this.tls.ca || this.tls.cert) extras.tls = { ...(this.tls.ca ? { ca: this.tls.ca } : {}), ...(this.tls.cert ? { cert: this.tls.cert, key: this.tls.key } : {}) };
    return extras;
  }
}

function encRangeEnd(end: string): string {
  return enc(end);
}

function kvOf(kv: any): KeyValue {
  return {
    key: dec(kv?.key),
    value: dec(kv?.value),
    createRevision: Number(kv?.create_revision ?? 0),
    modRevision: Number(kv?.mod_revision ?? 0),
    lease: kv?.lease ? String(kv.lease) : "",
  };
}

function cmpJson(c: Compare): Record<string, unknown> {
  const field = c.target === "CREATE" ? { create_revision: String(c.value) } : c.target === "MOD" ? { mod_revision: String(c.value) } : { value: enc(String(c.value)) };
  return { key: enc(c.key), ...(c.rangeEnd !== undefined ? { range_end: encRangeEnd(c.rangeEnd) } : {}), target: c.target, result: c.result, ...field };
}

function opJson(op: TxnOp): Record<string, unknown> {
  if ("put" in op) return { request_put: { key: enc(op.put.key), value: enc(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) } };
  if ("range" in op) return { request_range: { key: enc(op.range.key) } };
  return { request_delete_range: { key: enc(op.deleteRange.key), range_end: encRangeEnd(op.deleteRange.rangeEnd) } };
}
