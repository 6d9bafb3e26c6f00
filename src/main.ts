export {};
/**
 * Entry point of the single binary. The role is decided before anything heavy is loaded: CRIU
 * runs us as its action-script with CRTOOLS_SCRIPT_ACTION set and no arguments, and that path must
 * start fast. Everything else is the CLI (citty), loaded only when needed.
 */
if (process.env.CRTOOLS_SCRIPT_ACTION) {
  const { runHook } = await import("./hook/run.ts");
  process.exit(await runHook(process.env));
} else {
  // citty colours its help unless told otherwise; pipes, logs and generated docs want plain text.
  // Not for the daemon: node:tty costs a long-running process about 6 MB, and it prints no help.
  if (process.argv[2] !== "daemon") {
    const { isatty } = await import("node:tty");
    if (!isatty(1)) process.env.NO_COLOR ??= "1";
  }
  const { runCli } = await import("./cli/main.ts");
  await runCli();
}
