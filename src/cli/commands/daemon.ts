import { defineCommand } from "citty";
import { parsePlainDaemonArgs, runDaemon } from "../run-daemon.ts";
import { configArg, fail } from "../shared.ts";

// The plain forms (`daemon`, `--config F`, `--log-level L`) skip citty: see ../run-daemon.ts.
export default defineCommand({
  meta: {
    name: "daemon",
    description:
      "Run the per-node daemon: holds each participant's hook call until its dependencies reach the same hook. Started by systemd (criu-coordinatord.socket) or by hand",
  },
  args: {
    ...configArg,
    "log-level": { type: "string", description: "error, warn, info or debug (default: daemon.log_level, else info)" },
  },
  // main.ts runs the plain forms itself; what reaches citty's run is anything else (an unknown
  // option, a stray argument, an option without its value), which a daemon must not ignore.
  run: ({ rawArgs }) => {
    const plain = parsePlainDaemonArgs(rawArgs);
    if (!plain) fail(`daemon: unexpected arguments "${rawArgs.join(" ")}"; usage: criu-coordinator daemon [--config FILE] [--log-level error|warn|info|debug]`, 2);
    return runDaemon(plain);
  },
});
