/** The command line: `criu-coordinator <command>`. Subcommands load lazily. */
import { defineCommand, runMain } from "citty";
import { VERSION } from "../version.ts";

const main = defineCommand({
  meta: {
    name: "criu-coordinator",
    version: VERSION,
    description:
      "Coordinated checkpoint/restore of distributed applications with CRIU. The same binary is the per-node daemon and CRIU's action-script (CRIU runs it with CRTOOLS_SCRIPT_ACTION set).",
  },
  subCommands: {
    daemon: () => import("./commands/daemon.ts").then((m) => m.default),
    hook: () => import("./commands/hook.ts").then((m) => m.default),
    status: () => import("./commands/status.ts").then((m) => m.default),
    abort: () => import("./commands/abort.ts").then((m) => m.default),
    checkpoint: () => import("./commands/checkpoint.ts").then((m) => m.default),
    restore: () => import("./commands/restore.ts").then((m) => m.default),
    operations: () => import("./commands/operations.ts").then((m) => m.default),
    config: () => import("./commands/config.ts").then((m) => m.default),
    identify: () => import("./commands/identify.ts").then((m) => m.default),
    keygen: () => import("./commands/keygen.ts").then((m) => m.default),
    // The reference criu-coordinator's command forms (aliases c and s), for scripts that call it.
    client: () => import("./commands/client.ts").then((m) => m.default),
    server: () => import("./commands/server.ts").then((m) => m.default),
  },
});

export async function runCli(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runMain(main, { rawArgs: argv });
}
