/**
 * Starting test workloads inside a node.
 *
 * `nsenter --net=/run/netns/X setsid PROG`: nsenter only switches the netns (not `ip netns exec`,
 * which also makes a new mount namespace that CRIU cannot dump), and setsid makes the workload a
 * session leader so CRIU can dump it without --shell-job. Spawned from the test runner (not a
 * process group leader), neither nsenter nor setsid forks, so the spawned PID is the workload's,
 * and the runner is its parent: after a kill-mode dump the runner reaps it at once, instead of
 * PID 1 taking 1-2 s (the restore needs the PID free). A *restored* workload is re-parented to
 * PID 1, so a second dump of it does need `waitReaped()`.
 */
import { basename } from "node:path";
import type { Node } from "./netns.ts";
import { procComm, procSid, waitFor } from "./proc.ts";

/** A process started inside a node. */
export interface Workload {
  /** Expected comm: the basename of the executed path (truncated to 15 chars by the kernel). */
  comm: string;
  pid: number;
  node: Node;
}

/**
 * Starts `argv` inside `node` and waits until it has exec'd (its comm is the basename of argv[0]).
 * stdin/stdout/stderr are /dev/null.
 */
export async function startInNode(
  node: Node,
  argv: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<{ workload: Workload; proc: Bun.Subprocess }> {
  const comm = basename(argv[0] ?? "").slice(0, 15);
  const proc = Bun.spawn(["nsenter", `--net=${node.netnsPath}`, "setsid", ...argv], {
    stdio: ["ignore", "ignore", "ignore"],
    env: { ...process.env, ...opts.env },
  });
  proc.unref();
  const pid = proc.pid;
  await waitFor(`${comm} to start in ${node.netns}`, () => procComm(pid) === comm, {
    timeoutMs: 5_000,
    state: () => `comm=${procComm(pid)} exit=${proc.exitCode}`,
  });
  if (procSid(pid) !== pid) {
    throw new Error(`Started ${comm} is not a session leader: pid ${pid}, sid ${procSid(pid)}`);
  }
  return { workload: { comm, pid, node }, proc };
}
