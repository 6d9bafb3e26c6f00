/**
 * Works out which participant a process is: the only place that reads /proc for identity.
 * Pure decisions live in cgroup.ts (container ID) and match.ts (member matching).
 */
import { readFileSync } from "node:fs";
import { parseCgroupIdentity, type CgroupIdentity } from "./cgroup.ts";
import { matchMember, type MatchResult, type MemberGroup } from "./match.ts";

export interface ProcessFacts {
  readonly pid: number;
  readonly processName: string;
  readonly cgroup: CgroupIdentity;
  readonly names: string[];
}

/** Reads what identifies `pid`; the process must exist. */
export function readProcessFacts(pid: number, procRoot = "/proc"): ProcessFacts {
  const processName = readFileSync(`${procRoot}/${pid}/comm`, "utf8").replace(/\n$/, "");
  const cgroupText = readOptional(`${procRoot}/${pid}/cgroup`);
  // mountinfo is only needed when the cgroup file says nothing (all-root, cgroup namespaces).
  const cgroup = parseCgroupIdentity(cgroupText, /^0::\/\s*$/m.test(cgroupText) ? readOptional(`${procRoot}/${pid}/mountinfo`) : undefined);
  const names = cgroup.name ? [cgroup.name] : [];
  return { pid, processName, cgroup, names };
}

export function matchFacts(facts: ProcessFacts, groups: readonly { name: string; members: readonly string[] }[]): MatchResult {
  const mg: MemberGroup[] = groups.map((g) => ({ name: g.name, members: [...g.members] }));
  return matchMember({ containerId: facts.cgroup.id, names: facts.names, processName: facts.processName }, mg);
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
