export {};
/**
 * Entry point of the single binary. The role is decided before anything heavy is loaded: CRIU
 * runs us as its action-script with CRTOOLS_SCRIPT_ACTION set and no arguments, and that path must
 * start fast. The daemon's plain forms skip citty, whose cost a months-long process would carry
 * (cli/run-daemon.ts). Everything else is the CLI (citty), loaded only when needed.
 */
if (process.env.CRTOOLS_SCRIPT_ACTION) {
  const { runHook } = await import("./hook/run.ts");
  process.exit(await runHook(process.env));
} else {
  const daemon = process.argv[2] === "daemon" ? await import("./cli/run-daemon.ts") : undefined;
  const plain = daemon?.parsePlainDaemonArgs(process.argv.slice(3));
  if (daemon && plain) {
    await daemon.runDaemon(plain);
  } else {
    // citty colours its help unless told otherwise; pipes, logs and generated docs want plain text.
    const { isatty } = await import("node:tty");
    if (!isatty(1)) process.env.NO_COLOR ??= "1";
    const { runCli } = await import("./cli/main.ts");
    await runCli();
  }
}
