import { defineCommand } from "citty";
import { PROTOCOL_VERSION } from "../../protocol/messages.ts";
import { request } from "../../hook/client.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

export default defineCommand({
  meta: { name: "abort", description: "Abort a group's operation in flight: every waiting hook call fails, so CRIU resumes the processes" },
  args: {
    group: { type: "positional", required: true, description: "Group name" },
    reason: { type: "string", description: "Reason shown in CRIU's logs", default: "aborted by an operator" },
    ...configArg,
  },
  async run({ args }) {
    const config = loadOrExit(args.config);
    try {
      const res = await request(config.daemon.socket, { v: PROTOCOL_VERSION, type: "abort", group: args.group, reason: args.reason }, 5000);
      if (res.type !== "result") fail(res.type === "error" ? res.message : "unexpected answer");
      console.log(res.message);
      process.exit(res.ok ? 0 : 1);
    } catch (e) {
      fail(`${(e as Error).message} (is the daemon running?)`);
    }
  },
});
