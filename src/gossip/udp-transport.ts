/** The real transport: one Bun UDP socket for all peer traffic. */
import type { PacketHandler, Transport } from "./transport.ts";

/** "host:port" → parts; IPv6 hosts in brackets ("[::1]:7946"). */
export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`Invalid address "${addr}": expected host:port`);
  return { host: (m[1] ?? m[2])!, port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class UdpTransport implements Transport {
  #handler: PacketHandler | undefined;
  #sendErrors = 0;

  private constructor(
    readonly socket: Bun.udp.Socket<"uint8array">,
    readonly address: string,
  ) {}

  /** Binds `listen` ("0.0.0.0:7946"; port 0 picks a free one). */
  static async bind(listen: string): Promise<UdpTransport> {
    const { host, port } = parseAddress(listen);
    let t: UdpTransport | undefined;
    const socket = await Bun.udpSocket({
      hostname: host,
      port,
      binaryType: "uint8array",
      socket: {
        data(_s, data, rport, raddr) {
          t?.deliver(data, formatAddress(raddr, rport));
        },
        error() {
          // ICMP errors (port unreachable after a peer died) surface here; the protocol retries.
          if (t) t.#sendErrors++;
        },
      },
    });
    t = new UdpTransport(socket, formatAddress(host, socket.port));
    return t;
  }

  send(to: string, data: Uint8Array): void {
    try {
      const { host, port } = parseAddress(to);
      this.socket.send(data, port, host);
    } catch {
      this.#sendErrors++; // unreachable or unresolvable peer: UDP semantics, the protocol retries
    }
  }

  onPacket(handler: PacketHandler): void {
    this.#handler = handler;
  }

  deliver(data: Uint8Array, from: string): void {
    this.#handler?.(data, from);
  }

  get sendErrors(): number {
    return this.#sendErrors;
  }

  close(): void {
    this.socket.close();
  }
}
