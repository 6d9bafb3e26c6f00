/**
 * Our engine's answers as the reference's reply tokens. A reference client only compares the
 * reply with "ACK", so every failure is a non-zero exit whatever the token; the tokens keep the
 * reference's words where the meaning matches, so its logs and its tests read the same.
 */
import type { Reply } from "../barrier/types.ts";
import { TOKENS } from "./protocol.ts";

/** Engine abort reasons that come from a deadline (engine.ts tick): the reference says "timeout". */
const DEADLINE = /Timed out at |No progress for /;

export function tokenFor(reply: Reply, hook: string): string {
  if (reply.ok) return TOKENS.ack;
  switch (reply.code) {
    case "timeout":
      return TOKENS.timeout;
    case "aborted":
      return DEADLINE.test(reply.message) ? TOKENS.timeout : TOKENS.aborted;
    case "no-operation":
      return TOKENS.notConnected;
    case "duplicate":
      return hook === "post-dump" ? TOKENS.alreadyCreated : TOKENS.alreadyConnected;
    case "bad-request":
      return TOKENS.unknownAction;
    default:
      return TOKENS.badRequest;
  }
}
