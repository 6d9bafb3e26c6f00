/**
 * The daemon: the composition root that wires the engine to the local socket, timers and logs.
 * It is the only place that knows every part; the engine stays pure.
 */
import { BarrierEngine } from "../barrier/engine.ts";
import type { Arrival, Effect, Reply } from "../barrier/types.ts";
import { startReferenceService, type ReferenceService } from "../compat/service.ts";
import { groupSpecs, type Config } from "../config/schema.ts";
import { PROTOCOL_VERSION, type Request, type Response } from "../protocol/messages.ts";
import type { Logger } from "../util/log.ts";
import { DeadlineTimer } from "../util/deadline-timer.ts";
import { VERSION } from "../version.ts";
import type { Backend, BackendHealth, ClusterStatus } from "../cluster/backend.ts";
import type { PeerLink } from "./checkpoint-initiator.ts";
import { CheckpointService } from "./checkpoint-service.ts";
import { CriuRunWatcher, withStartTime } from "./criu-runs.ts";
import { IpcServer } from "./ipc-server.ts";
import { prepareSocketPath, restrictSocket } from "./local-socket.ts";

/** Longest wait at start for a peer's view of the operations in flight (none answers: alone). */
const RECOVERY_MS = 2_000;

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  /** An inherited listening socket (systemd); otherwise the daemon binds config.daemon.socket. */
  readonly listenFd?: number;
  readonly now?: () => number;
  /** Called after the engine's state may have changed (systemd STATUS= updates). */
  readonly onChange?: () => void;
}

export class Daemon {
  readonly engine: BarrierEngine;
  readonly #server: IpcServer;
  readonly #now: () => number;
  readonly startedAt = new Date();
  /** One timer, always set for the engine's earliest deadline. */
  readonly #deadline: DeadlineTimer;
  /** Answers owed to front ends other than the local socket (see submit). */
  readonly #callbacks = new Map<string, (r: Reply) => void>();
  #nextSubmit = 0;
  /** The reference-protocol listener, when [compat] listen is set. */
  #compat: ReferenceService | undefined;
  /** Peer federation, when [cluster] is set. */
  #backend: Backend | undefined;
  #runsSyncQueued = false;
  readonly #runs = new CriuRunWatcher((attempt, why) => this.#apply(this.engine.runEnded(this.#now(), attempt, why)));
  /** `checkpoint`, `restore` and `operations` (docs/checkpoint.md). */
  readonly checkpoints: CheckpointService;

  constructor(readonly opts: DaemonOptions) {
    this.#now = opts.now ?? Date.now;
    this.#deadline = new DeadlineTimer(this.#now, () => this.#apply(this.engine.tick(this.#now())));
    const { cluster, etcd } = opts.config;
    const node = cluster?.node ?? etcd?.node;
    // With etcd, one etcd transaction decides each operation's outcome (src/etcd).
    this.engine = new BarrierEngine(groupSpecs(opts.config), node ? { node, ...(etcd ? { decider: "external" as const } : {}) } : {});
    this.checkpoints = new CheckpointService({
      node: node ?? "local",
      config: opts.config,
      log: opts.log,
      groupView: (g) => this.engine.groups().find((x) => x.name === g),
      now: this.#now,
    });
    this.#server = new IpcServer({ handle: (r, id) => this.#handle(r, id), gone: (id) => this.#gone(id) }, opts.log);
  }

  async start(): Promise<void> {
    const { socket } = this.opts.config.daemon;
    // Federated: learn the operations in flight from a peer before taking hook calls (a call that
    // reconnects after a restart then gets its operation's real outcome; callers retry meanwhile).
    await this.#startCluster();
    if (this.opts.listenFd !== undefined) {
      this.#server.listen({ fd: this.opts.listenFd });
      this.opts.log.info(`listening on ${socket} (socket from systemd, fd ${this.opts.listenFd})`);
    } else {
      await prepareSocketPath(socket);
      this.#server.listen({ unix: socket });
      restrictSocket(socket);
      this.opts.log.info(`listening on ${socket}`);
    }
    this.#compat = startReferenceService(this.opts.config, this, this.opts.log);
    const groups = this.opts.config.groups;
    this.opts.log.info(`criu-coordinator ${VERSION}: ${groups.length} group(s) from ${this.opts.config.source}${groups.map((g) => `; ${g.name}: ${g.members.join(", ")}`).join("")}`);
  }

