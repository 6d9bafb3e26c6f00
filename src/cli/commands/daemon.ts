import { defineCommand } from "citty";
import { Daemon } from "../../daemon/daemon.ts";
import { createLogger } from "../../daemon/logger.ts";
import { ListenFdsError, parseListenFds, pickListenFd, unsetListenEnv } from "../../systemd/listen-fds.ts";
import { sdNotify, startWatchdog } from "../../systemd/notify.ts";
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
    // Under systemd the hook socket comes from criu-coordinatord.socket (named "hook").
    let listenFd: number | undefined;
    try {
      listenFd = pickListenFd(parseListenFds(process.env, process.pid), "hook");
    } catch (e) {
      log.error(e instanceof ListenFdsError ? `Bad socket activation environment: ${e.message}` : (e as Error).message);
      process.exit(1);
    }
    unsetListenEnv(process.env);
    let lastStatus = "";
    const daemon: Daemon = new Daemon({
      config,
      log,
      ...(listenFd !== undefined ? { listenFd } : {}),
      onChange: () => {
        const status = daemon.summary();
        if (status !== lastStatus) sdNotify(`STATUS=${(lastStatus = status)}`);
      },
    });
    try {
      await daemon.start();
    } catch (e) {
      log.error((e as Error).message);
      sdNotify(`STATUS=Failed to start: ${(e as Error).message}`);
      process.exit(1);
    }
    sdNotify(`READY=1\nSTATUS=${(lastStatus = daemon.summary())}`);
    const stopWatchdog = startWatchdog();
    const shutdown = (signal: string) => {
      log.info(`${signal}: stopping; operations in flight are aborted`);
      sdNotify(`STOPPING=1\nSTATUS=Stopping (${signal}): operations in flight are aborted`);
      stopWatchdog();
      // Give the aborted hook calls (and peers) their answers before the process ends.
      const done = daemon.stop(`the coordinator daemon is stopping (${signal})`).catch((e) => log.error(`stopping: ${(e as Error).message}`));
      Promise.race([done, Bun.sleep(2000)]).then(() => setTimeout(() => process.exit(0), 50));
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
  },
});
