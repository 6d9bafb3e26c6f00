/**
 * What `criu-coordinator identify PID` and `identify --cgroup FILE [--mountinfo FILE] [--json]`
 * print. Pure: the CLI reads the files (or /proc/<pid>/…), passes the texts and a name resolver in,
 * and prints renderIdentifyText() or JSON.stringify(identifyJson()).
 */
import { parseCgroupIdentity, type CgroupIdentity } from "./cgroup.ts";
import { matchMember, type MatchResult, type MemberGroup } from "./match.ts";
import type { NameSource } from "./names.ts";

export type IdentifyInput = {
  cgroupText: string;
  mountinfoText?: string;
  /** comm of the process; "" when only files were given. */
  processName: string;
  groups: MemberGroup[];
  /** Where the texts came from, for the header: "PID 1234" or "cgroup file ./bug.txt". */
  subject: string;
};

export type IdentifyReport = {
  subject: string;
  identity: CgroupIdentity;
  names: string[];
  nameSources: NameSource[];
  processName: string;
  match: MatchResult;
};

/** The `--json` object. `participant` is the matched member, null when none or ambiguous. */
export type IdentifyJson = {
  id: string | null;
  participant: string | null;
  group: string | null;
  via: string | null;
  error: string | null;
  runtime: string | null;
  rule: string;
  line: number | null;
  names: string[];
  processName: string;
  explanation: string[];
};

/** Longest explanation shown in text form, so `identify` stays within one screen. */
const MAX_EXPLANATION_LINES = 12;

/**
 * Decides identity, names and member for one process. `findNames` is names.ts's findNameSources
 * bound to the host's roots (or a stub in tests and for files from another host).
 */
export function buildIdentifyReport(input: IdentifyInput, findNames: (id: string) => NameSource[]): IdentifyReport {
  const identity = parseCgroupIdentity(input.cgroupText, input.mountinfoText);
  const nameSources = identity.id === null ? [] : findNames(identity.id);
  // LXC, nspawn and Fargate containers are known by the name the cgroup path carries.
  const names = [...new Set([...(identity.name === undefined ? [] : [identity.name]), ...nameSources.flatMap((s) => s.names)])];
  const match = matchMember({ containerId: identity.id, names, processName: input.processName }, input.groups);
  return { subject: input.subject, identity, names, nameSources, processName: input.processName, match };
}

export function identifyJson(r: IdentifyReport): IdentifyJson {
  const m = r.match;
  return {
    id: r.identity.id,
    participant: m.kind === "member" ? m.member : null,
    group: m.kind === "member" ? m.group : null,
    via: m.kind === "member" ? m.via : null,
    error: m.kind === "error" ? m.message : null,
    runtime: r.identity.runtime,
    rule: r.identity.rule,
    line: r.identity.line,
    names: r.names,
    processName: r.processName,
    explanation: r.identity.explanation,
  };
}

function participantLine(m: MatchResult, r: IdentifyReport): string {
  switch (m.kind) {
    case "member":
      return `"${m.member}" in group "${m.group}" (matched by ${m.via})`;
    case "error":
      return `ambiguous: ${m.message}`;
    case "none": {
      const tried = [r.identity.id === null ? [] : ["container ID"], r.names.length === 0 ? [] : ["names"], r.processName === "" ? [] : ["process name"]].flat();
      return `none (no member matches the ${tried.length === 0 ? "process" : tried.join(", ")})`;
    }
  }
}

/** The human text: at most about 20 lines. */
export function renderIdentifyText(r: IdentifyReport): string {
  const id = r.identity;
  const container =
    id.id !== null ? `${id.id}${id.runtime === null ? "" : ` (${id.runtime})`}`
    : id.name !== undefined ? `no 64-hex ID; ${id.runtime ?? "container"} named "${id.name}"`
    : "none found";
  const shown = id.explanation.slice(0, MAX_EXPLANATION_LINES);
  const hidden = id.explanation.length - shown.length;
  const names =
    r.names.length === 0 ? ["(none)"]
    : r.nameSources.length === 0 ? [r.names.join(", ")]
    : r.nameSources.map((s) => `${s.names.join(", ")}  (from ${s.path})`);
  const out = [
    `Subject:      ${r.subject}${r.processName === "" ? "" : `, process name "${r.processName}"`}`,
    `Container:    ${container}`,
    `Decided by:   rule ${id.rule}${id.line === null ? "" : ` at cgroup line ${id.line}`}`,
    ...shown.map((l) => `  ${l}`),
    ...(hidden > 0 ? [`  … ${hidden} more line(s), see --json`] : []),
    `Names:        ${names[0] ?? ""}`,
    ...names.slice(1).map((n) => `              ${n}`),
    `Participant:  ${participantLine(r.match, r)}`,
  ];
  return `${out.join("\n")}\n`;
}
