/**
 * Where a reference request goes. The id → group rule:
 *   1. an id that is a member of a configured [[group]] is that participant: the request joins the
 *      daemon's own engine (Daemon.submit), so reference clients and our hook calls wait on each
 *      other; the dependencies the request declares are ignored, the group's rule applies;
 *   2. any other id belongs to an implicit group: the connected component of the dependencies that
 *      reference clients declared (or the kubescr map gave), see implicit-groups.ts.
 * An implicit id may not depend on a configured member: engine groups do not span each other.
 */
import { DeadlineTimer } from "../util/deadline-timer.ts";
import { isHookName, isPassThrough } from "../barrier/hooks.ts";
import type { Arrival, Effect, GroupView, Reply } from "../barrier/types.ts";
import type { GroupConfig } from "../config/schema.ts";
import type { Logger } from "../util/log.ts";
import { ImplicitGroups } from "./implicit-groups.ts";
import { TOKENS, type ReferenceRequest } from "./protocol.ts";
import { tokenFor } from "./replies.ts";

/** The daemon's front-end entry (Daemon.submit). */
export interface Submitter {
  submit(a: Omit<Arrival, "callId">, done: (r: Reply) => void): { gone(): void };
}

export interface Pending {
  /** The client's connection closed before its answer. */
  gone(): void;
}

export interface RouterOptions {
  readonly groups: readonly GroupConfig[];
  readonly daemon: Submitter;
  /** Wait timeout of implicit groups (the reference's --wait-timeout). */
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

const NOTHING: Pending = { gone() {} };

export class ReferenceRouter {
  readonly #implicit: ImplicitGroups;
  readonly #kubescr = new Map<string, readonly string[]>();
  readonly #answers = new Map<string, { hook: string; answer: (token: string) => void }>();
  readonly #now: () => number;
  #nextCall = 0;
  readonly #deadline: DeadlineTimer;

  constructor(readonly opts: RouterOptions) {
    this.#implicit = new ImplicitGroups(opts.timeoutMs);
    this.#now = opts.now ?? Date.now;
    this.#deadline = new DeadlineTimer(this.#now, () => this.#apply(this.#implicit.tick(this.#now())));
  }

  handle(req: ReferenceRequest, answer: (token: string) => void): Pending {
    const log = this.opts.log;
    if (req.kind === "add-dependencies") {
      for (const [id, deps] of Object.entries(req.map)) {
        this.#kubescr.set(id, deps);
        if (!this.#memberOf(id)) this.#apply(this.#implicit.declare(this.#now(), id, deps));
      }
      log.info(`reference: kubescr dependencies for ${Object.keys(req.map).join(", ") || "nobody"}`);
      answer(TOKENS.ack);
      return NOTHING;
    }
    const { id, action } = req;
    if (!isHookName(action)) {
      answer(TOKENS.unknownAction);
      return NOTHING;
    }
    if (isPassThrough(action)) {
      answer(TOKENS.ack);
      return NOTHING;
    }
    const group = this.#memberOf(id);
    if (group) {
      log.debug(`reference: ${id} at ${action} → configured group ${group.name}${req.dependencies.length ? ` (declared ${req.dependencies.join(":")} ignored)` : ""}`);
      return this.opts.daemon.submit({ group: group.name, participant: id, hook: action }, (r) => answer(tokenFor(r, action)));
    }
    const deps = req.dependencies.length > 0 ? req.dependencies : (this.#kubescr.get(id) ?? []);
    const clash = deps.map((d) => [d, this.#memberOf(d)] as const).find(([, g]) => g !== undefined);
    if (clash) {
      log.warn(`reference: ${id} depends on "${clash[0]}" of configured group "${clash[1]!.name}"; add ${id} to that group instead`);
      answer(TOKENS.conflict);
      return NOTHING;
    }
    const callId = `reference.${++this.#nextCall}`;
    this.#answers.set(callId, { hook: action, answer });
    log.debug(`reference: ${id} at ${action} waits for ${deps.join(", ") || "no one"}`);
    this.#apply(this.#implicit.arrive(this.#now(), callId, id, action, deps));
    return {
      gone: () => {
        if (this.#answers.delete(callId)) this.#apply(this.#implicit.disconnect(this.#now(), callId));
      },
    };
  }

  /** Every waiting implicit call gets its answer; the timer stops. */
  stop(reason: string): void {
    this.#apply(this.#implicit.failAll(this.#now(), reason));
    this.#deadline.clear();
  }

  status(): { groups: GroupView[]; waiting: number; kubescr: Record<string, readonly string[]> } {
    return { groups: this.#implicit.groups(), waiting: this.#implicit.waitingCount, kubescr: Object.fromEntries(this.#kubescr) };
  }

  #memberOf(id: string): GroupConfig | undefined {
    return this.opts.groups.find((g) => g.members.includes(id));
  }

  #apply(effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === "reply") {
        const a = this.#answers.get(e.callId);
        if (!a) continue;
        this.#answers.delete(e.callId);
        a.answer(tokenFor(e, a.hook));
      } else if (e.type === "event") {
        this.opts.log[e.level](`reference: ${e.message}`);
      }
    }
    this.#schedule();
  }

  /** One timer for the earliest deadline of the implicit groups. */
  #schedule(): void {
    this.#deadline.set(this.#implicit.nextDeadline());
  }
}
