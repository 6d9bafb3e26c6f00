import { defineCommand } from "citty";
import { Daemon } from "../../daemon/daemon.ts";
import { createLogger } from "../../daemon/logger.ts";
import { configArg, loadOrExit } from "../shared.ts";

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
  async run({ args }) {
    const config = loadOrExit(args.config);
    const level = (args["log-level"] ?? config.daemon.logLevel) as "error" | "warn" | "info" | "debug";
    if (!["error", "warn", "info", "debug"].includes(level)) {
      console.error(`criu-coordinator: --log-level must be error, warn, info or debug, got "${level}"`);
      process.exit(2);
    }
    const log = createLogger(level);
    const daemon = new Daemon({ config, log });
    try {
      await daemon.start();
    } catch (e) {
      log.error((e as Error).message);
      process.exit(1);
    }
    const shutdown = (signal: string) => {
      log.info(`${signal}: stopping; operations in flight are aborted`);
      // Give the aborted hook calls (and peers) their answers before the process ends.
      const done = daemon.stop(`the coordinator daemon is stopping (${signal})`).catch((e) => log.error(`stopping: ${(e as Error).message}`));
      Promise.race([done, Bun.sleep(2000)]).then(() => setTimeout(() => process.exit(0), 50));
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
  },
});
