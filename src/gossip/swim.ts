/**
 * SWIM failure detection: each protocol period probe one member (round robin over a shuffled
 * list, which bounds the worst-case detection time); if no ack within the probe timeout, ask k
 * other members to probe it for us (ping-req); if still no ack by the end of the period, suspect
 * it. Suspicion and refutation live in members.ts.
 */
import type { Clock, Timer } from "./clock.ts";
import type { GossipConfig } from "./config.ts";
import type { Members } from "./members.ts";
import type { Body } from "./wire.ts";

/** Sends a message body to an address; `to` names the member it is meant for, if known. */
export type SendFn = (addr: string, to: string | undefined, body: Body) => void;

interface Probe {
  readonly target: string;
  acked: boolean;
}

export class Prober {
  #seq = Math.floor(Math.random() * 1e9); // random start: acks of an earlier run never match
  #order: string[] = [];
  #loop: Timer | undefined;
  readonly #probes = new Map<number, Probe>();
  /** seq of our relayed ping → who asked and under which seq. */
  readonly #relays = new Map<number, { addr: string; asker: string; seq: number }>();

  constructor(
    readonly members: Members,
    readonly clock: Clock,
    readonly cfg: GossipConfig,
    readonly send: SendFn,
    readonly random: () => number = Math.random,
  ) {}

  start(): void {
    const period = () => {
      this.probeOnce();
      this.#loop = this.clock.setTimeout(period, this.cfg.probeIntervalMs);
    };
    this.#loop = this.clock.setTimeout(period, this.random() * this.cfg.probeIntervalMs);
  }

  stop(): void {
    this.#loop?.cancel();
  }

  probeOnce(): void {
    const target = this.#next();
    if (!target) return;
    const seq = ++this.#seq;
    const probe: Probe = { target: target.name, acked: false };
    this.#probes.set(seq, probe);
    this.send(target.addr, target.name, { t: "ping", seq, target: target.name });
    this.clock.setTimeout(() => {
      if (probe.acked) return;
      const helpers = shuffle(this.members.reachable().filter((m) => m.name !== target.name && m.state === "alive"), this.random);
      for (const h of helpers.slice(0, this.cfg.indirectChecks)) {
        this.send(h.addr, h.name, { t: "pingReq", seq, target: target.name, targetAddr: target.addr });
      }
    }, this.cfg.probeTimeoutMs);
    this.clock.setTimeout(() => {
      this.#probes.delete(seq);
      if (!probe.acked) this.members.suspect(target.name);
    }, this.cfg.probeIntervalMs * 0.9);
  }

  onPing(fromAddr: string, sender: string, seq: number): void {
    this.send(fromAddr, sender, { t: "ack", seq });
  }

  onPingReq(fromAddr: string, sender: string, seq: number, target: string, targetAddr: string): void {
    const mine = ++this.#seq;
    this.#relays.set(mine, { addr: fromAddr, asker: sender, seq });
    this.send(targetAddr, target, { t: "ping", seq: mine, target });
    this.clock.setTimeout(() => this.#relays.delete(mine), this.cfg.probeIntervalMs);
  }

  onAck(seq: number): void {
    const probe = this.#probes.get(seq);
    if (probe) probe.acked = true;
    const relay = this.#relays.get(seq);
    if (relay) {
      this.#relays.delete(seq);
      this.send(relay.addr, relay.asker, { t: "ack", seq: relay.seq });
    }
  }

  #next() {
    for (let tries = 0; tries < 2; tries++) {
      while (this.#order.length > 0) {
        const m = this.members.get(this.#order.shift()!);
        if (m && m.state !== "dead") return m;
      }
      this.#order = shuffle(this.members.reachable().map((m) => m.name), this.random);
    }
    return undefined;
  }
}

export function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}
