/**
 * The action-script: CRIU runs this binary with CRTOOLS_* variables and no arguments. It works out
 * who it is, asks the local daemon, and exits 0 to let CRIU go on or 1 to make CRIU abort. It
 * prints one line to CRIU's log. It imports nothing heavy (no citty, no consola): it is on CRIU's
 * critical path, and from network-lock to post-dump the application is frozen.
 */
import { hookInfo, isHookName, isPassThrough, kindsOf } from "../barrier/hooks.ts";
import { CONFIG_ENV, DEFAULT_CONFIG_PATH, LEGACY, type Config, type GroupConfig } from "../config/schema.ts";
import type { MatchResult } from "../identity/match.ts";
import { readIdentity, writeIdentity, type StoredIdentity } from "../identity/persist.ts";
import { PROTOCOL_VERSION, type Response } from "../protocol/messages.ts";
import { cachedConfig, hostProcessMatch, readConfigCache, readConfigFile, readProcessFacts, storeConfig, type ProcessFacts } from "./fast-path.ts";
// Everything else loads on demand (dynamic imports become separate chunks of the binary): a
// process that is not coordinated must not pay for parsing TOML, cgroups or sockets code. Regular
// files are read with Bun.mmap (util/small-file.ts), not node:fs, whose loading alone costs about
// 1 ms per call; after pre-dump, the whole path up to the daemon's socket is synchronous.

type Env = Record<string, string | undefined>;

/** Extra time the hook waits beyond the group timeout, so the daemon's own verdict arrives first. */
const GRACE_MS = 5_000;

