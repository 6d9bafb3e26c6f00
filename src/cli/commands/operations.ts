import { defineCommand } from "citty";
import { request } from "../../hook/client.ts";
import { operationsTable } from "../../operations/render.ts";
import { PROTOCOL_VERSION } from "../../protocol/messages.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

export default defineCommand({
  meta: { name: "operations", description: "List the checkpoints the cluster's nodes hold: state, restores, size on disk, where the images are" },
  args: {
    group: { type: "positional", required: false, description: "Only this group" },
    json: { type: "boolean", description: "Print every node's copy of each operation as JSON" },
    socket: { type: "string", description: "Daemon socket (default: from the configuration)" },
    ...configArg,
  },
  async run({ args }) {
    const socket = args.socket ?? loadOrExit(args.config).daemon.socket;
    let res;
    try {
      res = await request(socket, { v: PROTOCOL_VERSION, type: "operations", ...(args.group ? { group: args.group } : {}) }, 15_000);
    } catch (e) {
      fail(`${(e as Error).message} (is the daemon running?)`);
    }
    if (res.type !== "operations") fail(res.type === "error" ? res.message : `unexpected answer from the daemon: ${res.type}`);
    if (args.json) {
      console.log(JSON.stringify({ operations: res.operations, unreachable: res.unreachable }, null, 2));
    } else {
      console.log(res.operations.length === 0 ? "No operations." : operationsTable(res.operations).join("\n"));
      for (const u of res.unreachable) console.error(`criu-coordinator: not listed: ${u}`);
    }
    process.exit(res.unreachable.length > 0 ? 1 : 0);
  },
});
