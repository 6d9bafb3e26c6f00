/**
 * Finds a group's members among this node's processes: every process in /proc is identified the
 * way a hook call identifies CRTOOLS_INIT_PID (src/identity), and the topmost match of each member
 * is its root (src/operations/plan.ts). Container names are looked up once per container.
 *
 * A member matched by its process name counts only in the daemon's own network namespace: the
 * daemon runs CRIU in that namespace, so CRIU locks just the member's TCP connections there and
 * restores them there. A member that is a Podman container (matched by a container form) counts in
 * any namespace: Podman checkpoints it, in its own namespaces (checkpoint-podman.ts).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { buildIdentifyReport } from "../identity/explain.ts";
import { findNameSources, type NameSource } from "../identity/names.ts";
import { CONTAINER_ID, type FoundMember, type MatchedProcess, rootsOf } from "../operations/plan.ts";

type Groups = readonly { name: string; members: readonly string[] }[];

/** The roots of `group`'s members running here (the calling process itself excluded). */
export function scanMembers(group: string, groups: Groups, procRoot = "/proc"): FoundMember[] {
  const memberGroups = groups.map((g) => ({ name: g.name, members: [...g.members] }));
  const names = new Map<string, NameSource[]>();
  const findNames = (id: string) => {
    let n = names.get(id);
    if (!n) names.set(id, (n = findNameSources(id)));
    return n;
  };
  const matched: MatchedProcess[] = [];
  const ownNet = netns(`${procRoot}/self`);
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const p = readProcess(procRoot, Number(entry));
    if (!p) continue;
    const allRoot = p.cgroupText.split("\n").every((l) => l === "" || l.endsWith(":/"));
    const mountinfoText = allRoot ? readOr(`${procRoot}/${entry}/mountinfo`) : undefined;
    const report = buildIdentifyReport({ cgroupText: p.cgroupText, mountinfoText, processName: p.comm, subject: `PID ${entry}`, groups: memberGroups }, findNames);
    const m = report.match;
    if (m.kind !== "member" || m.group !== group) continue;
    const id = report.identity.id;
    if (m.via !== "process-name" && report.identity.runtime === "podman" && id && CONTAINER_ID.test(id)) {
      matched.push({ pid: Number(entry), ppid: p.ppid, member: m.member, via: m.via, container: id });
    } else if (netns(`${procRoot}/${entry}`) === ownNet) {
      matched.push({ pid: Number(entry), ppid: p.ppid, member: m.member, via: m.via });
    }
  }
  return rootsOf(matched);
}

/** comm, parent and cgroup of a live process; undefined for zombies and processes that went away. */
function readProcess(procRoot: string, pid: number): { comm: string; ppid: number; cgroupText: string } | undefined {
  const stat = readOr(`${procRoot}/${pid}/stat`);
  if (!stat) return undefined;
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return { comm: stat.slice(stat.indexOf("(") + 1, close), ppid: Number(fields[1]), cgroupText: readOr(`${procRoot}/${pid}/cgroup`) };
}

function netns(procDir: string): string {
  try {
    return readlinkSync(`${procDir}/ns/net`);
  } catch {
    return "";
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Whether `pid` is a live (not zombie) process. */
export function isAlive(pid: number, procRoot = "/proc"): boolean {
  return readProcess(procRoot, pid) !== undefined;
}