export async function runHook(env: Env = process.env): Promise<number> {
  const hook = env.CRTOOLS_SCRIPT_ACTION ?? "";
  if (!isHookName(hook)) {
    // A future CRIU may add hooks: never block CRIU on a hook we do not know.
    say(`unknown CRIU hook "${hook}", letting CRIU go on`);
    return 0;
  }
  if (isPassThrough(hook)) return 0;

  const vetoes = kindsOf(hook).some((k) => hookInfo(k, hook)!.vetoes);
  const imagesDir = env.CRTOOLS_IMAGE_DIR || process.cwd();
  // At pre-dump the process is read from /proc (asynchronously: Bun can not map /proc files), and
  // that read starts now so that it overlaps with the rest.
  const facts = hook === "pre-dump" ? readProcessFacts(Number(env.CRTOOLS_INIT_PID)) : undefined;
  // Every hook after pre-dump needs the identity recorded in the images; without it this dump was
  // not coordinated, and the configuration need not even be read.
  const stored = hook === "pre-dump" ? undefined : readIdentity(imagesDir);
  if (stored === null) return referenceFallback(env, hook, imagesDir);

  const path = env[CONFIG_ENV] || DEFAULT_CONFIG_PATH;
  let file: ReturnType<typeof readConfigFile>;
  try {
    file = readConfigFile(path);
  } catch (e) {
    say(`cannot read the configuration ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 1;
  }
  // No file: the embedded default, which has no groups.
  if (file === undefined) return referenceFallback(env, hook, imagesDir);
  let config = cachedConfig(readConfigCache(env), file.key);
  if (!config) {
    const { ConfigError, parseConfig } = await import("../config/load.ts");
    try {
      config = parseConfig(file.text, path);
    } catch (e) {
      // A broken configuration can not tell participants from others; refusing is the safe side.
      say(e instanceof ConfigError ? `configuration error: ${e.message}` : `cannot load configuration: ${(e as Error).message}`);
      return 1;
    }
    await storeConfig(file.key, config, env);
  }
  if (config.groups.length === 0) return referenceFallback(env, hook, imagesDir, config);

  const who = stored === undefined ? await identifyForDump(env, config, imagesDir, facts) : fromStored(config, stored);
  if (who === "pass") return referenceFallback(env, hook, imagesDir, config);
  if (typeof who === "string") {
    say(who);
    return vetoes ? 1 : 0;
  }
  const { group, participant } = who;
  const tag = `${group.name}/${participant} at ${hook}`;
  const deadline = Date.now() + group.timeoutMs + GRACE_MS;
  const req = {
    v: PROTOCOL_VERSION,
    type: "arrive",
    group: group.name,
    participant,
    hook,
    attempt: attemptId(),
    ...(env.CRTOOLS_INIT_PID ? { pid: Number(env.CRTOOLS_INIT_PID) } : {}),
  } as const;

  const { request, Unreachable } = await import("./client.ts");
  let backoff = 20;
  let lastError = "";
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let res: Response;
    try {
      res = await request(config.daemon.socket, req, left);
    } catch (e) {
      if (!(e instanceof Unreachable)) {
        say(`${tag}: bad answer from the daemon: ${(e as Error).message}`);
        return vetoes ? 1 : 0;
      }
      // The daemon restarts or is starting: ask again, the same attempt is recognised.
      lastError = e.message;
      await Bun.sleep(Math.min(backoff, Math.max(0, deadline - Date.now())));
      backoff = Math.min(backoff * 2, 500);
      continue;
    }
    if (res.type === "result") {
      say(`${tag}: ${res.message}`);
      return res.ok ? 0 : 1;
    }
    say(`${tag}: ${res.type === "error" ? res.message : "unexpected answer from the daemon"}`);
    return vetoes ? 1 : 0;
  }
  if (config.hook.unreachable === "skip") {
    say(`${tag}: coordinator unreachable (${lastError}); going on uncoordinated because hook.unreachable = "skip"`);
    return 0;
  }
  say(`${tag}: coordinator unreachable for ${Math.round((group.timeoutMs + GRACE_MS) / 1000)}s (${lastError}); aborting`);
  return vetoes ? 1 : 0;
}

interface Who {
  group: GroupConfig;
  participant: string;
}

/** At pre-dump: identify the dumped process and remember it in the images directory. */
async function identifyForDump(env: Env, config: Config, imagesDir: string, facts: Promise<ProcessFacts | undefined> | undefined): Promise<Who | "pass" | string> {
  const pid = Number(env.CRTOOLS_INIT_PID);
  if (!Number.isInteger(pid) || pid <= 0) return `pre-dump without a valid CRTOOLS_INIT_PID (${env.CRTOOLS_INIT_PID ?? "unset"})`;
  let report = hostProcessMatch(await facts, config.groups) as { match: MatchResult; processName: string; containerId?: string | null } | undefined;
  if (!report) {
    const { identifyProcess } = await import("../identity/resolve.ts");
    try {
      const full = identifyProcess(pid, config.groups);
      report = { match: full.match, processName: full.processName, containerId: full.identity.id };
    } catch (e) {
      return `cannot read /proc/${pid}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  }
  const m = report.match;
  if (m.kind === "none") return "pass";
  if (m.kind === "error") return `cannot tell which participant pid ${pid} is: ${m.message}`;
  const group = config.groups.find((g) => g.name === m.group)!;
  try {
    await writeIdentity(imagesDir, {
      version: 1,
      participant: m.member,
      group: m.group,
      processName: report.processName,
      containerId: report.containerId ?? null,
      pid,
      dumpedAt: new Date().toISOString(),
    });
  } catch (e) {
    return `cannot record the identity of ${m.member} in ${imagesDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  return { group, participant: m.member };
}

/** Every later hook: the identity recorded at pre-dump travels with the images. */
function fromStored(config: Config, stored: StoredIdentity | string): Who | "pass" | string {
  if (typeof stored === "string") return stored;
  const group = config.groups.find((g) => g.name === stored.group);
  if (!group || !group.members.includes(stored.participant)) {
    say(`images say ${stored.group}/${stored.participant}, which ${config.source} no longer configures; not coordinating`);
    return "pass";
  }
  return { group, participant: stored.participant };
}

/**
 * No configured group claims this process, but the reference criu-coordinator's JSON files may
 * name it. The compat code loads only when such a file exists, so other processes stay fast.
 */
async function referenceFallback(env: Env, hook: string, imagesDir: string, config?: Config): Promise<number> {
  const named =
    (await Bun.file(`${imagesDir}/${LEGACY.localFile}`).exists()) ||
    (LEGACY.dumpHooks.includes(hook) && (await Bun.file(env[LEGACY.env] || LEGACY.globalPath).exists()));
  if (!named) return 0;
  const { legacySettings, runLegacyHook } = await import("../compat/legacy-hook.ts");
  const fallback = config ?? (await loadQuietly(env));
  return runLegacyHook(env, hook, () => legacySettings(fallback), say);
}

async function loadQuietly(env: Env): Promise<Config | undefined> {
  const path = env[CONFIG_ENV] || DEFAULT_CONFIG_PATH;
  if (!(await Bun.file(path).exists())) return undefined;
  try {
    const { loadConfig } = await import("../config/load.ts");
    return loadConfig(path);
  } catch {
    return undefined;
  }
}

/**
 * Names this CRIU run: "criu:<CRIU's pid>". The daemon adds the process's start time from /proc
 * (pids are reused), which spares this hook an asynchronous /proc read inside the frozen window.
 */
function attemptId(): string {
  return `criu:${process.ppid}`;
}

function say(line: string): void {
  // stdout and stderr both go to CRIU's log; stderr is unbuffered.
  console.error(`criu-coordinator: ${line}`);
}
