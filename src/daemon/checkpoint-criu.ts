/**
 * Running CRIU for a member: `criu dump` of its root process or `criu restore -d` of its images,
 * with this binary as the action-script, so the hooks coordinate the run with the other members
 * exactly as a hand-started CRIU would. CRIU runs in the daemon's namespaces.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** The CRIU binary: $CRIU, else `criu` on PATH, else /usr/local/sbin/criu (install-criu.sh). */
export function criuBinary(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.CRIU) return env.CRIU;
  const found = Bun.which("criu", { PATH: `${env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin` });
  if (found) return found;
  return existsSync("/usr/local/sbin/criu") ? "/usr/local/sbin/criu" : undefined;
}

export interface CriuRun {
  readonly pid: number;
  /** CRIU's exit code and, when it failed, the interesting lines of its log. */
  readonly done: Promise<{ code: number; message?: string }>;
}

export interface CriuOptions {
  readonly criu: string;
  /** This binary: CRIU runs it as action-script at every hook. */
  readonly actionScript: string;
  /** CRIU's environment; carries CRIU_COORDINATOR_CONFIG to the hooks. */
  readonly env: Record<string, string | undefined>;
}

/** `criu dump -t PID -D DIR --tcp-established --action-script SELF -o dump.log [--leave-running]`. */
export function startDump(o: CriuOptions, pid: number, dir: string, leaveRunning: boolean): CriuRun {
  const args = ["dump", "-t", String(pid), "-D", dir, "--tcp-established", "--action-script", o.actionScript, "-o", "dump.log"];
  if (leaveRunning) args.push("--leave-running");
  return spawn(o, args, join(dir, "dump.log"));
}

/** `criu restore -d -D DIR --tcp-established --action-script SELF -o restore.log`. */
export function startRestore(o: CriuOptions, dir: string): CriuRun {
  return spawn(o, ["restore", "-d", "-D", dir, "--tcp-established", "--action-script", o.actionScript, "-o", "restore.log"], join(dir, "restore.log"));
}

function spawn(o: CriuOptions, args: string[], log: string): CriuRun {
  const p = Bun.spawn([o.criu, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: o.env });
  const done = (async () => {
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code === 0) return { code };
    return { code, message: failureLines(existsSync(log) ? readFileSync(log, "utf8") : "", out + err) || `CRIU exited ${code}` };
  })();
  return { pid: p.pid, done };
}

/**
 * The lines that say why a CRIU run failed: the coordinator's verdict first (it names the member
 * that held everyone back), then CRIU's own errors, without its harmless rlimit warning.
 */
export function failureLines(log: string, output = ""): string {
  const lines = (log || output).split("\n");
  const ours = lines.filter((l) => l.startsWith("criu-coordinator:") && /abort|fail|refus|Timed out|unreachable/i.test(l));
  const errors = lines.filter((l) => l.includes("Error") && !l.includes("RLIMIT_NOFILE") && !l.includes("action-scripts.c") && !l.includes("util.c"));
  return [...ours.slice(-1), ...errors.slice(0, 2)].map((l) => l.trim()).join(" | ").slice(0, 600);
}

/** Bytes used by the files under `dir` (0 if it is missing). */
export function diskUsage(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += diskUsage(p);
    else if (e.isFile()) {
      try {
        total += statSync(p).blocks * 512;
      } catch {
        // removed meanwhile
      }
    }
  }
  return total;
}
