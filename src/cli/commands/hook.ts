import { defineCommand } from "citty";

export default defineCommand({
  meta: {
    name: "hook",
    description:
      "Run one action-script call by hand, as CRIU would (CRIU itself runs the binary with CRTOOLS_SCRIPT_ACTION and no arguments). Exit 0: go on; 1: abort",
  },
  args: {
    action: { type: "string", alias: "a", required: true, description: "CRIU hook name, e.g. pre-dump, post-dump, pre-restore" },
    "images-dir": { type: "string", alias: "D", description: "Images directory (default: current directory)" },
    pid: { type: "string", alias: "p", description: "Root PID of the dumped tree (CRTOOLS_INIT_PID)" },
    config: { type: "string", alias: "c", description: "Configuration file" },
  },
  async run({ args }) {
    const { runHook } = await import("../../hook/run.ts");
    const env: Record<string, string | undefined> = { ...process.env, CRTOOLS_SCRIPT_ACTION: args.action };
    if (args["images-dir"]) env.CRTOOLS_IMAGE_DIR = args["images-dir"];
    if (args.pid) env.CRTOOLS_INIT_PID = args.pid;
    if (args.config) env.CRIU_COORDINATOR_CONFIG = args.config;
    process.exit(await runHook(env));
  },
});
