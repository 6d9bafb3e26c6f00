/**
 * Groups for reference clients that no configured group knows: built at run time from the
 * dependencies the clients declare, one group per connected component of the declared graph.
 * Each group is a BarrierEngine of its own (composition: the engine is not changed), so these
 * groups get every guarantee the engine gives configured groups: rounds never share state, a
 * dropped client aborts its round, every wait has a deadline.
 *
 * Declarations are taken when a client starts a round (pre-dump, pre-restore), when an id is
 * seen for the first time, and from the kubescr map. A declaration that changes a group while a
 * round is in flight rebuilds the group: the round's progress is replayed into the new engine
 * (real waiting calls keep their call ids; replies to replayed progress go nowhere). Pure: time
 * is a parameter and effects are returned, as in the engine.
 */
import { BarrierEngine } from "../barrier/engine.ts";
import { hookInfo, hooksOf, startKind, type OperationKind } from "../barrier/hooks.ts";
import type { Effect, GroupSpec, GroupView } from "../barrier/types.ts";
import { component, sameSpec, specFor } from "./graph.ts";

interface Implicit {
  readonly spec: GroupSpec;
  readonly engine: BarrierEngine;
}

interface Call {
  readonly id: string;
  readonly hook: string;
  group: string;
}

/** What a rebuild carries over from one group's round. */
interface Snapshot {
  readonly kind: OperationKind;
  readonly progress: readonly { readonly name: string; readonly hook: string }[];
}

const REPLAY = "replay.";

export class ImplicitGroups {
  readonly #declared = new Map<string, readonly string[]>();
  readonly #groups = new Map<string, Implicit>();
  readonly #groupOf = new Map<string, string>();
  /** Waiting calls by call id. */
  readonly #calls = new Map<string, Call>();
  #nextGroup = 0;
  #nextReplay = 0;

  constructor(readonly timeoutMs: number) {}

  /** Records `id`'s dependencies (a kubescr entry, or a request); may rebuild its group. */
  declare(now: number, id: string, deps: readonly string[]): Effect[] {
    this.#declared.set(id, deps);
    const members = component(this.#declared, id);
    const spec = specFor(this.#declared, members, this.timeoutMs, "");
    const current = this.#groupOf.get(id);
    if (current !== undefined && sameSpec(this.#groups.get(current)!.spec, spec)) return [];
    return this.#rebuild(now, members);
  }

  /** The declared dependencies of `id`, if it ever declared any. */
  declared(id: string): readonly string[] | undefined {
    return this.#declared.get(id);
  }

  /** A reference client reached `hook`. */
  arrive(now: number, callId: string, id: string, hook: string, deps: readonly string[]): Effect[] {
    const out = startKind(hook) !== undefined || !this.#declared.has(id) ? this.declare(now, id, deps) : [];
    const group = this.#groupOf.get(id)!;
    this.#calls.set(callId, { id, hook, group });
    return [...out, ...this.#own(this.#groups.get(group)!.engine.arrive(now, { callId, group, participant: id, hook }))];
  }

  /** A waiting client's connection closed: as for our own hooks, its round aborts. */
  disconnect(now: number, callId: string): Effect[] {
    const call = this.#calls.get(callId);
    if (!call) return [];
    this.#calls.delete(callId);
    return this.#own(this.#groups.get(call.group)!.engine.disconnect(now, callId));
  }

  /** Aborts every round in flight (the daemon is stopping). */
  failAll(now: number, reason: string): Effect[] {
    return [...this.#groups.entries()].flatMap(([name, g]) => this.#own(g.engine.fail(now, name, reason)));
  }

  tick(now: number): Effect[] {
    return [...this.#groups.values()].flatMap((g) => this.#own(g.engine.tick(now)));
  }

  nextDeadline(): number | undefined {
    const all = [...this.#groups.values()].map((g) => g.engine.nextDeadline()).filter((t) => t !== undefined);
    return all.length > 0 ? Math.min(...all) : undefined;
  }

  groups(): GroupView[] {
    return [...this.#groups.values()].flatMap((g) => g.engine.groups());
  }

  get waitingCount(): number {
    return this.#calls.size;
  }

  /** New groups for `members` and every group they were in; the rounds in flight carry over. */
  #rebuild(now: number, members: readonly string[]): Effect[] {
    const affected = new Set(members.map((m) => this.#groupOf.get(m)).filter((g) => g !== undefined));
    const homeless = new Set(members);
    const snapshots: Snapshot[] = [];
    for (const name of affected) {
      const g = this.#groups.get(name)!;
      for (const m of g.spec.members) homeless.add(m);
      const snap = this.#snapshot(name, g);
      if (snap) snapshots.push(snap);
      this.#groups.delete(name);
    }
    // Old members may now form several components (a client dropped a dependency).
    while (homeless.size > 0) {
      const first = homeless.values().next().value!;
      const comp = component(this.#declared, first);
      const name = `reference-${++this.#nextGroup}`;
      const spec = specFor(this.#declared, comp, this.timeoutMs, name);
      this.#groups.set(name, { spec, engine: new BarrierEngine([spec]) });
      for (const m of comp) {
        this.#groupOf.set(m, name);
        homeless.delete(m);
      }
    }
    return snapshots.flatMap((s) => this.#replay(now, s));
  }

  #snapshot(name: string, g: Implicit): Snapshot | undefined {
    const op = g.engine.groups()[0]?.operation;
    const waiting = [...this.#calls.values()].some((c) => c.group === name);
    if (!op || (op.phase.state !== "open" && !waiting)) return undefined;
    const progress = op.participants.filter((p) => p.hook !== null).map((p) => ({ name: p.name, hook: p.hook! }));
    return { kind: op.kind, progress };
  }

  /** Start hooks first, then each participant's furthest hook, in rank order. */
  #replay(now: number, s: Snapshot): Effect[] {
    const start = hooksOf(s.kind)[0]!;
    const rank = (h: string) => hookInfo(s.kind, h)?.rank ?? 0;
    const later = s.progress.filter((p) => p.hook !== start).sort((a, b) => rank(a.hook) - rank(b.hook));
    const out: Effect[] = [];
    for (const p of [...s.progress.map((p) => ({ name: p.name, hook: start })), ...later]) {
      const real = [...this.#calls.entries()].find(([, c]) => c.id === p.name && c.hook === p.hook)?.[0];
      const callId = real ?? `${REPLAY}${++this.#nextReplay}`;
      const group = this.#groupOf.get(p.name)!;
      if (real) this.#calls.get(real)!.group = group;
      out.push(...this.#own(this.#groups.get(group)!.engine.arrive(now, { callId, group, participant: p.name, hook: p.hook })));
    }
    return out;
  }

  /** Drops replies to replayed progress and forgets answered calls. */
  #own(effects: Effect[]): Effect[] {
    return effects.filter((e) => {
      if (e.type !== "reply") return true;
      if (e.callId.startsWith(REPLAY)) return false;
      this.#calls.delete(e.callId);
      return true;
    });
  }
}
