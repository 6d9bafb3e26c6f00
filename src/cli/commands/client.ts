import { defineCommand } from "citty";
import { referenceLogger } from "../../compat/file-logger.ts";
import { DEFAULT_ADDRESS, DEFAULT_PORT, encodeReferenceRequest, parseDependencies, TOKENS } from "../../compat/protocol.ts";
import { ReferenceUnreachable, sendReferenceRequest } from "../../compat/reference-client.ts";
import { fail } from "../shared.ts";

/** The reference criu-coordinator's `client` command, so scripts that call it keep working. */
export default defineCommand({
  meta: {
    name: "client",
    alias: "c",
    description:
      "Send one request in the reference criu-coordinator protocol and print the reply (exit 0 on ACK, else 1; also 1 when the server is unreachable, where the reference exits 0)",
  },
  args: {
    address: { type: "string", description: "Server address", default: DEFAULT_ADDRESS },
    port: { type: "string", description: "Server port", default: String(DEFAULT_PORT) },
    id: { type: "string", alias: "i", required: true, description: "Unique client ID" },
    deps: { type: "string", alias: "d", required: true, description: 'Colon-separated dependency IDs ("" for none, or the kubescr map)' },
    action: { type: "string", alias: "a", description: "Action (CRIU hook name)", default: "pre-dump" },
    "images-dir": { type: "string", alias: "D", description: "Images directory: where a relative --log-file goes", default: "." },
    stream: { type: "boolean", alias: "s", description: "Accepted for compatibility; streaming is not supported" },
    "log-file": { type: "string", alias: "o", description: 'Log file ("-" for standard output)', default: "-" },
  },
  async run({ args }) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port must be a number from 1 to 65535, got "${args.port}"`, 2);
    const deps = parseDependencies(args.deps);
    if (typeof deps === "string") fail(deps, 2);
    const log = referenceLogger(args["log-file"], args["images-dir"]);
    if (args.stream) log.warn("--stream is not supported; sending a plain request");
    let reply: string;
    try {
      reply = await sendReferenceRequest(args.address, port, encodeReferenceRequest(args.id, args.action, deps));
    } catch (e) {
      if (!(e instanceof ReferenceUnreachable)) throw e;
      log.error(e.message);
      fail(`${e.message}: not coordinated`);
    }
    log.info(`${args.id} at ${args.action}: ${reply || "connection closed without a reply"}`);
    if (args["log-file"] !== "-") console.log(reply);
    process.exit(reply === TOKENS.ack ? 0 : 1);
  },
});
