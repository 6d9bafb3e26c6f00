/**
 * The network seam: datagrams to "host:port" addresses. The in-memory network below runs on a
 * Clock, with loss, delay and partitions, so whole clusters are tested deterministically; the
 * UDP implementation (udp-transport.ts) is the real one.
 */
import type { Clock } from "./clock.ts";

export type PacketHandler = (data: Uint8Array, from: string) => void;

export interface Transport {
  /** The bound address, "host:port". */
  readonly address: string;
  /** Best effort, like UDP: may drop silently, never throws. */
  send(to: string, data: Uint8Array): void;
  onPacket(handler: PacketHandler): void;
  close(): void;
}

export interface MemoryNetworkOptions {
  /** One-way delay of every packet, ms. */
  readonly delayMs?: number;
  /** Probability that a packet is dropped, 0..1 (seeded, reproducible). */
  readonly loss?: number;
  readonly seed?: number;
}

/** An in-memory datagram network between MemoryTransports, driven by a Clock. */
export class MemoryNetwork {
  readonly #ends = new Map<string, MemoryTransport>();
  /** Pairs "a|b" that can not reach each other. */
  readonly #cut = new Set<string>();
  #rand: () => number;
  delayMs: number;
  loss: number;
  /** Packets sent, dropped (loss, partition, nobody listening). */
  readonly counts = { sent: 0, dropped: 0 };
  /** Sees every packet before delivery; return false to drop it (for tests that tamper). */
  filter: ((from: string, to: string, data: Uint8Array) => boolean) | undefined;

  constructor(readonly clock: Clock, opts: MemoryNetworkOptions = {}) {
    this.delayMs = opts.delayMs ?? 0;
    this.loss = opts.loss ?? 0;
    this.#rand = mulberry32(opts.seed ?? 1);
  }

  transport(address: string): MemoryTransport {
    const t = new MemoryTransport(this, address);
    this.#ends.set(address, t);
    return t;
  }

  /** Cuts every link between the two sets of addresses. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) this.#cut.add(pair(x, y));
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Injects raw bytes as if `from` sent them (forged or replayed packets). */
  inject(from: string, to: string, data: Uint8Array): void {
    this.deliver(from, to, data);
  }

  deliver(from: string, to: string, data: Uint8Array): void {
    this.counts.sent++;
    const copy = new Uint8Array(data);
    if (this.#cut.has(pair(from, to)) || (this.loss > 0 && this.#rand() < this.loss) || (this.filter && !this.filter(from, to, copy))) {
      this.counts.dropped++;
      return;
    }
    this.clock.setTimeout(() => {
      const end = this.#ends.get(to);
      if (end?.open) end.receive(copy, from);
      else this.counts.dropped++;
    }, this.delayMs);
  }

  forget(address: string): void {
    this.#ends.delete(address);
  }
}

export class MemoryTransport implements Transport {
  #handler: PacketHandler | undefined;
  open = true;

  constructor(readonly network: MemoryNetwork, readonly address: string) {}

  send(to: string, data: Uint8Array): void {
    if (this.open) this.network.deliver(this.address, to, data);
  }

  onPacket(handler: PacketHandler): void {
    this.#handler = handler;
  }

  receive(data: Uint8Array, from: string): void {
    this.#handler?.(data, from);
  }

  close(): void {
    this.open = false;
    this.network.forget(this.address);
  }
}

function pair(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** Small seeded PRNG so loss patterns are reproducible. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