  /** Aborts every operation in flight (waiting hooks get a clear answer) and stops listening. */
  async stop(reason: string): Promise<void> {
    for (const g of this.engine.groups()) this.#apply(this.engine.fail(this.#now(), g.name, reason));
    this.#compat?.stop(reason);
    this.#server.stop();
    this.#deadline.clear();
    this.#runs.close();
    // Closing after the aborts lets peers hear them before this node goes quiet.
    await this.#backend?.close();
  }

  /** Membership and counters of the federation, if any. */
  cluster(): ClusterStatus | undefined {
    return this.#backend?.status();
  }

  async #startCluster(): Promise<void> {
    if (this.opts.config.etcd) return this.#startEtcd();
    const c = this.opts.config.cluster;
    if (!c) return;
    if (!c.keyFile) {
      throw new Error(
        `[cluster] is set in ${this.opts.config.source} but cluster.key_file is not: peer traffic must be authenticated. Create a key with "criu-coordinator keygen > /etc/criu-coordinator/cluster.key" on one node, copy it to every node, and set key_file`,
      );
    }
    // Loaded only for a cluster: node:crypto and node:os cost a local-only daemon memory.
    const { loadKeyring } = await import("../gossip/keyring.ts");
    const { GossipBackend } = await import("../gossip/gossip-backend.ts");
    const keys = await loadKeyring(c.keyFile);
    const backend = new GossipBackend({
      node: c.node,
      listen: c.listen,
      ...(c.advertise ? { advertise: c.advertise } : {}),
      peers: c.peers,
      keys,
      ...this.#backendLinks(),
    });
    await this.#attach(backend);
    const synced = await backend.synced(RECOVERY_MS);
    this.opts.log.info(`cluster: node ${c.node} at ${backend.address}, ${c.peers.length} seed peer(s), ${synced ? "state synced from a peer" : "no peer answered yet"}`);
  }

  async #startEtcd(): Promise<void> {
    const cfg = this.opts.config.etcd!;
    const { EtcdBackend } = await import("../etcd/etcd-backend.ts");
    const backend = new EtcdBackend({
      ...cfg,
      groups: this.opts.config.groups.map((g) => g.name),
      ...this.#backendLinks(),
    });
    await this.#attach(backend);
  }

  /** What every federation backend is given: the engine, the dispatcher, the peer-request handler. */
  #backendLinks() {
    return {
      engine: this.engine,
      dispatch: (fx: Effect[]) => this.#apply(fx),
      onRequest: (_from: string, body: Record<string, unknown>) => this.checkpoints.onPeer(body),
      log: this.opts.log,
    };
  }

  /** Starts the backend, and lets the checkpoint service ask the other daemons through it. */
  async #attach(backend: Backend & PeerLink): Promise<void> {
    await backend.start();
    this.#backend = backend;
    this.checkpoints.attach(backend);
  }

  /** Kind and health of the federation backend, for status. */
  #backendHealth(): BackendHealth | undefined {
    const b = this.#backend;
    if (!b) return undefined;
    if (b.health) return b.health();
    const nodes = b.status().nodes;
    return { kind: "gossip", health: "ok", detail: `${nodes.filter((n) => n.state === "alive").length} of ${nodes.length} node(s) alive` };
  }

  /**
   * One hook call from another front end (for example the reference protocol listener): `done`
   * receives the engine's answer. Call `gone()` if the caller's connection closes first.
   */
  submit(a: Omit<Arrival, "callId">, done: (r: Reply) => void): { gone(): void } {
    const callId = `submit.${++this.#nextSubmit}`;
    this.#callbacks.set(callId, done);
    this.#apply(this.engine.arrive(this.#now(), { ...a, callId }));
    return {
      gone: () => {
        if (this.#callbacks.delete(callId)) this.#apply(this.engine.disconnect(this.#now(), callId));
      },
    };
  }

  /** Aborts the group's operation in flight, if any; true if one was aborted. */
  abort(group: string, reason: string): boolean {
    const effects = this.engine.fail(this.#now(), group, reason);
    this.#apply(effects);
    return effects.some((e) => e.type === "event");
  }

  /** One line for systemd's STATUS=. */
  summary(): string {
    const members = this.opts.config.groups.reduce((n, g) => n + g.members.length, 0);
    return `${this.opts.config.groups.length} groups, ${members} members; ${this.engine.openOperations} operations in flight, ${this.engine.waitingCount} hook calls waiting`;
  }

  status(): Record<string, unknown> {
    return {
      version: VERSION,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      config: this.opts.config.source,
      socket: this.opts.config.daemon.socket,
      waiting: this.engine.waitingCount,
      operations: this.engine.openOperations,
      groups: this.engine.groups(),
      ...(this.#compat ? { compat: this.#compat.status() } : {}),
      ...(this.#backend ? { cluster: this.#backend.status(), backend: this.#backendHealth() } : {}),
    };
  }

  #handle(req: Request, callId: string): Response | undefined {
    const now = this.#now();
    switch (req.type) {
      case "status":
        return { v: PROTOCOL_VERSION, type: "status", status: this.status() };
      case "abort": {
        const aborted = this.abort(req.group, req.reason || "aborted by request");
        return {
          v: PROTOCOL_VERSION,
          type: "result",
          ok: aborted,
          code: aborted ? "aborted" : "no-operation",
          message: aborted ? `Aborted the operation of group "${req.group}" in flight` : `Group "${req.group}" has no operation in flight`,
        };
      }
      case "checkpoint":
      case "restore":
      case "operation":
      case "operations":
        void this.checkpoints.handle(req).then((res) => this.#server.reply(callId, res));
        return undefined;
      case "arrive":
        this.opts.log.debug(`${req.group}/${req.participant} arrived at ${req.hook}${req.pid ? ` (pid ${req.pid})` : ""}`);
        this.#apply(this.engine.arrive(now, { callId, group: req.group, participant: req.participant, hook: req.hook, ...(req.attempt !== undefined ? { attempt: withStartTime(req.attempt) } : {}) }));
        return undefined;
    }
  }

  #gone(callId: string): void {
    this.#apply(this.engine.disconnect(this.#now(), callId));
  }

  #apply(effects: Effect[]): void {
    if (effects.length > 0) {
      this.opts.onChange?.();
      this.checkpoints.changed();
    }
    for (const e of effects) {
      if (e.type === "reply") {
        const done = this.#callbacks.get(e.callId);
        if (done) {
          this.#callbacks.delete(e.callId);
          done(e);
          continue;
        }
        this.#server.reply(e.callId, { v: PROTOCOL_VERSION, type: "result", ok: e.ok, code: e.code, message: e.message });
      } else if (e.type === "event") {
        this.opts.log[e.level](e.code ? `[${e.code}] ${e.message}` : e.message);
      } else if (e.type === "publish") {
        this.#backend?.publish(e);
      }
    }
    this.#schedule();
  }

  /** The deadline timer, and the watch on the CRIU runs of open operations. */
  #schedule(): void {
    // The runs to watch are listed once per event-loop turn, not once per change: with 1,000
    // participants in flight, a list per hook call cost the daemon three times its CPU.
    if (!this.#runsSyncQueued) {
      this.#runsSyncQueued = true;
      setImmediate(() => {
        this.#runsSyncQueued = false;
        this.#runs.sync(this.engine.openOperations > 0 ? this.engine.liveAttempts().map((r) => r.attempt) : []);
      });
    }
    this.#deadline.set(this.engine.nextDeadline());
  }
}
