/**
 * The action-script for processes that only the reference's JSON configs name (run.ts loads this
 * lazily when no configured group claims the process and such a file exists). The process talks
 * the reference protocol to the coordinator the files name (address:port, default
 * 127.0.0.1:8080): our daemon's [compat] listener, or a reference server during a migration.
 *
 * Differences from the reference client, each a bug there:
 * - address and port come from the global file at every hook, not only at pre-dump (after
 *   pre-dump the reference reads only the per-process file and falls back to 127.0.0.1:8080);
 * - an unreachable coordinator fails vetoing hooks after a retry window, unless
 *   [hook] unreachable = "skip" (the reference always goes on uncoordinated);
 * - a process missing from the global map is not coordinated (the reference aborts the dump);
 * - a detected id that several map keys prefix is an error (the reference picks one at random);
 * - the id sent is the matched map key, so it is in the same namespace as the dependencies.
 */
import { hookInfo, kindsOf } from "../barrier/hooks.ts";
import { DEFAULTS, LEGACY, type Config } from "../config/schema.ts";
import { identifyProcess } from "../identity/resolve.ts";
import { globalConfigPath, matchGlobalEntry, readGlobalConfig, readLocalConfig, writeLocalConfig, type GlobalConfig } from "./legacy-config.ts";
import { encodeReferenceRequest, TOKENS } from "./protocol.ts";
import { endpointOf, ReferenceUnreachable, sendWithRetry } from "./reference-client.ts";

type Env = Record<string, string | undefined>;

/** Hooks the reference client forwards; it answers every other hook at once. */
const FORWARDED = ["pre-dump", "network-lock", "post-dump", "pre-restore", "post-restore", "network-unlock", "post-resume"];

/**
 * What the TOML configuration (if any) says. `windowMs`: how long to retry an unreachable
 * coordinator before failing: [compat] wait_timeout when set, else the default group timeout.
 * With unreachable = "skip" there is no retry, as in the reference.
 */
export interface LegacySettings {
  readonly unreachable: "fail" | "skip";
  readonly windowMs: number;
}

export function legacySettings(config: Config | undefined): LegacySettings {
  return { unreachable: config?.hook.unreachable ?? DEFAULTS.unreachable, windowMs: config?.compat?.waitTimeoutMs ?? DEFAULTS.timeoutMs };
}

export async function runLegacyHook(env: Env, hook: string, settings: () => LegacySettings, say: (line: string) => void): Promise<number> {
  if (!FORWARDED.includes(hook)) return 0;
  const vetoes = kindsOf(hook).some((k) => hookInfo(k, hook)!.vetoes);
  const imagesDir = env.CRTOOLS_IMAGE_DIR || process.cwd();
  const refuse = (why: string) => {
    say(why);
    return vetoes ? 1 : 0;
  };

  const local = readLocalConfig(imagesDir);
  if (typeof local === "string") return refuse(local);
  const global = readGlobalConfig(globalConfigPath(env));
  if (typeof global === "string") return refuse(global);
  let who: { id: string; dependencies: readonly string[] };
  if (local) {
    who = local;
  } else if (global && LEGACY.dumpHooks.includes(hook)) {
    const found = fromGlobal(env, global);
    if (found === null) return 0; // not in the map: not coordinated
    if (typeof found === "string") return refuse(found);
    who = found;
    if (hook === "pre-dump") {
      try {
        writeLocalConfig(imagesDir, who.id, who.dependencies);
      } catch (e) {
        return refuse(`cannot write ${LEGACY.localFile} in ${imagesDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
  } else {
    return 0;
  }

  const { host, port } = endpointOf(local?.address ?? global?.address, local?.port ?? global?.port);
  const tag = `${who.id} at ${hook} (reference protocol, ${host}:${port})`;
  const { unreachable, windowMs } = settings();
  let reply: string;
  try {
    reply = await sendWithRetry(host, port, encodeReferenceRequest(who.id, hook, who.dependencies), unreachable === "skip" ? 0 : windowMs);
  } catch (e) {
    if (!(e instanceof ReferenceUnreachable)) throw e;
    if (unreachable === "skip") {
      say(`${tag}: coordinator unreachable (${e.message}); going on uncoordinated because hook.unreachable = "skip"`);
      return 0;
    }
    return refuse(`${tag}: coordinator unreachable for ${windowMs / 1000}s (${e.message}); aborting`);
  }
  say(`${tag}: ${reply || "connection closed without a reply"}`);
  return reply === TOKENS.ack ? 0 : 1;
}

/** The reference's detection: the container ID, else the process name, else the PID; then the map. */
function fromGlobal(env: Env, global: GlobalConfig): { id: string; dependencies: readonly string[] } | null | string {
  const pid = Number(env.CRTOOLS_INIT_PID);
  if (!Number.isInteger(pid) || pid <= 0) return `${global.source}: cannot identify the process without CRTOOLS_INIT_PID`;
  let detected: string;
  try {
    const report = identifyProcess(pid, []);
    detected = report.identity.id ?? (report.processName || String(pid));
  } catch {
    detected = String(pid);
  }
  return matchGlobalEntry(global, detected);
}
