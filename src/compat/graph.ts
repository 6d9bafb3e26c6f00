/** The declared dependency graph of reference clients: components and the group spec of one. Pure. */
import type { GroupSpec } from "../barrier/types.ts";

/** Every id connected to `id` by a declaration in either direction, sorted. */
export function component(declared: ReadonlyMap<string, readonly string[]>, id: string): string[] {
  const adjacent = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    if (!adjacent.has(a)) adjacent.set(a, new Set());
    adjacent.get(a)!.add(b);
  };
  for (const [who, deps] of declared) {
    link(who, who);
    for (const d of deps) {
      link(who, d);
      link(d, who);
    }
  }
  const seen = new Set([id]);
  const todo = [id];
  while (todo.length > 0) {
    for (const next of adjacent.get(todo.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return [...seen].sort();
}

/** Members wait for what they declared; a member that never declared waits for no one. */
export function specFor(declared: ReadonlyMap<string, readonly string[]>, members: readonly string[], timeoutMs: number, name: string): GroupSpec {
  const dependencies: Record<string, readonly string[]> = {};
  for (const m of members) dependencies[m] = declared.get(m) ?? [];
  return { name, members, dependencies, timeoutMs };
}

/** Same members and same dependencies (the name does not count). */
export function sameSpec(a: GroupSpec, b: GroupSpec): boolean {
  if (a.members.join("\0") !== b.members.join("\0")) return false;
  return a.members.every((m) => (a.dependencies?.[m] ?? []).join("\0") === (b.dependencies?.[m] ?? []).join("\0"));
}
