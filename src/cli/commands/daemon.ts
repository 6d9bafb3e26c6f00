import { defineCommand } from "citty";
import { runDaemon } from "../run-daemon.ts";
import { configArg } from "../shared.ts";

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
  run: ({ args }) => runDaemon(args),
});
