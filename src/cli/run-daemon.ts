/**
 * `criu-coordinator daemon`, without citty: main.ts calls this directly for the plain forms of
 * the command, because a long-running daemon would otherwise keep citty and what it pulls in
 * (about 8 MB of resident memory, bench/scale.ts). `daemon --help` and anything unusual still go
 * through citty (commands/daemon.ts), which defines the same options.
 */
import { Daemon } from "../daemon/daemon.ts";
import { reexecWithBaselineJit } from "../daemon/baseline-jit.ts";
import { createLogger } from "../daemon/logger.ts";
import { ListenFdsError, parseListenFds, pickListenFd, unsetListenEnv } from "../systemd/listen-fds.ts";
import { prepareNotify, sdNotify, startWatchdog } from "../systemd/notify.ts";
import { loadOrExit } from "./shared.ts";

export interface DaemonArgs {
  config?: string | undefined;
  "log-level"?: string | undefined;
}

/**
 * The arguments after `daemon` when they are only --config/-c and --log-level (as `--opt value`
 * or `--opt=value`), each at most once; undefined for anything else, which citty then handles.
 */
export function parsePlainDaemonArgs(argv: readonly string[]): DaemonArgs | undefined {
  const out: DaemonArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const flag = eq > 0 && arg.startsWith("--") ? arg.slice(0, eq) : arg;
    const key = flag === "--config" || flag === "-c" ? "config" : flag === "--log-level" ? "log-level" : undefined;
    if (key === undefined || out[key] !== undefined) return undefined;
    const value = flag === arg ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === "" || (flag === arg && value.startsWith("-"))) return undefined;
    out[key] = value;
  }
  return out;
}

export async function runDaemon(args: DaemonArgs): Promise<void> {
  // First, before the configuration is parsed: see daemon/baseline-jit.ts.
  const jitNote = await reexecWithBaselineJit();
  const config = loadOrExit(args.config);
  const level = (args["log-level"] ?? config.daemon.logLevel) as "error" | "warn" | "info" | "debug";
  if (!["error", "warn", "info", "debug"].includes(level)) {
    console.error(`criu-coordinator: --log-level must be error, warn, info or debug, got "${level}"`);
    process.exit(2);
  }
  const log = createLogger(level);
  if (jitNote) log.warn(jitNote);
  // Under systemd the hook socket comes from criu-coordinatord.socket (named "hook").
  let listenFd: number | undefined;
  try {
    listenFd = pickListenFd(parseListenFds(process.env, process.pid), "hook");
  } catch (e) {
    log.error(e instanceof ListenFdsError ? `Bad socket activation environment: ${e.message}` : (e as Error).message);
    process.exit(1);
  }
  unsetListenEnv(process.env);
  await prepareNotify();
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
}
