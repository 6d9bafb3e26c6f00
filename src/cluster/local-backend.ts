/** The single-node backend: nothing to share. */
import type { Backend, ClusterStatus } from "./backend.ts";

export class LocalBackend implements Backend {
  constructor(readonly node = "local") {}

  async start(): Promise<void> {}

  publish(): void {}

  status(): ClusterStatus {
    return { node: this.node, nodes: [{ name: this.node, addr: "", state: "alive", self: true }], counters: {} };
  }

  async close(): Promise<void> {}
}
