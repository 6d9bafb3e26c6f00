#!/usr/bin/python3
"""Shows, and with --off clears, TCP repair mode on the TCP sockets of another process.

    tcp-repair.py PID [--off]

prints one line per TCP socket of PID: `fd=<n> repair=<0|1>` (and `repair=0 (was 1)` after --off).

CRIU turns repair mode on for every TCP socket it dumps (libsoccr_pause), and off again when it
resumes the process (libsoccr_resume). A CRIU that is SIGKILLed in between leaves the socket in
repair mode: recv() then fails with EPERM and sends are queued without being transmitted. The
socket belongs to the process, so this copies its fd with pidfd_getfd(2) (root, Linux >= 5.6) and
sets TCP_REPAIR to TCP_REPAIR_OFF, as CRIU would have (the kernel also sends a window probe).
"""

import ctypes
import os
import socket
import sys

SYS_PIDFD_OPEN = 434  # x86_64, also the generic table
SYS_PIDFD_GETFD = 438
TCP_REPAIR = 19
TCP_REPAIR_OFF = 0


def main() -> int:
    pid = int(sys.argv[1])
    off = "--off" in sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_open({pid})")
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
            continue
        copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
        if copy < 0:
            raise OSError(ctypes.get_errno(), f"pidfd_getfd({pid}, {fd})")
        s = socket.socket(fileno=copy)
        try:
            if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            repair = s.getsockopt(socket.IPPROTO_TCP, TCP_REPAIR)
            if off and repair:
                s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF)
                print(f"fd={fd} repair={s.getsockopt(socket.IPPROTO_TCP, TCP_REPAIR)} (was {repair})")
            else:
                print(f"fd={fd} repair={repair}")
        finally:
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
