/**
 * /proc/<pid>/cgroup text (+ optional mountinfo) → which container the process belongs to, and why.
 * Pure: no file access. The algorithm is the one in shared/notes/container-ids.md, section 4:
 *
 *   1. lines `N:controllers:path`, split on the first two colons only (paths may contain `:`);
 *   2. each path is classified by its deepest recognised component (cgroup-path.ts);
 *   3. a monitor on any line (conmon, lxc.monitor) means "not a container": the payload is never
 *      inside a monitor's cgroup;
 *   4. 64-hex IDs vote per line; most lines win; a tie is broken in favour of a v1 controller line
 *      (on hybrid hosts the `0::` line may lag behind, e.g. the shim's service or an outer DinD
 *      container); a tie that remains is a conflict, reported with no ID rather than a guess;
 *   5. no hex ID: names of LXC/nspawn/Fargate containers, by the same vote;
 *   6. every path is `/` (the reader is inside the target's cgroup namespace): mountinfo fallback.
 */
import { classifyCgroupPath, type PathFinding } from "./cgroup-path.ts";
import { bindMountIds, cgroupMountRoots, parseMountinfo } from "./mountinfo.ts";

export type CgroupIdentity = {
  /** 64-hex container ID, or null when none was found. */
  id: string | null;
  /** "docker" | "podman" | "containerd" | "crio" | "lxc" | "nspawn" | "kubernetes" | … or null. */
  runtime: string | null;
  /** Short name of the rule that decided (see RULES in explain output and the tests). */
  rule: string;
  /** 1-based line of the cgroup text that decided, null if none did (e.g. mountinfo fallback). */
  line: number | null;
  /** Human-readable lines explaining the decision. */
  explanation: string[];
  /** Container name for runtimes without a 64-hex ID (LXC name, nspawn machine, Fargate task). */
  name?: string;
};

export type CgroupLine = { line: number; hierarchy: string; controllers: string; path: string };

type Hit = { line: CgroupLine; finding: PathFinding };

/** Parses `N:controllers:path` lines; anything else (blank, garbage) is skipped. */
export function parseCgroupLines(text: string): CgroupLine[] {
  const lines: CgroupLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const m = /^(\d+):([^:]*):(.*)$/.exec(raw.trim());
    if (m === null) return;
    // A removed cgroup is shown with a " (deleted)" suffix; the path before it still counts.
    const path = (m[3] ?? "").replace(/ \(deleted\)$/, "");
    lines.push({ line: i + 1, hierarchy: m[1] ?? "", controllers: m[2] ?? "", path });
  });
  return lines;
}

function label(l: CgroupLine): string {
  const ctl = l.hierarchy === "0" ? "cgroup v2" : l.controllers || "unnamed";
  return `line ${l.line} (${ctl})`;
}

function describe(hit: Hit): string {
  const f = hit.finding;
  switch (f.kind) {
    case "id":
      return `${label(hit.line)}: component "${f.component}" holds the ID (rule ${f.rule}, runtime ${f.runtime ?? "unknown"})`;
    case "monitor":
      return `${label(hit.line)}: component "${f.component}" is a ${f.runtime} monitor, not a container`;
    case "named":
      return `${label(hit.line)}: component "${f.component}" is ${f.runtime} container "${f.name}" (rule ${f.rule})`;
    case "none":
      return `${label(hit.line)}: "${hit.line.path}" names no container`;
  }
}

/** Picks the key most lines agree on; ties go to a key seen on a v1 line; else null (conflict). */
function vote(hits: Hit[], keyOf: (h: Hit) => string): { winner: Hit; count: number } | null {
  const groups = new Map<string, Hit[]>();
  for (const h of hits) groups.set(keyOf(h), [...(groups.get(keyOf(h)) ?? []), h]);
  const ranked = [...groups.values()]
    .map((hs) => ({ hs, count: hs.length, v1: hs.some((h) => h.line.hierarchy !== "0") }))
    .sort((a, b) => b.count - a.count || Number(b.v1) - Number(a.v1));
  const [best, next] = ranked;
  if (best === undefined) return null;
  if (next !== undefined && next.count === best.count && next.v1 === best.v1) return null;
  // Report the first v1 line carrying the winner when there is one (it is what won a tie).
  const winner = best.hs.find((h) => h.line.hierarchy !== "0") ?? best.hs[0];
  return winner === undefined ? null : { winner, count: best.count };
}

