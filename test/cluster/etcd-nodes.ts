/**
 * One node of an in-process etcd-federated cluster for tests: a barrier engine with the external
 * decider and its EtcdBackend, driven the way the daemon drives them.
 */
import { BarrierEngine } from "../../src/barrier/engine.ts";
import type { Effect, Reply } from "../../src/barrier/types.ts";
import { EtcdBackend } from "../../src/etcd/etcd-backend.ts";

export class EtcdNode {
  readonly replies = new Map<string, Reply & { at: number }>();
  readonly events: string[] = [];
  readonly engine: BarrierEngine;
  readonly backend: EtcdBackend;
  #n = 0;
  constructor(
    readonly name: string,
    members: string[],
    prefix: string,
    endpoints: readonly string[],
    timeoutMs = 10_000,
    tls: { caFile?: string; certFile?: string; keyFile?: string } = {},
  ) {
    this.engine = new BarrierEngine([{ name: "g", members, timeoutMs }], { node: name, decider: "external" });
    this.backend = new EtcdBackend({ node: name, endpoints, prefix, leaseTtlMs: 2_000, groups: ["g"], engine: this.engine, dispatch: (fx) => this.apply(fx), ...tls });
  }
  apply(fx: Effect[]): void {
    for (const e of fx) {
      if (e.type === "reply") this.replies.set(e.callId, { ...e, at: performance.now() });
      else if (e.type === "event") this.events.push(`${e.code ?? e.level} ${e.message}`);
      else this.backend.publish(e);
    }
  }
  arrive(participant: string, hook: string): string {
    const callId = `${this.name}-${++this.#n}`;
    this.apply(this.engine.arrive(Date.now(), { callId, group: "g", participant, hook, attempt: `${participant}-run` }));
    return callId;
  }
  async answer(callId: string, timeoutMs = 5_000): Promise<Reply & { at: number }> {
    const end = Date.now() + timeoutMs;
    while (!this.replies.has(callId)) {
      if (Date.now() > end) throw new Error(`${this.name}: no answer to ${callId}; events: ${this.events.join(" | ")}`);
      this.apply(this.engine.tick(Date.now()));
      await Bun.sleep(1);
    }
    return this.replies.get(callId)!;
  }
}
