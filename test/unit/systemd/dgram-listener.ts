/**
 * A real AF_UNIX datagram listener for the sd_notify tests (what systemd's NOTIFY_SOCKET is),
 * built on libc through bun:ffi because neither node:dgram nor Bun can bind one. Non-blocking:
 * `drain()` returns the messages received so far.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { rmSync } from "node:fs";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_DGRAM_NONBLOCK_CLOEXEC = 2 | 0o4000 | 0o2000000;

export class DgramListener {
  readonly #fd: number;
  readonly #buf = new Uint8Array(4096);

  /** `address` is a filesystem path, or "@name" for the abstract namespace. */
  constructor(readonly address: string) {
    const abstract = address.startsWith("@");
    const name = new TextEncoder().encode(abstract ? address.slice(1) : address);
    const addr = new Uint8Array(110);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(name, abstract ? 3 : 2);
    this.#fd = libc.socket(AF_UNIX, SOCK_DGRAM_NONBLOCK_CLOEXEC, 0);
    if (this.#fd < 0) throw new Error("Cannot create a datagram socket");
    if (libc.bind(this.#fd, ptr(addr), 2 + name.length + 1) !== 0) {
      libc.close(this.#fd);
      throw new Error(`Cannot bind a datagram socket to ${address}`);
    }
  }

  /** Every datagram waiting in the socket, oldest first. */
  drain(): string[] {
    const out: string[] = [];
    for (;;) {
      const n = Number(libc.recv(this.#fd, ptr(this.#buf), this.#buf.length, 0));
      if (n < 0) return out;
      out.push(new TextDecoder().decode(this.#buf.subarray(0, n)));
    }
  }

  close(): void {
    libc.close(this.#fd);
    if (!this.address.startsWith("@")) rmSync(this.address, { force: true });
  }
}
