/**
 * EtcdBackend: federates the barrier engine through an etcd cluster (docs/etcd.md).
 *
 * - Progress: each node writes its single-writer record of an operation to
 *   P/<group>/op/<epoch>/rec/<node> under its own lease (kept alive every third of the TTL), so a
 *   dead or cut-off daemon's arrivals expire. One watch on P/ (a streaming /v3/watch, no polling)
 *   feeds every change to the engine: a waiting hook is released one put plus one watch event
 *   after the last dependency's arrival.
 * - Decision: the engine runs with `decider: "external"`. Every node proposes (pendingDecisions)
 *   and the first transaction that finds P/<group>/op/<epoch>/outcome absent records commit or
 *   abort, exactly once (compare create_revision == 0). A commit also compares every peer record
 *   of the operation against this node's view (mod_revision), so it is recorded only if etcd holds
 *   exactly the records that show every member at the commit hook. Commit waiters are answered
 *   only from the recorded outcome (the transaction's own result or the watched key).
 * - Losing etcd: no successful exchange for one lease TTL aborts every open operation here (hooks
 *   before the commit point fail at once; commit calls keep waiting for the recorded outcome until
 *   their deadline, then fail). No commit can be recorded without etcd, so none happens anywhere;
 *   the abort is recorded once etcd is back. A peer whose lease expires has its records deleted:
 *   the watch sees it and its open operations abort (a group never shrinks).
 * - Membership and requests: each daemon keeps P/@node/<node> under its lease, so `status` and
 *   the checkpoint command see every daemon, and a node whose key vanished is dead. Requests
 *   between daemons (checkpoint, restore) go through keys too (etcd-requests.ts).
 */
import { readFileSync } from "node:fs";
import type { Decision, Effect, OpRecord, Publish } from "../barrier/types.ts";
import type { Backend, BackendHealth, ClusterNode, ClusterStatus, FederatedEngine, Log } from "../cluster/backend.ts";
import { type Compare, EtcdClient, EtcdError, type KeyValue, prefixEnd, type TxnOp, type WatchEvent, type WatchHandle } from "./client.ts";
import { EtcdRequests, type RequestBody } from "./etcd-requests.ts";
import { KeyLayout, outcomeValue, pad, parseOutcome, parseRecord } from "./keys.ts";

/** The engine surface this backend drives: a federated engine with an external decider. */
export interface DecidingEngine extends FederatedEngine {
  pendingDecisions(): Decision[];
  decide(now: number, d: Decision): Effect[];
}

export interface EtcdBackendOptions {
  readonly node: string;
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly leaseTtlMs: number;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Every configured group: losing etcd aborts their operations in flight. */
  readonly groups: readonly string[];
  readonly engine: DecidingEngine;
  readonly dispatch: (effects: Effect[]) => void;
  readonly log?: Log;
  readonly now?: () => number;
  /** Longest wait for one etcd request. */
  readonly requestTimeoutMs?: number;
  /** Runs another daemon's request (the checkpoint and restore commands' peer commands). */
  readonly onRequest?: (from: string, body: RequestBody) => Promise<RequestBody>;
}

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} };

export class EtcdBackend implements Backend {
  readonly counters: Record<string, number> = {};
  readonly #o: EtcdBackendOptions;
  readonly #keys: KeyLayout;
  readonly #log: Log;
  readonly #now: () => number;
  #client!: EtcdClient;
  #lease: string | undefined;
  /** Every key under the prefix as of revision #rev (snapshot plus watch events). */
  readonly #mirror = new Map<string, KeyValue>();
  #rev = 0;
  /** group → this node's newest record, and the groups whose newest record is not in etcd yet. */
  readonly #latest = new Map<string, OpRecord>();
  readonly #dirty = new Set<string>();
  /** operation id → signature of the last proposal sent, so one is not re-sent before anything changed. */
  readonly #attempted = new Map<string, string>();
  #state: "connecting" | "ok" | "lost" = "connecting";
  #why = "not connected yet";
  #lastOk = 0;
  #pumping = false;
  #again = false;
  #connecting = false;
  #closed = false;
  #watch: WatchHandle | undefined;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #requests!: EtcdRequests;
  /** Daemons whose presence key this one has seen: one that vanished is dead, not unknown. */
  readonly #seenNodes = new Set<string>();

