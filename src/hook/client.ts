/**
 * A lean client for the local socket (Bun.connect, no libraries): one request, one response.
 * Used by hook calls, where every millisecond is CRIU downtime, and by the CLI.
 */
import { encodeFrame, FrameDecoder } from "../protocol/frame.ts";
import type { Request, Response } from "../protocol/messages.ts";

/** The daemon could not be reached, or the connection ended before an answer. Worth retrying. */
export class Unreachable extends Error {
  override name = "Unreachable";
}

export function request(socketPath: string, req: Request, timeoutMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let settled = false;
    const finish = (err: Error | null, res?: Response) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new Unreachable(`No answer from ${socketPath} within ${timeoutMs}ms`)), timeoutMs);
    Bun.connect({
      unix: socketPath,
      socket: {
        open(s) {
          s.write(encodeFrame(req));
        },
        data(s, chunk) {
          try {
            const msgs = decoder.push(chunk);
            if (msgs.length > 0) {
              finish(null, msgs[0] as Response);
              s.end();
            }
          } catch (e) {
            finish(e as Error);
            s.end();
          }
        },
        close() {
          finish(new Unreachable(`Connection to ${socketPath} closed before an answer`));
        },
        error(_s, e) {
          finish(new Unreachable(`Connection to ${socketPath} failed: ${e.message}`));
        },
        connectError(_s, e) {
          finish(new Unreachable(`Cannot connect to ${socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
        },
      },
    }).catch((e: NodeJS.ErrnoException) => finish(new Unreachable(`Cannot connect to ${socketPath}: ${e.code ?? e.message}`)));
  });
}
