/**
 * Shortcuts for the action-script's most common case: a dump of a process that no group names.
 * Both only ever skip work whose answer is already known; whenever in doubt they say "don't
 * know" and the full path runs.
 *
 * - A cache of the parsed configuration (JSON, keyed by the file's path, inode, size and mtime),
 *   so most hook calls neither load the TOML parser nor validate the file again.
 * - A plain host process (its cgroup file names no container runtime) can only match a member by
 *   its process name, so when no member has that name it passes without cgroup parsing or runtime
 *   name lookups.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import { matchMember, type MatchResult } from "../identity/match.ts";

/** Root-owned like the socket directory; override for tests. */
export const CACHE_ENV = "CRIU_COORDINATOR_HOOK_CACHE";
const DEFAULT_CACHE = "/run/criu-coordinator/hook-config-cache.json";

function cachePath(env: Record<string, string | undefined>): string {
  return env[CACHE_ENV] || DEFAULT_CACHE;
}

function keyOf(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${path}|${st.dev}|${st.ino}|${st.size}|${st.mtimeNs}|${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

export function cachedConfig(path: string, env: Record<string, string | undefined>): Config | undefined {
  const key = keyOf(path);
  if (!key) return undefined;
  try {
    const entry = JSON.parse(readFileSync(cachePath(env), "utf8")) as { key?: string; config?: Config };
    return entry.key === key && entry.config ? entry.config : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort: a read-only or missing /run only costs the next call a parse. */
export function storeConfig(path: string, config: Config, env: Record<string, string | undefined>): void {
  const key = keyOf(path);
  if (!key) return;
  const file = cachePath(env);
  try {
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

/**
 * For a plain host process (no container runtime in its cgroup file, not in a cgroup namespace)
 * only the process name can match, so the decision needs no cgroup parsing or runtime name
 * lookups: the same matchMember() with no container ID and no names. undefined: not a plain host
 * process (or unreadable), so the full identification must decide.
 */
export function hostProcessMatch(pid: number, groups: Config["groups"]): { match: MatchResult; processName: string } | undefined {
  let comm: string;
  let cgroup: string;
  try {
    comm = readFileSync(`/proc/${pid}/comm`, "utf8").replace(/\n$/, "");
    cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
  if (mayBeContainer(cgroup)) return undefined;
  const memberGroups = groups.map((g) => ({ name: g.name, members: [...g.members] }));
  return { match: matchMember({ containerId: null, names: [], processName: comm }, memberGroups), processName: comm };
}
