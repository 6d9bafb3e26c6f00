import { defineCommand } from "citty";
import { parsePlacement } from "../../operations/placement.ts";
import { PROTOCOL_VERSION } from "../../protocol/messages.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";
import { runOperation } from "./checkpoint.ts";

export default defineCommand({
  meta: {
    name: "restore",
    description: "Restore every member of a group on its node (or another, with --on) from one checkpoint; refuses images of a checkpoint that did not commit everywhere",
  },
  args: {
    group: { type: "positional", required: true, description: "Group name" },
    from: { type: "string", description: "Checkpoint operation id (default: the group's newest; see `criu-coordinator operations`)" },
    on: {
      type: "string",
      description: "Restore members on other nodes: MEMBER=NODE[,MEMBER=NODE…]. Their images must be readable there at the same path (checkpoint --dir on shared storage)",
    },
    socket: { type: "string", description: "Daemon socket (default: from the configuration)" },
    ...configArg,
  },
  async run({ args }) {
    if (args.from !== undefined && !/^[A-Za-z0-9._-]{1,200}$/.test(args.from)) fail(`--from must be an operation id, got "${args.from}"`, 2);
    const placement = args.on === undefined ? undefined : parsePlacement(args.on);
    if (typeof placement === "string") fail(`--on: ${placement} (expected MEMBER=NODE[,MEMBER=NODE…])`, 2);
    const socket = args.socket ?? loadOrExit(args.config).daemon.socket;
    process.exit(await runOperation(socket, { v: PROTOCOL_VERSION, type: "restore", group: args.group, ...(args.from ? { from: args.from } : {}), ...(placement ? { placement } : {}) }));
  },
});
