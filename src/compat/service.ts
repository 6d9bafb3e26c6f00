/** The reference-protocol front end of the daemon: router + TCP listener, started when [compat] listen is set. */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../util/log.ts";
import { ReferenceListener } from "./listener.ts";
import { ReferenceRouter, type Submitter } from "./router.ts";

export interface ReferenceService {
  readonly port: number;
  stop(reason: string): void;
  status(): Record<string, unknown>;
}

export function startReferenceService(config: Config, daemon: Submitter, log: Logger): ReferenceService | undefined {
  const compat = config.compat;
  if (!compat) return undefined;
  const router = new ReferenceRouter({ groups: config.groups, daemon, timeoutMs: compat.waitTimeoutMs, log });
  const listener = new ReferenceListener(router, log);
  const port = listener.listen(compat.listen);
  log.info(`reference protocol (criu-coordinator compatible) on ${compat.listen}, wait timeout ${compat.waitTimeoutMs / 1000}s for implicit groups`);
  return {
    port,
    stop(reason) {
      router.stop(reason);
      listener.stop();
    },
    status: () => ({ listen: compat.listen, ...router.status() }),
  };
}
