/**
 * Works out which participant a process is: the only place that reads /proc for identity. The
 * decision itself is explain.ts's buildIdentifyReport, so a hook call and `criu-coordinator
 * identify` can never disagree.
 */
import { readFileSync } from "node:fs";
import { buildIdentifyReport, type IdentifyReport } from "./explain.ts";
import { findNameSources } from "./names.ts";

type Groups = readonly { name: string; members: readonly string[] }[];

/** Identifies `pid` (which must exist) against the configured groups. */
export function identifyProcess(pid: number, groups: Groups, procRoot = "/proc"): IdentifyReport {
  const processName = readFileSync(`${procRoot}/${pid}/comm`, "utf8").replace(/\n$/, "");
  const cgroupText = readOptional(`${procRoot}/${pid}/cgroup`);
  // mountinfo only matters when every cgroup path is "/" (a cgroup namespace): read it only then.
  const allRoot = cgroupText.split("\n").every((l) => l === "" || l.endsWith(":/"));
  return identifyTexts({ cgroupText, mountinfoText: allRoot ? readOptional(`${procRoot}/${pid}/mountinfo`) : undefined, processName, subject: `PID ${pid}` }, groups);
}

/** The same decision for texts captured elsewhere (`identify --cgroup FILE`). */
export function identifyTexts(
  input: { cgroupText: string; mountinfoText?: string; processName: string; subject: string },
  groups: Groups,
): IdentifyReport {
  const memberGroups = groups.map((g) => ({ name: g.name, members: [...g.members] }));
  return buildIdentifyReport({ ...input, groups: memberGroups }, (id) => findNameSources(id));
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
