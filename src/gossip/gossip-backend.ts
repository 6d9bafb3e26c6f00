/**
 * GossipBackend: federates the barrier engine across nodes with no central server.
 *
 * - Membership and failure detection: SWIM (swim.ts, members.ts); seeds and dead members are
 *   re-dialled for ever, so a healed partition rejoins without a restart.
 * - Dissemination: a changed local record is pushed at once to every reachable member, acked and
 *   retransmitted (push.ts); push-pull anti-entropy with a random member repairs losses
 *   (replica.ts digests). A waiting participant is released one one-way delay after its last
 *   dependency arrives on another node.
 * - Safety: a member declared dead, or seen with a new generation (daemon restart), aborts every
 *   open operation it hosts participants of; a node that hears from none of an operation's peers
 *   for the suspicion timeout aborts its own part (self-fencing). Groups never shrink.
 * - Security: every packet sealed with AES-256-GCM (security.ts), size-checked before anything
 *   else, replay-checked after authentication (replay.ts); garbage is counted, never thrown.
 *
 * COMMIT WINDOW (design note §5.5): gossip can not make nodes agree on commit vs abort when a
 * node crashes or is cut off exactly at post-dump/post-restore. If the last member reaches
 * post-dump and only some nodes hear of it before the partition, those nodes commit while the
 * others abort at their deadline. Agreement under crash plus partition needs consensus (FLP);
 * this backend does not provide it. What it does: the engine emits an "outcome-uncertain" event
 * when it aborts after a member reached the commit hook, and an "outcome-disagreement" event when
 * a peer reports the opposite outcome, so the operator (or a later validity check of the image
 * set) can tell. Checkpoint validity must be a read-time property: a set is usable only if every
 * participant's post-dump marker exists and no abort record does. See README-section.md.
 */
import { networkInterfaces } from "node:os";
import type { Effect, OpRecord, Publish } from "../barrier/types.ts";
import type { Backend, ClusterNode, ClusterStatus, FederatedEngine, Log } from "../cluster/backend.ts";
import { type Clock, realClock, type Timer } from "./clock.ts";
import { DEFAULT_GOSSIP, type GossipConfig, suspicionTimeoutMs } from "./config.ts";
import { type Member, Members } from "./members.ts";
import { Pusher } from "./push.ts";
import { ReplayGuard } from "./replay.ts";
import { Replica } from "./replica.ts";
import { PeerRequests, type RequestBody, type RequestHandler } from "./requests.ts";
import { Sealer } from "./security.ts";
import { Prober } from "./swim.ts";
import type { Transport } from "./transport.ts";
import { formatAddress, parseAddress, UdpTransport } from "./udp-transport.ts";
import { type Body, decode, encode, type Message, type WireRecord } from "./wire.ts";

export interface GossipBackendOptions {
  readonly node: string;
  /** host:port to bind ("0.0.0.0:7946"). */
  readonly listen: string;
  /** host:port peers use; default: listen, or this host's first private IPv4 when listen is 0.0.0.0. */
  readonly advertise?: string;
  /** Seed addresses, host:port. */
  readonly peers: readonly string[];
  /** Keyring: the first key encrypts, all decrypt. */
  readonly keys: readonly Uint8Array[];
  /** Cluster label bound into every packet (two clusters sharing a key can not mix). */
  readonly label?: string;
  readonly engine: FederatedEngine;
  /** Carries out effects produced by peers' records (replies, events, publish). */
  readonly dispatch: (effects: Effect[]) => void;
  readonly clock?: Clock;
  readonly log?: Log;
  /** Default: a UDP socket bound to `listen`. */
  readonly transport?: Transport;
  readonly config?: Partial<GossipConfig>;
  /** Boot id; default derived from the clock. A restarted daemon must get a larger one. */
  readonly generation?: number;
  readonly random?: () => number;
  /** Answers requests from peers (checkpoint and restore commands); none: they get an error. */
  readonly onRequest?: RequestHandler;
}

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} };

export class GossipBackend implements Backend {
  readonly cfg: GossipConfig;
  readonly generation: number;
  readonly counters: Record<string, number> = {};
  readonly #o: GossipBackendOptions;
  readonly #clock: Clock;
  readonly #log: Log;
  readonly #sealer: Sealer;
  readonly #replay: ReplayGuard;
  readonly #replica: Replica;
  readonly #random: () => number;
  readonly #lastHeard = new Map<string, number>();
  readonly #warnedAt = new Map<string, number>();
  readonly #timers: Timer[] = [];
  #transport!: Transport;
  #members!: Members;
  #prober!: Prober;
  #pusher!: Pusher;
  #requests!: PeerRequests;
  #n = 0;
  #startedAt = 0;
  #closed = false;
  /** A peer answered a sync since start: this node holds the cluster's view of operations in flight. */
  #synced = false;
  readonly #onSynced: (() => void)[] = [];