function result(rule: string, explanation: string[], rest: Partial<CgroupIdentity> = {}): CgroupIdentity {
  return { id: null, runtime: null, line: null, ...rest, rule, explanation };
}

/** Fallback for the all-root case: cgroup mount roots first, then bind-mount sources. */
function fromMountinfo(mountinfoText: string, why: string[]): CgroupIdentity {
  const mounts = parseMountinfo(mountinfoText);
  for (const m of cgroupMountRoots(mounts)) {
    const f = classifyCgroupPath(m.root);
    if (f.kind === "id") {
      why.push(`mountinfo line ${m.line}: cgroup mount root "${m.root}" names container ${f.id}`);
      return result("mountinfo-cgroup-root", why, { id: f.id, runtime: f.runtime });
    }
  }
  const [best, ...others] = bindMountIds(mounts);
  if (best === undefined) {
    why.push("mountinfo: no cgroup mount root or bind-mount source names a container");
    return result("cgroupns-root", why);
  }
  why.push(`mountinfo line ${best.line}: ${best.mountPoint} is bind-mounted from "${best.root}"`);
  if (best.rule === "mountinfo-sandbox") why.push("this is the pod sandbox ID, not the container's own ID");
  const disagree = others.filter((o) => o.id !== best.id);
  if (disagree.length > 0) why.push(`other bind mounts name ${[...new Set(disagree.map((o) => o.id))].join(", ")}: ignored`);
  return result(best.rule, why, { id: best.id, runtime: best.runtime });
}

/**
 * Decides the container identity of a process from its /proc/<pid>/cgroup text. `mountinfoText`
 * (the same process's /proc/<pid>/mountinfo) is used only when every cgroup path is `/`.
 */
export function parseCgroupIdentity(cgroupText: string, mountinfoText?: string): CgroupIdentity {
  const lines = parseCgroupLines(cgroupText);
  if (lines.length === 0) return result("empty", ["the cgroup text has no line of the form N:controllers:path"]);
  const hits = lines.map((line) => ({ line, finding: classifyCgroupPath(line.path) }));

  const monitor = hits.find((h) => h.finding.kind === "monitor");
  if (monitor !== undefined && monitor.finding.kind === "monitor") {
    return result("monitor", [describe(monitor), "a container monitor is never the checkpointed process"], {
      runtime: monitor.finding.runtime,
      line: monitor.line.line,
    });
  }

  const idHits = hits.filter((h) => h.finding.kind === "id");
  if (idHits.length > 0) {
    const won = vote(idHits, (h) => (h.finding.kind === "id" ? h.finding.id : ""));
    const ids = [...new Set(idHits.map((h) => (h.finding.kind === "id" ? h.finding.id : "")))];
    if (won === null || won.winner.finding.kind !== "id") {
      return result("conflict", [...idHits.map(describe), `lines disagree (${ids.join(", ")}) with no majority: no ID chosen`]);
    }
    const f = won.winner.finding;
    const why = [describe(won.winner), `${won.count} of ${lines.length} lines name this ID`];
    if (ids.length > 1) why.push(`lines disagree; ${f.id} wins by majority or by a v1 controller line`);
    return result(f.rule, why, { id: f.id, runtime: f.runtime, line: won.winner.line.line });
  }

  const namedHits = hits.filter((h) => h.finding.kind === "named");
  if (namedHits.length > 0) {
    const won = vote(namedHits, (h) => (h.finding.kind === "named" ? `${h.finding.runtime}/${h.finding.name}` : ""));
    if (won === null || won.winner.finding.kind !== "named") {
      return result("conflict", [...namedHits.map(describe), "lines name different containers with no majority"]);
    }
    const f = won.winner.finding;
    const why = [describe(won.winner), `${f.runtime} containers have no 64-hex ID: identified by name "${f.name}"`];
    return result(f.rule, why, { runtime: f.runtime, line: won.winner.line.line, name: f.name });
  }

  if (lines.every((l) => l.path === "/")) {
    const why = ["every cgroup path is \"/\": the reader is inside the process's cgroup namespace"];
    if (mountinfoText === undefined) return result("cgroupns-root", [...why, "no mountinfo given for the fallback"]);
    return fromMountinfo(mountinfoText, why);
  }
  return result("none", ["no line names a container (no 64-hex ID, no LXC, nspawn or Fargate name): not a container"]);
}
