/**
 * The daemon's checkpoint and restore service: this node's part (CheckpointNode), the initiator
 * for operations started here, and the local-socket requests of the `checkpoint`, `restore` and
 * `operations` commands. The daemon hands it requests and peer messages; it owns nothing else.
 */
import type { GroupView } from "../barrier/types.ts";
import type { Config } from "../config/schema.ts";
import type { RequestBody } from "../gossip/requests.ts";
import { PROTOCOL_VERSION, type Request, type Response } from "../protocol/messages.ts";
import type { Logger } from "../util/log.ts";
import { Initiator, type PeerLink } from "./checkpoint-initiator.ts";
import { CheckpointNode } from "./checkpoint-node.ts";
import { OperationStore } from "./checkpoint-store.ts";

/** How long an unchanged operation snapshot is held before it is sent anyway. */
const OPERATION_WAIT_MS = 10_000;

export interface CheckpointServiceOptions {
  readonly node: string;
  readonly config: Config;
  readonly log: Logger;
  readonly groupView: (group: string) => GroupView | undefined;
  readonly now: () => number;
}

export class CheckpointService {
  readonly #node: CheckpointNode;
  #initiator: Initiator;

  constructor(readonly o: CheckpointServiceOptions) {
    const store = new OperationStore(o.node);
    this.#node = new CheckpointNode({ node: o.node, config: o.config, log: o.log, store, groupView: o.groupView, now: o.now });
    this.#initiator = this.#makeInitiator(undefined);
  }

  /** The cluster, once it is up: operations then span every node. */
  attach(peers: PeerLink): void {
    this.#initiator = this.#makeInitiator(peers);
  }

  /** The engine changed: hooks reached show in the progress of running operations. */
  changed(): void {
    this.#node.changed();
  }

  /** A command from a peer daemon. */
  onPeer(body: RequestBody): Promise<RequestBody> {
    return this.#node.handle(body);
  }

  /** One of the local socket's operation requests. */
  async handle(req: Request): Promise<Response> {
    const v = PROTOCOL_VERSION;
    try {
      switch (req.type) {
        case "checkpoint":
        case "restore": {
          const r = req.type === "checkpoint" ? await this.#initiator.checkpoint(req.group, req.leaveRunning ?? false, req.dir) : await this.#initiator.restore(req.group, req.from, req.placement);
          return typeof r === "string" ? { v, type: "error", message: r } : { v, type: "operation", operation: r };
        }
        case "operation": {
          // With `after`, a long poll: answered when the snapshot changes (the CLI's progress).
          const s = await this.#initiator.nextSnapshot(req.id, req.after, req.after !== undefined ? OPERATION_WAIT_MS : 0);
          return s ? { v, type: "operation", operation: s } : { v, type: "error", message: `This daemon did not start operation ${req.id}` };
        }
        case "operations":
          return { v, type: "operations", ...(await this.#initiator.list(req.group)) };
        default:
          return { v, type: "error", message: `Not an operation request: ${req.type}` };
      }
    } catch (e) {
      this.o.log.error(`${req.type} failed: ${(e as Error).stack ?? e}`);
      return { v, type: "error", message: `Internal error: ${(e as Error).message}` };
    }
  }

  #makeInitiator(peers: PeerLink | undefined): Initiator {
    return new Initiator({ self: this.o.node, local: this.#node, ...(peers ? { peers } : {}), groups: this.o.config.groups, log: this.o.log });
  }
}