  constructor(opts: GossipBackendOptions) {
    this.#o = opts;
    this.cfg = { ...DEFAULT_GOSSIP, ...opts.config };
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.log ?? quiet;
    this.#random = opts.random ?? Math.random;
    this.#sealer = new Sealer(opts.keys, opts.label);
    this.#replay = new ReplayGuard(this.cfg.maxClockSkewMs);
    this.generation = opts.generation ?? this.#clock.now() * 1000 + Math.floor(this.#random() * 1000);
    this.#replica = new Replica(opts.node, this.generation);
  }

  async start(): Promise<void> {
    this.#transport = this.#o.transport ?? (await UdpTransport.bind(this.#o.listen));
    const selfAddr = this.#o.advertise ?? advertiseFor(this.#transport.address);
    this.#members = new Members(this.#o.node, selfAddr, this.#clock, this.cfg, (m, prev) => this.#memberChanged(m, prev));
    this.#prober = new Prober(this.#members, this.#clock, this.cfg, (a, to, b) => this.#send(a, to, b), this.#random);
    this.#pusher = new Pusher(this.#clock, this.cfg, (peer, id, records) => {
      const m = this.#members.get(peer);
      if (!m || m.state === "dead") return false;
      this.#send(m.addr, peer, { t: "push", id, records });
      return true;
    });
    this.#requests = new PeerRequests(this.#clock, (node, body) => {
      const m = this.#members.get(node);
      if (!m || m.state === "dead") return false;
      this.#send(m.addr, node, body);
      return true;
    }, this.#o.onRequest);
    this.#transport.onPacket((data, from) => this.#onPacket(data, from));
    this.#startedAt = this.#clock.now();
    for (const rec of this.#o.engine.localRecords()) this.#replica.setLocal(rec);
    this.#prober.start();
    this.#every(this.cfg.antiEntropyMs, () => this.#antiEntropy());
    this.#every(this.cfg.joinIntervalMs, () => this.#join(), true);
    this.#every(this.cfg.probeIntervalMs, () => this.#fence());
  }

  publish(effect: Publish): void {
    const before = this.#replica.local(effect.record.group);
    const w = this.#replica.setLocal(effect.record);
    // A commit changes no progress, and every node decides it by the same rule on the same
    // records: it serves only the disagreement check, so anti-entropy spreads it. Pushing it would
    // cost N·(N−1) packets at the very moment every node answers its commit calls.
    if (this.#members && !commitOnly(before, effect.record)) this.#pusher.push(this.#members.reachable(), w);
  }

  /** Sends a request to a peer and resolves with its reply (see requests.ts). */
  ask(node: string, body: RequestBody, timeoutMs: number): Promise<RequestBody> {
    if (!this.#requests) return Promise.reject(new Error("the cluster backend is not started"));
    return this.#requests.ask(node, body, timeoutMs);
  }

  /**
   * Resolves true once a peer answered a sync, false after `timeoutMs` without an answer (alone,
   * or every seed down). Meanwhile every seed is asked again every 200 ms. A (re)started daemon
   * waits for this before it takes hook calls: peers that see its new generation abort the
   * operations it hosted participants of, and their answer carries those outcomes, so a hook call
   * that reconnects after the restart gets the real outcome ("node X restarted") instead of a guess.
   */
  synced(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#o.peers.length === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timers: Timer[] = [];
      const finish = (ok: boolean) => {
        for (const t of timers.splice(0)) t.cancel();
        resolve(ok);
      };
      this.#onSynced.push(() => finish(true));
      timers.push(this.#clock.setTimeout(() => finish(false), timeoutMs));
      const ask = () => {
        if (this.#synced || this.#closed) return;
        for (const p of this.#o.peers) if (p !== this.#members.selfAddr) this.#sync(p, undefined);
        timers.push(this.#clock.setTimeout(ask, 200));
      };
      timers.push(this.#clock.setTimeout(ask, 200));
    });
  }

  status(): ClusterStatus {
    const nodes: ClusterNode[] = [{ name: this.#o.node, addr: this.address, state: "alive", self: true }];
    // Self first, then by name: the order members were discovered in means nothing to a reader.
    const others = [...(this.#members?.all() ?? [])].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    for (const m of others) nodes.push({ name: m.name, addr: m.addr, state: m.state });
    return { node: this.#o.node, nodes, counters: { ...this.counters, push_retransmits: this.#pusher?.retransmits ?? 0, pushes_pending: this.#pusher?.pending ?? 0 } };
  }

  /** The address peers reach this node at. */
  get address(): string {
    return this.#members?.selfAddr ?? this.#o.advertise ?? this.#o.listen;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) t.cancel();
    this.#prober?.stop();
    this.#pusher?.close();
    this.#requests?.close();
    this.#members?.close();
    this.#transport?.close();
  }

  // --- internal ---

  #count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  #every(ms: number, fn: () => void, now = false): void {
    const slot = this.#timers.length;
    const run = () => {
      if (this.#closed) return;
      fn();
      this.#timers[slot] = this.#clock.setTimeout(run, ms);
    };
    this.#timers.push(this.#clock.setTimeout(run, now ? 0 : this.#random() * ms));
  }

  #send(addr: string, to: string | undefined, body: Body): void {
    if (this.#closed) return;
    const msg = {
      ...body,
      ts: Math.round(this.#clock.now()),
      gen: this.generation,
      n: ++this.#n,
      addr: this.#members.selfAddr,
      inc: this.#members.incarnation,
      updates: this.#members.piggyback(to),
    } as Message;
    const { type, data } = encode(msg);
    const packet = this.#sealer.seal(type, this.#o.node, data);
    if (packet.length > this.cfg.maxPacketBytes) {
      this.#count("send_oversize");
      this.#log.warn(`Gossip message ${body.t} to ${addr} is ${packet.length} bytes, over the ${this.cfg.maxPacketBytes}-byte limit: not sent`);
      return;
    }
    this.#count("sent");
    this.#transport.send(addr, packet);
  }

  #onPacket(data: Uint8Array, from: string): void {
    try {
      this.#count("received");
      if (data.length > this.cfg.maxPacketBytes) return this.#drop("oversize", from);
      const opened = this.#sealer.open(data);
      if (!opened.ok) return this.#drop(opened.reason, from);
      const msg = decode(opened.type, opened.plaintext);
      if (!msg) return this.#drop("invalid", from);
      const verdict = this.#replay.check(this.#clock.now(), opened.sender, msg.gen, msg.n, msg.ts);
      if (verdict !== "ok") return this.#drop(verdict, from);
      this.#count("accepted");
      this.#handle(opened.sender, from, msg);
    } catch (err) {
      this.#drop("error", from);
      this.#log.error(`Gossip packet from ${from} could not be handled: ${(err as Error).message}`);
    }
  }

  #drop(reason: string, from: string): void {
    this.#count(`dropped_${reason}`);
    const now = this.#clock.now();
    if ((this.#warnedAt.get(from) ?? -Infinity) + 10_000 > now) return; // at most one line per peer per 10 s
    this.#warnedAt.set(from, now);
    this.#log.warn(`Dropped a gossip packet from ${from}: ${reason} (wrong cluster key, replay, or not a peer)`);
  }

  #handle(sender: string, from: string, msg: Message): void {
    if (sender === this.#o.node) return;
    const now = this.#clock.now();
    this.#lastHeard.set(sender, now);
    if (this.#replica.resetGeneration(sender, msg.gen)) this.#dispatch(this.#o.engine.nodeLost(now, sender, "restarted"));
    this.#members.heard(sender, msg.addr, msg.inc);
    for (const u of msg.updates) this.#members.apply(u);
    switch (msg.t) {
      case "ping":
        if (msg.target === this.#o.node) this.#prober.onPing(from, sender, msg.seq);
        return;
      case "ack":
        return this.#prober.onAck(msg.seq);
      case "pingReq":
        return this.#prober.onPingReq(from, sender, msg.seq, msg.target, msg.targetAddr);
      case "push":
        this.#applyRecords(msg.records);
        return this.#send(from, sender, { t: "pushAck", id: msg.id });
      case "pushAck":
        return this.#pusher.acked(msg.id);
      case "req":
        return this.#requests.onRequest(sender, msg.gen, msg.id, msg.body);
      case "reqReply":
        return this.#requests.onReply(sender, msg.id, msg.body);
      case "sync":
        for (const u of msg.members) this.#members.apply(u);
        return this.#send(from, sender, {
          t: "syncReply",
          members: this.#members.snapshot(),
          digest: this.#replica.digest(),
          records: this.#replica.newerThan(msg.digest, this.cfg.maxRecordsPerMessage),
        });
      case "syncReply": {
        for (const u of msg.members) this.#members.apply(u);
        this.#applyRecords(msg.records);
        this.#synced = true;
        for (const done of this.#onSynced.splice(0)) done();
        const back = this.#replica.newerThan(msg.digest, this.cfg.maxRecordsPerMessage);
        if (back.length > 0) this.#send(from, sender, { t: "push", id: 0, records: back });
        return;
      }
    }
  }

  #applyRecords(records: readonly WireRecord[]): void {
    const now = this.#clock.now();
    for (const w of records) {
      const r = this.#replica.apply(w);
      if (r === "restarted") this.#dispatch(this.#o.engine.nodeLost(now, w.node, "restarted"));
      if (r === "new" || r === "restarted") this.#dispatch(this.#o.engine.merge(now, w.node, w.rec));
    }
  }

  #dispatch(effects: Effect[]): void {
    if (effects.length > 0) this.#o.dispatch(effects);
  }

  #memberChanged(m: Member, prev: string | undefined): void {
    if (m.state === "dead") {
      this.#log.warn(`Cluster node ${m.name} (${m.addr}) declared dead`);
      this.#dispatch(this.#o.engine.nodeLost(this.#clock.now(), m.name, "declared dead by failure detection"));
    } else if (m.state === "suspect") {
      this.#log.info(`Cluster node ${m.name} (${m.addr}) suspected`);
    } else {
      this.#log.info(prev === undefined ? `Cluster node ${m.name} (${m.addr}) joined` : `Cluster node ${m.name} (${m.addr}) is alive again`);
    }
  }

  #sync(addr: string, to: string | undefined): void {
    this.#send(addr, to, { t: "sync", members: this.#members.snapshot(), digest: this.#replica.digest() });
  }

  #antiEntropy(): void {
    const alive = this.#members.reachable().filter((m) => m.state === "alive");
    const m = alive[Math.floor(this.#random() * alive.length)];
    if (m) this.#sync(m.addr, m.name);
  }

  /** Re-dials every seed that is not a live member, and every dead member, for ever. */
  #join(): void {
    const live = new Set(this.#members.reachable().map((m) => m.addr));
    const targets = new Map<string, string | undefined>();
    for (const p of this.#o.peers) if (!live.has(p) && p !== this.#members.selfAddr) targets.set(p, undefined);
    for (const m of this.#members.all()) if (m.state === "dead") targets.set(m.addr, m.name);
    for (const [addr, name] of targets) this.#sync(addr, name);
  }

  /**
   * Self-fencing: no word from any peer of an operation for longer than the suspicion timeout
   * aborts our part. Two probe periods are added so that, when SWIM can tell, its clearer
   * "declared dead" verdict comes first; fencing covers the case where it can not (e.g. we are the
   * isolated one and still believe the others alive).
   */
  #fence(): void {
    const now = this.#clock.now();
    const limit = suspicionTimeoutMs(this.cfg, this.#members.size) + 2 * this.cfg.probeIntervalMs;
    for (const op of this.#o.engine.federatedOperations()) {
      if (op.nodes.length === 0) continue;
      const heard = Math.max(...op.nodes.map((n) => this.#lastHeard.get(n) ?? this.#startedAt));
      if (now - heard <= limit) continue;
      const why = `Self-fenced: no word from ${op.nodes.join(", ")} for ${Math.round((now - heard) / 1000)}s (suspicion timeout ${Math.round(limit / 1000)}s)`;
      this.#dispatch(this.#o.engine.fail(now, op.group, why));
    }
  }
}

/** The address to advertise for a bound address: an unspecified host becomes this host's private IPv4. */
export function advertiseFor(bound: string): string {
  const { host, port } = parseAddress(bound);
  if (host !== "0.0.0.0" && host !== "::") return bound;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return formatAddress(a.address, port);
  }
  return formatAddress("127.0.0.1", port);
}

/** `next` differs from `prev` only by the outcome "committed". */
function commitOnly(prev: OpRecord | undefined, next: OpRecord): boolean {
  if (!prev || next.outcome?.state !== "committed" || prev.outcome !== undefined || prev.epoch !== next.epoch) return false;
  const keys = Object.keys(next.progress);
  return keys.length === Object.keys(prev.progress).length && keys.every((k) => prev.progress[k] === next.progress[k]);
}
