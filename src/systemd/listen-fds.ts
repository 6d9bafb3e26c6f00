/**
 * systemd socket activation (sd_listen_fds(3)): which inherited fds are ours and what they are
 * called. Pure: takes the environment and our pid, returns fd numbers; no fd is touched here.
 *
 * Decisions:
 * - "Not for us" is not an error: LISTEN_PID or LISTEN_FDS unset, or LISTEN_PID naming another
 *   process (a child that inherited the environment) → empty list, the daemon binds itself.
 * - Present but malformed values are a unit or systemd bug and throw ListenFdsError: silently
 *   binding the path instead would race systemd, which still holds the socket.
 * - LISTEN_FDNAMES unset → every fd is called "unknown", as sd_listen_fds_with_names(3) does.
 *   A name count that differs from LISTEN_FDS throws (systemd returns -EINVAL there too).
 */

/** The first passed fd; 0-2 are stdio (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** Sanity bound on LISTEN_FDS; systemd itself caps a unit far below this. */
const MAX_FDS = 4096;

export interface ListenFd {
  readonly fd: number;
  readonly name: string;
}

export class ListenFdsError extends Error {
  override readonly name = "ListenFdsError";
}

/** The fds systemd passed to process `pid`, in order, with their FileDescriptorName= names. */
export function parseListenFds(env: Record<string, string | undefined>, pid: number): ListenFd[] {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  if (listenPid === undefined || listenFds === undefined) return [];
  if (!/^[1-9][0-9]*$/.test(listenPid)) throw new ListenFdsError(`Invalid LISTEN_PID: expected a pid, got "${listenPid}"`);
  if (Number(listenPid) !== pid) return [];
  if (!/^[0-9]+$/.test(listenFds) || Number(listenFds) > MAX_FDS) {
    throw new ListenFdsError(`Invalid LISTEN_FDS: expected a count from 0 to ${MAX_FDS}, got "${listenFds}"`);
  }
  const count = Number(listenFds);
  const names = env.LISTEN_FDNAMES === undefined ? Array<string>(count).fill("unknown") : env.LISTEN_FDNAMES.split(":");
  if (count === 0) return [];
  if (names.length !== count) {
    throw new ListenFdsError(`Invalid LISTEN_FDNAMES: expected ${count} names separated by ":", got ${names.length} in "${env.LISTEN_FDNAMES}"`);
  }
  return names.map((name, i) => ({ fd: LISTEN_FDS_START + i, name }));
}

/**
 * The fd named `name`; or, when systemd passed exactly one fd and named none ("unknown", e.g. an
 * old unit without FileDescriptorName=), that fd. Undefined when there is no match.
 */
export function pickListenFd(fds: readonly ListenFd[], name: string): number | undefined {
  const named = fds.find((f) => f.name === name);
  if (named) return named.fd;
  if (fds.length === 1 && fds[0]!.name === "unknown") return fds[0]!.fd;
  return undefined;
}

/** Removes the activation variables so processes we spawn do not think the fds are theirs. */
export function unsetListenEnv(env: Record<string, string | undefined>): void {
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
}
