/** N federated daemons (engine + GossipBackend) on an in-memory network and a fake clock. */
import { BarrierEngine } from "../../../src/barrier/engine.ts";
import type { Effect, EngineEvent, GroupSpec, Reply } from "../../../src/barrier/types.ts";
import { FakeClock } from "../../../src/gossip/clock.ts";
import type { GossipConfig } from "../../../src/gossip/config.ts";
import { GossipBackend } from "../../../src/gossip/gossip-backend.ts";
import { MemoryNetwork, mulberry32, type MemoryNetworkOptions } from "../../../src/gossip/transport.ts";

export const KEY = new Uint8Array(32).fill(7);

export interface SimNode {
  readonly name: string;
  readonly addr: string;
  engine: BarrierEngine;
  backend: GossipBackend;
  /** Replies by call ID, with the time they were produced. */
  readonly replies: Map<string, Reply & { at: number }>;
  readonly events: EngineEvent[];
}

export interface SimOptions {
  readonly nodes: number;
  readonly group?: GroupSpec;
  readonly net?: MemoryNetworkOptions;
  readonly config?: Partial<GossipConfig>;
  readonly keys?: (i: number) => Uint8Array[];
}

export class SimCluster {
  readonly clock = new FakeClock();
  readonly net: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly group: GroupSpec;
  #calls = 0;

  constructor(readonly opts: SimOptions) {
    this.net = new MemoryNetwork(this.clock, opts.net);
    const members = Array.from({ length: opts.nodes }, (_, i) => `p${i + 1}`);
    this.group = opts.group ?? { name: "app", members, timeoutMs: 30_000 };
    for (let i = 0; i < opts.nodes; i++) this.nodes.push(this.#make(i, 1));
  }

  async start(settleMs = 3_000): Promise<void> {
    for (const n of this.nodes) await n.backend.start();
    this.clock.advance(settleMs);
  }

  /** Replaces node i by a fresh daemon (new engine, new generation), as after a restart. */
  async restart(i: number): Promise<SimNode> {
    await this.nodes[i]!.backend.close();
    const n = this.#make(i, 2);
    this.nodes[i] = n;
    await n.backend.start();
    return n;
  }

  #make(i: number, gen: number): SimNode {
    const name = `n${i + 1}`;
    const addr = `10.0.0.${i + 1}:7946`;
    const node: SimNode = { name, addr, replies: new Map(), events: [], engine: undefined!, backend: undefined! };
    node.engine = new BarrierEngine([this.group], { node: name });
    const dispatch = (effects: Effect[]) => this.#apply(node, effects);
    node.backend = new GossipBackend({
      node: name,
      listen: addr,
      advertise: addr,
      peers: i === 0 ? [] : ["10.0.0.1:7946"],
      keys: this.opts.keys?.(i) ?? [KEY],
      engine: node.engine,
      dispatch,
      clock: this.clock,
      transport: this.net.transport(addr),
      config: this.opts.config,
      generation: gen * 1000 + i,
      random: mulberry32(100 + i + gen * 7),
    });
    return node;
  }

  #apply(n: SimNode, effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === "reply") n.replies.set(e.callId, { ...e, at: this.clock.now() });
      else if (e.type === "event") n.events.push(e);
      else n.backend.publish(e);
    }
  }

  /** Participant p<i+1> calls `hook` on node i; returns the call ID. */
  arrive(i: number, hook: string, participant = `p${i + 1}`): string {
    const n = this.nodes[i]!;
    const callId = `${n.name}-${++this.#calls}`;
    this.#apply(n, n.engine.arrive(this.clock.now(), { callId, group: this.group.name, participant, hook, attempt: `${participant}-run` }));
    return callId;
  }

  tick(): void {
    for (const n of this.nodes) this.#apply(n, n.engine.tick(this.clock.now()));
  }

  reply(callId: string): (Reply & { at: number }) | undefined {
    for (const n of this.nodes) {
      const r = n.replies.get(callId);
      if (r) return r;
    }
    return undefined;
  }

  states(i: number): Record<string, string> {
    return Object.fromEntries(this.nodes[i]!.backend.status().nodes.map((s) => [s.name, s.state]));
  }

  async close(): Promise<void> {
    for (const n of this.nodes) await n.backend.close();
  }
}
