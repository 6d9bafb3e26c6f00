#!/usr/bin/python3
"""TCP workload for the CRIU end-to-end tests.

One side listens (server), the other connects (client). Both then send numbered lines
`NAME <seq>\\n` every --interval-ms and check that the peer's numbers arrive contiguous, so a test
can tell a good checkpoint/restore (the stream just pauses) from a broken one (gap, reset, hang).

The process name (comm) is the basename of the path it was executed by, so running it through a
symlink named `tcp-server` makes `/proc/PID/comm` say `tcp-server` (the shebang is an absolute
interpreter path on purpose: `#!/usr/bin/env python3` would re-exec and make comm "python3").

Log file lines (appended; the file is opened and closed for each line, so no regular file is
open while CRIU dumps the process and the file may grow between dump and restore):
  start role=... name=... pid=...
  connected local=... peer=...
  progress t=<unix s> sent=<n> rx=<peer seq> errors=<n>     every --progress-ms
  resumed after=<s> rx=<peer seq>     the peer was silent for more than 1 s (e.g. across a dump)
  gap expected=<n> got=<n>            a missing or repeated number: an error
  error <what>                        reset, EOF, bad line: an error; the process exits 1
"""

import argparse
import os
import select
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--host", required=True, help="address to bind (server) or connect to (client)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True, help="word sent in front of every number")
    ap.add_argument("--log", required=True)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--progress-ms", type=float, default=100.0)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    args = ap.parse_args()

    def log(line: str) -> None:
        with open(args.log, "a") as f:
            f.write(line + "\n")

    log(f"start role={args.role} name={args.name} pid={os.getpid()}")
    sock = connect(args) if args.role == "client" else accept(args)
    sock.setblocking(False)
    log(f"connected local={sock.getsockname()} peer={sock.getpeername()}")

    interval = args.interval_ms / 1000.0
    progress_every = args.progress_ms / 1000.0
    sent = 0
    expected = None  # next peer sequence number we expect; None until the first line
    rx_last = -1
    errors = 0
    inbuf = b""
    outbuf = b""
    now = time.monotonic()
    next_send = now
    next_progress = now
    # Wall clock, not monotonic: CRIU restores into a time namespace whose monotonic clock
    # continues from the dump, so a monotonic clock does not see the checkpoint pause.
    last_rx_wall = time.time()

    def fail(what: str) -> int:
        log(f"error {what}")
        log(f"progress t={time.time():.3f} sent={sent} rx={rx_last} errors={errors + 1}")
        return 1

    while True:
        now = time.monotonic()
        if now >= next_send:
            outbuf += f"{args.name} {sent}\n".encode()
            sent += 1
            # Catch up at most one tick: after a long freeze we do not burst the missed ticks.
            next_send = max(next_send + interval, now)
        if now >= next_progress:
            log(f"progress t={time.time():.3f} sent={sent} rx={rx_last} errors={errors}")
            next_progress = now + progress_every
        timeout = max(0.0, min(next_send, next_progress) - time.monotonic())
        wlist = [sock] if outbuf else []
        try:
            readable, writable, _ = select.select([sock], wlist, [], timeout)
        except InterruptedError:
            continue
        try:
            if writable and outbuf:
                n = sock.send(outbuf)
                outbuf = outbuf[n:]
            if readable:
                data = sock.recv(65536)
                if not data:
                    return fail("eof: the peer closed the connection")
                t = time.time()
                if t - last_rx_wall > 1.0:
                    log(f"resumed after={t - last_rx_wall:.3f} rx={rx_last}")
                last_rx_wall = t
                inbuf += data
                *lines, inbuf = inbuf.split(b"\n")
                for line in lines:
                    parts = line.split(b" ")
                    if len(parts) != 2 or not parts[1].isdigit():
                        return fail(f"bad line {line[:60]!r}")
                    seq = int(parts[1])
                    if expected is not None and seq != expected:
                        errors += 1
                        log(f"gap expected={expected} got={seq}")
                    expected = seq + 1
                    rx_last = seq
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            return fail(f"{type(e).__name__}({e.errno}): {e.strerror}")


def accept(args: argparse.Namespace) -> socket.socket:
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(1)
    ls.settimeout(args.connect_timeout)
    conn, _ = ls.accept()
    ls.close()  # one connection only; nothing else for CRIU to carry
    return conn


def connect(args: argparse.Namespace) -> socket.socket:
    deadline = time.monotonic() + args.connect_timeout
    while True:
        try:
            return socket.create_connection((args.host, args.port), timeout=1.0)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
