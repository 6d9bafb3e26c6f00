import { defineCommand } from "citty";
import { readFileSync } from "node:fs";
import { identifyJson, renderIdentifyText } from "../../identity/explain.ts";
import { identifyProcess, identifyTexts } from "../../identity/resolve.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

export default defineCommand({
  meta: {
    name: "identify",
    description:
      "Show what a hook call would decide for a process: its container ID, names and the member it matches, and why (which cgroup line and rule)",
  },
  args: {
    pid: { type: "positional", required: false, description: "PID on this host (as CRTOOLS_INIT_PID)" },
    cgroup: { type: "string", description: "Use a /proc/<pid>/cgroup file captured elsewhere instead of a PID" },
    mountinfo: { type: "string", description: "With --cgroup: the matching /proc/<pid>/mountinfo" },
    comm: { type: "string", description: "With --cgroup: the process name (comm)", default: "" },
    json: { type: "boolean", description: "Print one JSON object: id (64-hex or null), participant, group, rule, line, names, explanation" },
    ...configArg,
  },
  run({ args }) {
    const config = loadOrExit(args.config);
    let report;
    if (args.cgroup) {
      const read = (f: string) => {
        try {
          return readFileSync(f, "utf8");
        } catch (e) {
          fail(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
        }
      };
      report = identifyTexts(
        { cgroupText: read(args.cgroup), mountinfoText: args.mountinfo ? read(args.mountinfo) : undefined, processName: args.comm ?? "", subject: `cgroup file ${args.cgroup}` },
        config.groups,
      );
    } else {
      const pid = Number(args.pid);
      if (!Number.isInteger(pid) || pid <= 0) fail("give a PID, or --cgroup FILE (see --help)", 2);
      try {
        report = identifyProcess(pid, config.groups);
      } catch (e) {
        fail(`cannot read /proc/${pid}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    console.log(args.json ? JSON.stringify(identifyJson(report), null, 2) : renderIdentifyText(report));
  },
});
