import { defineCommand } from "citty";
import { request } from "../../hook/client.ts";
import { headline, progressLines, progressTable, summary } from "../../operations/render.ts";
import type { OperationSnapshot } from "../../operations/types.ts";
import { PROTOCOL_VERSION, type Request } from "../../protocol/messages.ts";
import { keyOf } from "../../util/change-signal.ts";
import { configArg, fail, loadOrExit } from "../shared.ts";

export default defineCommand({
  meta: {
    name: "checkpoint",
    description: "Checkpoint every member of a group on its node at one consistent cut; exit 0 only if every member committed",
  },
  args: {
    group: { type: "positional", required: true, description: "Group name" },
    "leave-running": { type: "boolean", description: "Keep the processes running after the dump (criu dump --leave-running)" },
    dir: { type: "string", description: "Images directory on every node (default: /var/lib/criu-coordinator/operations/<operation id>); one subdirectory per member" },
    socket: { type: "string", description: "Daemon socket (default: from the configuration)" },
    ...configArg,
  },
  async run({ args }) {
    if (args.dir !== undefined && !args.dir.startsWith("/")) fail(`--dir must be an absolute path, got "${args.dir}"`, 2);
    const socket = args.socket ?? loadOrExit(args.config).daemon.socket;
    const req: Request = { v: PROTOCOL_VERSION, type: "checkpoint", group: args.group, leaveRunning: args["leave-running"] ?? false, ...(args.dir ? { dir: args.dir } : {}) };
    process.exit(await runOperation(socket, req));
  },
});

/** Starts the operation, shows its progress until it ends, prints the outcome; the exit code. */
export async function runOperation(socket: string, req: Request): Promise<number> {
  let snap = await ask(socket, req);
  console.log(headline(snap));
  const tty = process.stdout.isTTY === true;
  let drawn = 0;
  let prev: OperationSnapshot | undefined;
  for (;;) {
    if (tty) {
      // Redraw the table in place: move up over the last one and clear below.
      const lines = progressTable(snap);
      process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}A\x1b[J` : ""}${lines.join("\n")}\n`);
      drawn = lines.length;
    } else {
      for (const l of progressLines(prev, snap)) console.log(l);
    }
    if (snap.state !== "running") break;
    prev = snap;
    // A long poll: the daemon answers when the operation's progress changes.
    snap = await ask(socket, { v: PROTOCOL_VERSION, type: "operation", id: snap.id, after: keyOf(snap) });
  }
  for (const l of summary(snap)) console.log(l);
  return snap.state === "committed" ? 0 : 1;
}

async function ask(socket: string, req: Request): Promise<OperationSnapshot> {
  try {
    const res = await request(socket, req, 30_000);
    if (res.type === "operation") return res.operation;
    fail(res.type === "error" ? res.message : `unexpected answer from the daemon: ${res.type}`);
  } catch (e) {
    fail(`${(e as Error).message} (is the daemon running?)`);
  }
}
