/**
 * A client for the reference protocol: connect, send one request, read the reply until the
 * server closes. Used by the `client` command and by the hook when a reference JSON config names
 * the coordinator. No libraries: it is on the hook path.
 */
import { DEFAULT_ADDRESS, DEFAULT_PORT } from "./protocol.ts";

/** Nothing was delivered: the server could not be reached. Worth retrying. */
export class ReferenceUnreachable extends Error {
  override name = "ReferenceUnreachable";
}

const MAX_REPLY_BYTES = 131_072;

/** The reply text ("" when the server closed without one). Rejects with ReferenceUnreachable if the connection failed. */
export function sendReferenceRequest(host: string, port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    let opened = false;
    let settled = false;
    const decoder = new TextDecoder();
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(got + decoder.decode());
    };
    const where = `${host}:${port}`;
    Bun.connect({
      hostname: host.replace(/^\[(.*)\]$/, "$1"),
      port,
      socket: {
        open(s) {
          opened = true;
          s.write(body);
        },
        data(s, chunk) {
          got += decoder.decode(chunk, { stream: true });
          if (got.length > MAX_REPLY_BYTES) s.end();
        },
        close() {
          finish(null);
        },
        error(_s, e) {
          // Once the request may have been delivered, resending it would start a second round.
          finish(opened ? null : new ReferenceUnreachable(`Connection to ${where} failed: ${e.message}`));
        },
        connectError(_s, e) {
          finish(new ReferenceUnreachable(`Cannot connect to ${where}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
        },
      },
    }).catch((e: NodeJS.ErrnoException) => finish(new ReferenceUnreachable(`Cannot connect to ${where}: ${e.code ?? e.message}`)));
  });
}

/** Tries until the request is delivered or `windowMs` has passed (a daemon that is restarting). */
export async function sendWithRetry(host: string, port: number, body: string, windowMs: number): Promise<string> {
  const deadline = Date.now() + windowMs;
  let backoff = 20;
  for (;;) {
    try {
      return await sendReferenceRequest(host, port, body);
    } catch (e) {
      if (!(e instanceof ReferenceUnreachable) || Date.now() + backoff > deadline) throw e;
      await Bun.sleep(backoff);
      backoff = Math.min(backoff * 2, 500);
    }
  }
}

/** address and port as the reference resolves them, with its defaults. */
export function endpointOf(address: string | undefined, port: number | undefined): { host: string; port: number } {
  return { host: address || DEFAULT_ADDRESS, port: port ?? DEFAULT_PORT };
}