  constructor(opts: EtcdBackendOptions) {
    this.#o = opts;
    this.#keys = new KeyLayout(opts.prefix);
    this.#log = opts.log ?? quiet;
    this.#now = opts.now ?? Date.now;
    this.#requests = new EtcdRequests({
      node: opts.node,
      keys: this.#keys,
      put: (key, value) => this.#putLeased(key, value),
      del: (key) => this.#delete(key),
      ...(opts.onRequest ? { handler: opts.onRequest } : {}),
    });
  }

  /** Connects (lease, snapshot, watch); when etcd is not reachable the backend starts "lost" and keeps trying. */
  async start(): Promise<void> {
    const read = (f: string | undefined) => (f ? readFileSync(f, "utf8") : undefined);
    const tls = { ...(this.#o.caFile ? { ca: read(this.#o.caFile) } : {}), ...(this.#o.certFile ? { cert: read(this.#o.certFile), key: read(this.#o.keyFile) } : {}) };
    this.#client = new EtcdClient(this.#o.endpoints, tls, this.#o.requestTimeoutMs ?? Math.min(2_000, this.#o.leaseTtlMs / 3));
    this.#lastOk = this.#now();
    await this.#connect();
    if (this.#state !== "ok") this.#lose(this.#why);
    this.#timers.push(setInterval(() => void this.#keepAlive(), Math.max(300, this.#o.leaseTtlMs / 3)));
    this.#timers.push(setInterval(() => this.#checkHealth(), Math.max(100, Math.min(500, this.#o.leaseTtlMs / 8))));
  }

  publish(effect: Publish): void {
    const rec = effect.record;
    this.#latest.set(rec.group, rec);
    this.#dirty.add(rec.group);
    if (this.#state === "lost" && rec.outcome === undefined) {
      // An operation opened (or moved on) while etcd is out of reach can not be decided: abort it.
      queueMicrotask(() => this.#dispatch(this.#o.engine.fail(this.#now(), rec.group, `etcd unreachable: ${this.#why}`)));
    }
    this.#kick();
  }

  status(): ClusterStatus {
    const nodes: ClusterNode[] = [{ name: this.#o.node, addr: this.#lease ? `lease ${this.#lease}` : "", state: this.#state === "ok" ? "alive" : "suspect", self: true }];
    const seen = new Set([this.#o.node]);
    for (const [key, kv] of this.#mirror) {
      const k = this.#keys.parse(key);
      if ((k?.type !== "record" && k?.type !== "node") || seen.has(k.node)) continue;
      seen.add(k.node);
      nodes.push({ name: k.node, addr: `lease ${kv.lease}`, state: "alive" });
    }
    for (const n of this.#seenNodes) if (!seen.has(n)) nodes.push({ name: n, addr: "", state: "dead" });
    return { node: this.#o.node, nodes, counters: { ...this.counters, revision: this.#rev } };
  }

  /** Sends a request to another daemon and resolves with its reply; rejects after `timeoutMs`. */
  ask(node: string, body: RequestBody, timeoutMs: number): Promise<RequestBody> {
    return this.#requests.ask(node, body, timeoutMs);
  }

  async #putLeased(key: string, value: string): Promise<void> {
    if (!this.#lease || this.#state !== "ok") throw new Error(`etcd is not reachable (${this.#why || "not connected"})`);
    await this.#client.put(key, value, this.#lease);
  }

  async #delete(key: string): Promise<void> {
    await this.#client.txn([], [{ deleteRange: { key, rangeEnd: `${key}\0` } }], []);
  }

  /** This daemon's presence key, under its (new) lease. */
  async #announce(): Promise<void> {
    await this.#client.put(this.#keys.node(this.#o.node), JSON.stringify({ node: this.#o.node, since: new Date().toISOString() }), this.#lease);
  }

  health(): BackendHealth {
    const ago = Math.round(this.#now() - this.#lastOk);
    const detail = this.#state === "ok" ? `${this.#client?.endpoint}, lease ${this.#lease}, last answer ${ago} ms ago` : this.#why;
    return { kind: "etcd", health: this.#state, detail, endpoint: this.#client?.endpoint, endpoints: this.#o.endpoints, prefix: this.#o.prefix, lease: this.#lease ?? null, lastContactMsAgo: ago };
  }

  /** Writes what is pending (at most 1 s), then revokes the lease: this node's records vanish at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const until = this.#now() + 1_000;
    while ((this.#pumping || this.#dirty.size > 0) && this.#state === "ok" && this.#now() < until) await Bun.sleep(10);
    this.#closed = true;
    this.#requests.close();
    for (const t of this.#timers) clearInterval(t);
    this.#watch?.close();
    if (this.#lease && this.#state === "ok") await this.#client.leaseRevoke(this.#lease).catch(() => {});
  }

  // --- internal ---

  #count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  #dispatch(effects: Effect[]): void {
    if (effects.length > 0) this.#o.dispatch(effects);
  }

  #ok(): void {
    this.#lastOk = this.#now();
  }

  /** Lease (kept if it is still alive), snapshot of every key, watch from there. */
  async #connect(): Promise<void> {
    if (this.#connecting || this.#closed) return;
    this.#connecting = true;
    try {
      const ttl = Math.ceil(this.#o.leaseTtlMs / 1000);
      const alive = this.#lease ? await this.#client.leaseKeepAlive(this.#lease) : 0;
      if (alive <= 0) {
        const hadLease = this.#lease !== undefined;
        this.#lease = (await this.#client.leaseGrant(ttl)).id;
        if (hadLease) this.#leaseLost();
      }
      await this.#announce();
      this.#ok();
      const snap = await this.#client.range(...this.#keys.all());
      this.#applySnapshot(snap.kvs, snap.revision);
      this.#startWatch();
      const was = this.#state;
      this.#state = "ok";
      this.#why = "";
      if (was === "lost") this.#log.info(`etcd reachable again at ${this.#client.endpoint}`);
      else this.#log.info(`etcd backend: node ${this.#o.node}, ${this.#client.endpoint}, prefix ${this.#o.prefix}, lease ${this.#lease} (TTL ${ttl}s), revision ${this.#rev}`);
      for (const g of this.#latest.keys()) this.#dirty.add(g);
      this.#kick();
    } catch (e) {
      this.#why = (e as Error).message;
      this.#count("connect_failures");
    } finally {
      this.#connecting = false;
    }
  }

  /** This node's lease expired (its records are gone, peers aborted): abort here too, and rewrite. */
  #leaseLost(): void {
    this.#count("lease_lost");
    this.#log.error(`This node's etcd lease expired: its records were deleted and its operations in flight abort`);
    for (const g of this.#o.groups) this.#dispatch(this.#o.engine.fail(this.#now(), g, `node ${this.#o.node} lost its etcd lease`));
    for (const g of this.#latest.keys()) this.#dirty.add(g);
  }

  async #keepAlive(): Promise<void> {
    if (this.#closed || this.#state !== "ok" || !this.#lease) return;
    try {
      const ttl = await this.#client.leaseKeepAlive(this.#lease);
      this.#ok();
      if (ttl <= 0) {
        this.#lease = (await this.#client.leaseGrant(Math.ceil(this.#o.leaseTtlMs / 1000))).id;
        await this.#announce();
        this.#leaseLost();
        this.#kick();
      }
    } catch (e) {
      this.#failed(e);
    }
  }

  #checkHealth(): void {
    if (this.#closed) return;
    const silent = this.#now() - this.#lastOk;
    if (this.#state === "ok" && silent > this.#o.leaseTtlMs) this.#lose(`no answer from etcd (${this.#o.endpoints.join(", ")}) for ${Math.round(silent)} ms${this.#why ? `: ${this.#why}` : ""}`);
    if (this.#state !== "ok") void this.#connect();
  }

  #failed(e: unknown): void {
    this.#count("request_failures");
    this.#why = (e as Error).message;
    if (!(e instanceof EtcdError) || !e.transport) this.#log.warn(`etcd request failed: ${this.#why}`);
  }

  /** etcd is out of reach: nothing can be decided, so every operation in flight aborts here. */
  #lose(why: string): void {
    if (this.#state === "lost") return;
    this.#state = "lost";
    this.#why = why;
    this.#count("etcd_lost");
    this.#log.error(`etcd unreachable: ${why}; operations in flight abort, nothing commits until it is back`);
    this.#watch?.close();
    this.#watch = undefined;
    for (const g of this.#o.groups) this.#dispatch(this.#o.engine.fail(this.#now(), g, `etcd unreachable from node ${this.#o.node} (${why})`));
  }

  #startWatch(): void {
    this.#watch?.close();
    const [start, end] = this.#keys.all();
    const w = this.#client.watch(start, end, this.#rev + 1, (events, revision) => this.#onEvents(events, revision));
    this.#watch = w;
    void w.ended.then(async ({ reason, compacted }) => {
      if (this.#watch !== w || this.#closed) return;
      this.#watch = undefined;
      this.#count("watch_restarts");
      this.#log.warn(`etcd ${reason}; watching again`);
      await Bun.sleep(100);
      if (this.#closed || this.#state !== "ok" || this.#watch) return;
      if (compacted) {
        const snap = await this.#client.range(...this.#keys.all()).catch((e) => (this.#failed(e), undefined));
        if (!snap) return;
        this.#applySnapshot(snap.kvs, snap.revision);
      }
      this.#startWatch();
    });
  }

  #onEvents(events: WatchEvent[], revision: number): void {
    this.#ok();
    for (const ev of events) this.#apply(ev);
    if (revision > this.#rev) this.#rev = revision;
    this.#kick();
  }

  /** A full read: keys gone since the mirror was filled count as deleted, others as put. */
  #applySnapshot(kvs: KeyValue[], revision: number): void {
    const present = new Set(kvs.map((kv) => kv.key));
    for (const [key, kv] of [...this.#mirror]) if (!present.has(key)) this.#apply({ type: "delete", kv });
    for (const kv of [...kvs].sort((a, b) => a.modRevision - b.modRevision)) {
      const k = this.#keys.parse(kv.key);
      if (k?.type === "record" && k.node === this.#o.node && kv.lease !== this.#lease) {
        // A previous run of this daemon: its progress is lost, so its operations can not commit.
        void this.#client.txn([{ key: kv.key, target: "MOD", result: "EQUAL", value: kv.modRevision }], [{ deleteRange: { key: kv.key, rangeEnd: `${kv.key}\0` } }], []).catch(() => {});
        this.#log.warn(`Deleting this node's record of ${k.group}#${k.epoch} left by its previous run (lease ${kv.lease})`);
        continue;
      }
      if (this.#mirror.get(kv.key)?.modRevision !== kv.modRevision) this.#apply({ type: "put", kv });
    }
    if (revision > this.#rev) this.#rev = revision;
  }

  #apply(ev: WatchEvent): void {
    const { kv } = ev;
    const k = this.#keys.parse(kv.key);
    const prev = this.#mirror.get(kv.key);
    if (ev.type === "delete") this.#mirror.delete(kv.key);
    else this.#mirror.set(kv.key, kv);
    if (!k) return;
    if (k.type === "node") {
      if (ev.type === "put") this.#seenNodes.add(k.node);
      return;
    }
    if (k.type === "request" || k.type === "reply") {
      if (ev.type === "put") this.#requests.onPut(k, kv.key, kv.value);
      else this.#requests.onDelete(kv.key);
      return;
    }
    const now = this.#now();
    if (k.type === "record") {
      const own = k.node === this.#o.node;
      if (ev.type === "put") {
        if (own) return; // our own write coming back
        const rec = parseRecord(kv.value, k.group, k.epoch);
        if (!rec) return this.#count("malformed_records");
        this.#dispatch(this.#o.engine.merge(now, k.node, rec));
        return;
      }
      if (k.epoch < this.#newestEpoch(k.group)) return; // cleanup of an older operation
      if (own) {
        if (prev && prev.lease === this.#lease && !this.#closed) this.#leaseLost();
        return;
      }
      this.#dispatch(this.#o.engine.nodeLost(now, k.node, "lost its etcd lease (daemon stopped, restarted or cut off from etcd)"));
    } else if (k.type === "outcome" && ev.type === "put") {
      const d = parseOutcome(kv.value);
      if (!d || d.group !== k.group || d.epoch !== k.epoch) return this.#count("malformed_outcomes");
      this.#dispatch(this.#o.engine.decide(now, d));
    }
  }

  /** The newest epoch of `group` this node knows of, from etcd or from its own records. */
  #newestEpoch(group: string): number {
    let e = this.#latest.get(group)?.epoch ?? 0;
    const ek = this.#mirror.get(this.#keys.epoch(group));
    if (ek) e = Math.max(e, Number(ek.value));
    for (const key of this.#mirror.keys()) {
      const k = this.#keys.parse(key);
      if ((k?.type === "record" || k?.type === "outcome") && k.group === group) e = Math.max(e, k.epoch);
    }
    return e;
  }

  #kick(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  /** Writes pending decisions (each with this node's record) and records, one request at a time. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        if (this.#state !== "ok" || this.#closed) break;
        for (const d of this.#o.engine.pendingDecisions()) await this.#propose(d);
        for (const g of [...this.#dirty]) {
          const rec = this.#latest.get(g)!;
          this.#dirty.delete(g);
          const key = this.#keys.record(g, rec.epoch, this.#o.node);
          try {
            const rev = await this.#client.put(key, JSON.stringify(rec), this.#lease);
            this.#ok();
            this.#count("records_written");
            this.#mirror.set(key, { key, value: JSON.stringify(rec), createRevision: rev, modRevision: rev, lease: this.#lease ?? "" });
          } catch (e) {
            if (this.#latest.get(g) === rec) this.#dirty.add(g);
            this.#failed(e);
            await Bun.sleep(50);
            this.#again = true;
            break;
          }
        }
      } while (this.#again && this.#state === "ok" && !this.#closed);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * One transaction: record `d` as the outcome of its operation unless one is recorded already
   * (create_revision == 0) or a newer operation of the group was decided (epoch key). A commit also
   * requires every peer record of the operation to be exactly as this node has seen it.
   */
  async #propose(d: Decision): Promise<void> {
    const id = `${d.group}#${d.epoch}`;
    const signature = `${d.outcome.state}@${this.#rev}`;
    if (this.#attempted.get(id) === signature) return;
    this.#attempted.set(id, signature);
    const outcomeKey = this.#keys.outcome(d.group, d.epoch);
    const epochKey = this.#keys.epoch(d.group);
    const ownKey = this.#keys.record(d.group, d.epoch, this.#o.node);
    const knewEpoch = this.#mirror.has(epochKey);
    const compare: Compare[] = [
      { key: outcomeKey, target: "CREATE", result: "EQUAL", value: 0 },
      knewEpoch ? { key: epochKey, target: "VALUE", result: "LESS", value: pad(d.epoch) } : { key: epochKey, target: "CREATE", result: "EQUAL", value: 0 },
    ];
    if (d.outcome.state === "committed") {
      const recs = this.#keys.records(d.group, d.epoch);
      for (const [key, kv] of this.#mirror) if (key.startsWith(recs) && key !== ownKey) compare.push({ key, target: "MOD", result: "EQUAL", value: kv.modRevision });
      // …and no peer record changed or appeared since (this node's own one is written below).
      compare.push({ key: recs, rangeEnd: ownKey, target: "MOD", result: "LESS", value: this.#rev + 1 });
      compare.push({ key: `${ownKey}\0`, rangeEnd: prefixEnd(recs), target: "MOD", result: "LESS", value: this.#rev + 1 });
    }
    const [olderStart, olderEnd] = this.#keys.olderThan(d.group, d.epoch);
    const success: TxnOp[] = [
      { put: { key: outcomeKey, value: outcomeValue(d, this.#o.node, new Date()) } },
      { put: { key: epochKey, value: pad(d.epoch) } },
      { deleteRange: { key: olderStart, rangeEnd: olderEnd } },
    ];
    const own = this.#latest.get(d.group);
    if (own?.epoch === d.epoch) success.push({ put: { key: ownKey, value: JSON.stringify(own), ...(this.#lease ? { lease: this.#lease } : {}) } });
    let r;
    try {
      this.#count("decision_attempts");
      r = await this.#client.txn(compare, success, [{ range: { key: outcomeKey } }, { range: { key: epochKey } }]);
      this.#ok();
    } catch (e) {
      this.#attempted.delete(id);
      this.#failed(e);
      return;
    }
    const now = this.#now();
    if (r.succeeded) {
      this.#count("decisions_recorded");
      if (own?.epoch === d.epoch && this.#latest.get(d.group) === own) this.#dirty.delete(d.group);
      this.#log.info(`Recorded in etcd: ${id} ${d.outcome.state}${d.outcome.state === "aborted" ? ` (${d.outcome.reason})` : ""}`);
      this.#dispatch(this.#o.engine.decide(now, { ...d, by: this.#o.node }));
      return;
    }
    const [outcome] = r.ranges[0] ?? [];
    const [epoch] = r.ranges[1] ?? [];
    if (epoch) this.#mirror.set(epochKey, epoch);
    const recorded = outcome ? parseOutcome(outcome.value) : undefined;
    if (recorded) {
      this.#dispatch(this.#o.engine.decide(now, recorded));
    } else if (epoch && Number(epoch.value) >= d.epoch) {
      // A newer operation was decided first: this one can never be recorded, so it is aborted.
      this.#dispatch(this.#o.engine.decide(now, { ...d, outcome: { state: "aborted", reason: `superseded: ${d.group}#${Number(epoch.value)} was decided first` } }));
    } else if (knewEpoch !== (epoch !== undefined)) {
      this.#attempted.delete(id); // the epoch key was not as cached: try again at once
      this.#again = true;
    } // else a peer record changed under a commit proposal: the watch brings the new view and a new attempt
  }
}
