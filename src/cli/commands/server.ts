import { defineCommand } from "citty";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceLogger } from "../../compat/file-logger.ts";
import { DEFAULT_ADDRESS, DEFAULT_PORT } from "../../compat/protocol.ts";
import type { Config } from "../../config/schema.ts";
import { Daemon } from "../../daemon/daemon.ts";
import { createLogger } from "../../daemon/logger.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

/** The reference criu-coordinator's `server` command: our daemon with the reference listener on. */
export default defineCommand({
  meta: {
    name: "server",
    alias: "s",
    description:
      "Run the daemon with a listener for the reference criu-coordinator protocol on ADDRESS:PORT (the configuration's groups, if any, apply too)",
  },
  args: {
    address: { type: "string", alias: "a", description: "Address to listen on", default: DEFAULT_ADDRESS },
    port: { type: "string", alias: "p", description: "Port to listen on", default: String(DEFAULT_PORT) },
    "wait-timeout": { type: "string", alias: "w", description: "Seconds a reference client waits for its dependencies", default: "30" },
    "log-file": { type: "string", alias: "o", description: 'Log file ("-" for standard error)', default: "-" },
    ...configArg,
  },
  async run({ args }) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port must be a number from 1 to 65535, got "${args.port}"`, 2);
    const secs = Number(args["wait-timeout"]);
    if (!Number.isFinite(secs) || secs <= 0) fail(`--wait-timeout must be a positive number of seconds, got "${args["wait-timeout"]}"`, 2);
    const host = args.address.includes(":") && !args.address.startsWith("[") ? `[${args.address}]` : args.address;
    const config = withListener(loadOrExit(args.config), `${host}:${port}`, port, secs * 1000);
    const log = args["log-file"] === "-" ? createLogger(config.daemon.logLevel) : referenceLogger(args["log-file"], ".", config.daemon.logLevel);
    const daemon = new Daemon({ config, log });
    try {
      await daemon.start();
    } catch (e) {
      log.error((e as Error).message);
      process.exit(1);
    }
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.on(signal, () => {
        log.info(`${signal}: stopping; operations in flight are aborted`);
        daemon.stop(`the coordinator server is stopping (${signal})`);
        setTimeout(() => process.exit(0), 50); // let the aborted calls get their answers
      });
    }
  },
});

/**
 * The configuration plus the listener. Without a configuration file no hook needs the local
 * socket (no groups), so it gets a path of its own per port: several servers may run, next to a
 * node's daemon, and without root (the reference server needs no privileges either).
 */
function withListener(config: Config, listen: string, port: number, waitTimeoutMs: number): Config {
  const uid = process.getuid?.() ?? 0;
  const dir = uid === 0 ? "/run/criu-coordinator" : join(tmpdir(), `criu-coordinator-${uid}`);
  const daemon = config.source === "embedded default" ? { ...config.daemon, socket: join(dir, `reference-${port}.sock`) } : config.daemon;
  return { ...config, daemon, compat: { listen, waitTimeoutMs } };
}
