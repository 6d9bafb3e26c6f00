/**
 * sd_notify(3) for Bun: READY=1, STATUS=…, STOPPING=1, WATCHDOG=1 to $NOTIFY_SOCKET.
 *
 * NOTIFY_SOCKET is an AF_UNIX *datagram* socket (a path, or "@name" for the abstract namespace).
 * Neither node:dgram nor Bun's sockets can send to one, so this calls libc through bun:ffi: one
 * socket(AF_UNIX, SOCK_DGRAM) + sendto() per message. The sender is this process, so
 * NotifyAccess=main works (systemd-notify would send as its own pid). Measured in
 * notes/bun-toolchain.md §4. glibc only ("libc.so.6"); on any failure sdNotify returns false.
 *
 * bun:ffi is loaded by prepareNotify() only when NOTIFY_SOCKET is set: the import alone costs a
 * daemon about 3 MB of resident memory, for nothing outside systemd.
 */

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): 2 bytes of family + 108 of path. */
const SUN_PATH_MAX = 108;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: unknown, len: number, flags: number, addr: unknown, addrLen: number): number | bigint;
  close(fd: number): number;
  ptr(view: Uint8Array): unknown;
}
let libc: Libc | null | undefined;

/**
 * Opens libc through bun:ffi when NOTIFY_SOCKET is set (in `env`); call once before sdNotify().
 * Never throws: without it sdNotify() returns false.
 */
export async function prepareNotify(env: Record<string, string | undefined> = process.env): Promise<void> {
  if (libc !== undefined || !env.NOTIFY_SOCKET) return;
  try {
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const { symbols } = dlopen("libc.so.6", {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    libc = { ...(symbols as unknown as Omit<Libc, "ptr">), ptr: (v) => ptr(v) };
  } catch {
    libc = null;
  }
}

/** struct sockaddr_un for NOTIFY_SOCKET, and the length to pass to sendto; null if unusable. */
export function notifyAddress(socketPath: string): { addr: Uint8Array; len: number } | null {
  const abstract = socketPath.startsWith("@");
  if (!abstract && !socketPath.startsWith("/")) return null;
  const path = new TextEncoder().encode(abstract ? socketPath.slice(1) : socketPath);
  // A path needs its terminating NUL; an abstract name starts with NUL and has none.
  if (path.length + 1 > SUN_PATH_MAX) return null;
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, abstract ? 3 : 2);
  return { addr, len: 2 + path.length + 1 };
}

/**
 * Sends `state` (e.g. "READY=1\nSTATUS=listening") to the service manager. False when
 * NOTIFY_SOCKET is unset (not under systemd), prepareNotify() has not run, or the send failed;
 * never throws.
 */
export function sdNotify(state: string, env: Record<string, string | undefined> = process.env): boolean {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return false;
  try {
    const target = notifyAddress(socketPath);
    const c = libc;
    if (!target || !c) return false;
    const msg = new TextEncoder().encode(state);
    if (msg.length === 0) return false;
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    try {
      const sent = c.sendto(fd, c.ptr(msg), msg.length, MSG_NOSIGNAL, c.ptr(target.addr), target.len);
      return Number(sent) === msg.length;
    } finally {
      c.close(fd);
    }
  } catch {
    return false;
  }
}

/**
 * How often to send WATCHDOG=1, in ms: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.
 * Undefined when the watchdog is off or meant for another process (WATCHDOG_PID set and not `pid`).
 */
export function watchdogIntervalMs(env: Record<string, string | undefined>, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^[0-9]+$/.test(usec) || Number(usec) === 0) return undefined;
  const wdPid = env.WATCHDOG_PID;
  if (wdPid !== undefined && wdPid !== "" && Number(wdPid) !== pid) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/**
 * Sends WATCHDOG=1 every half WATCHDOG_USEC while the event loop runs (a hung loop stops the pings
 * and systemd kills us, which is the point). Returns a stop function; a no-op when the watchdog is
 * off. The timer is unref'd so it never keeps a stopping daemon alive.
 */
export function startWatchdog(
  env: Record<string, string | undefined> = process.env,
  opts: { pid?: number; notify?: (state: string) => boolean } = {},
): () => void {
  const every = watchdogIntervalMs(env, opts.pid ?? process.pid);
  if (every === undefined) return () => {};
  const notify = opts.notify ?? ((s: string) => sdNotify(s, env));
  notify("WATCHDOG=1");
  const timer = setInterval(() => notify("WATCHDOG=1"), every);
  timer.unref();
  return () => clearInterval(timer);
}
