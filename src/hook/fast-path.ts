/**
 * Shortcuts for the action-script's most common case: a dump of a process that no group names.
 * Both only ever skip work whose answer is already known; whenever in doubt they say "don't
 * know" and the full path runs.
 *
 * - A cache of the parsed configuration (JSON, keyed by the file's path and a hash of its
 *   content), so most hook calls neither load the TOML parser nor validate the file again.
 * - A plain host process (its cgroup file names no container runtime) can only match a member by
 *   its process name, so when no member has that name it passes without cgroup parsing or runtime
 *   name lookups.
 *
 * Regular files are read with Bun.mmap (util/small-file.ts), /proc files with Bun.file: node:fs
 * alone costs a hook call about 1 ms of start-up.
 */
import type { Config } from "../config/schema.ts";
import { matchMember, type MatchResult } from "../identity/match.ts";
import { readSmallFile } from "../util/small-file.ts";

/** Root-owned like the socket directory; override for tests. */
export const CACHE_ENV = "CRIU_COORDINATOR_HOOK_CACHE";
const DEFAULT_CACHE = "/run/criu-coordinator/hook-config-cache.json";

function cachePath(env: Record<string, string | undefined>): string {
  return env[CACHE_ENV] || DEFAULT_CACHE;
}

/** The configuration file's text and a key of its content; undefined when it does not exist. */
export function readConfigFile(path: string): { text: string; key: string } | undefined {
  const text = readSmallFile(path);
  return text === null ? undefined : { text, key: `${path}|${Bun.hash(text).toString(36)}` };
}

export interface CacheEntry {
  key?: string;
  config?: Config;
}

/** The cache file's entry, whichever configuration it is for; undefined if none or unreadable. */
export function readConfigCache(env: Record<string, string | undefined>): CacheEntry | undefined {
  try {
    const text = readSmallFile(cachePath(env));
    return text ? (JSON.parse(text) as CacheEntry) : undefined;
  } catch {
    return undefined;
  }
}

/** The cached configuration if the entry was made for this content of the file (its key). */
export function cachedConfig(entry: CacheEntry | undefined, key: string): Config | undefined {
  return entry?.key === key && entry.config ? entry.config : undefined;
}

/**
 * Best effort: a read-only or missing /run only costs the next call a parse. Written aside and
 * renamed, as concurrent hook calls read it; node:fs is loaded here only, after a parse anyway.
 */
export async function storeConfig(key: string, config: Config, env: Record<string, string | undefined>): Promise<void> {
  const file = cachePath(env);
  try {
    const { renameSync, writeFileSync } = await import("node:fs");
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ key, config }), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // not cached
  }
}

/**
 * Anything in a cgroup path that may mean a container: a 64-hex ID, an ECS/Fargate task ID, a
 * UUID, or a runtime's name. test/unit/hook/fast-path.test.ts checks that every cgroup sample in
 * which the full identification finds a container matches this.
 */
const CONTAINER_HINT =
  /[0-9a-f]{64}|[0-9a-f]{32}-\d+|[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|docker|libpod|podman|containerd|crio|cri-o|kubepods|lxc|machine\.slice|machine-|ecs|fargate|garden|actions_job/i;

/** False only when no path of a /proc/<pid>/cgroup text can name a container. */
export function mayBeContainer(cgroupText: string): boolean {
  const paths = cgroupText.split("\n").filter((l) => l !== "").map((l) => l.slice(l.indexOf(":", l.indexOf(":") + 1) + 1));
  if (paths.length === 0 || paths.every((p) => p === "/")) return true; // cgroup namespace: mountinfo decides
  return paths.some((p) => CONTAINER_HINT.test(p));
}

/** What a plain host process is known by: its name, and its cgroup file to tell it is plain. */
export interface ProcessFacts {
  comm: string;
  cgroup: string;
}

/** undefined when the process is gone or /proc is unreadable. */
export async function readProcessFacts(pid: number): Promise<ProcessFacts | undefined> {
  try {
    const [comm, cgroup] = await Promise.all([Bun.file(`/proc/${pid}/comm`).text(), Bun.file(`/proc/${pid}/cgroup`).text()]);
    return { comm: comm.replace(/\n$/, ""), cgroup };
  } catch {
    return undefined;
  }
}

/**
 * For a plain host process (no container runtime in its cgroup file, not in a cgroup namespace)
 * only the process name can match, so the decision needs no cgroup parsing or runtime name
 * lookups: the same matchMember() with no container ID and no names. undefined: not a plain host
 * process (or unreadable), so the full identification must decide.
 */
export function hostProcessMatch(facts: ProcessFacts | undefined, groups: Config["groups"]): { match: MatchResult; processName: string } | undefined {
  if (!facts || mayBeContainer(facts.cgroup)) return undefined;
  const memberGroups = groups.map((g) => ({ name: g.name, members: [...g.members] }));
  return { match: matchMember({ containerId: null, names: [], processName: facts.comm }, memberGroups), processName: facts.comm };
}
