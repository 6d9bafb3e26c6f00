/**
 * Running real `criu dump` / `criu restore` against a test node, two ways (criu-hooks.md §2.3):
 *
 * - "c1": CRIU runs inside the node's netns (`nsenter --net=/run/netns/X criu ...`). The workload
 *   shares CRIU's netns: no network-lock/unlock hooks; CRIU locks each TCP connection with
 *   per-connection iptables rules inside the node.
 * - "c2": CRIU runs in the host netns and the node's netns is external
 *   (`--external net[<inode>]:<key>`, `--inherit-fd fd[N]:<key>` on restore). Hooks include
 *   network-lock / network-unlock / setup-namespaces; CRIU locks the whole node netns.
 *
 * Never `ip netns exec`: it creates a fresh mount namespace per call and CRIU then fails with
 * "has unreachable sharing".
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Node } from "./netns.ts";
import { run } from "./proc.ts";

/** Where CRIU runs relative to the node: inside its netns (c1) or in the host netns (c2). */
export type CriuWay = "c1" | "c2";

/** Options shared by dump and restore. */
export interface CriuCommon {
  node: Node;
  imagesDir: string;
  /** @default "c1" */
  way?: CriuWay;
  /** `--tcp-established`. @default true */
  tcpEstablished?: boolean;
  /** Each becomes `--action-script PATH`; CRIU runs them in reverse order at every hook. */
  actionScripts?: string[];
  /** Extra environment for CRIU and so for its action scripts (added to the runner's own). */
  env?: Record<string, string>;
  /** Appended to the CRIU command line. */
  extraArgs?: string[];
  /** `-v<N>`. @default 4 */
  verbosity?: number;
  /** `-W DIR`: where CRIU writes its log (default: the images dir). */
  workDir?: string;
}

/** Options of `criu dump`. */
export interface DumpOptions extends CriuCommon {
  pid: number;
  /** `--leave-running`. @default false (kill mode) */
  leaveRunning?: boolean;
}

/** Outcome of one CRIU run. */
export interface CriuResult {
  code: number;
  /** Contents of the `-o` log file (CRIU's stdout/stderr go to it as well, and so do hooks'). */
  log: string;
  /** Wall time of the whole `criu` command, including nsenter and kernel feature detection. */
  ms: number;
  argv: string[];
}

/** The criu binary: $CRIU, else /usr/local/sbin/criu (install-criu.sh), else `criu` from PATH. */
export function criuBinary(): string | null {
  const env = process.env.CRIU;
  if (env) return env;
  if (existsSync("/usr/local/sbin/criu")) return "/usr/local/sbin/criu";
  return Bun.which("criu");
}

function commonArgs(o: CriuCommon, logName: string): string[] {
  const args = ["-D", o.imagesDir, "-o", logName, `-v${o.verbosity ?? 4}`];
  if (o.workDir) args.push("-W", o.workDir);
  if (o.tcpEstablished ?? true) args.push("--tcp-established");
  for (const s of o.actionScripts ?? []) args.push("--action-script", s);
  return args;
}

async function runCriu(argv: string[], o: CriuCommon, logName: string): Promise<CriuResult> {
  const r = await run(argv, { ...process.env, ...o.env });
  const logPath = join(o.workDir ?? o.imagesDir, logName);
  const log = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
  // Without a log file (e.g. bad arguments) CRIU's own stderr is the only trace.
  return { code: r.code, log: log || r.stdout + r.stderr, ms: r.ms, argv };
}

/** `criu dump` of the process tree rooted at `o.pid`, which lives in `o.node`. */
export async function criuDump(o: DumpOptions): Promise<CriuResult> {
  const criu = criuBinary() ?? "criu";
  const args = ["dump", "-t", String(o.pid), ...commonArgs(o, "dump.log")];
  if (o.leaveRunning) args.push("--leave-running");
  let argv: string[];
  if ((o.way ?? "c1") === "c1") {
    argv = ["nsenter", `--net=${o.node.netnsPath}`, criu, ...args];
  } else {
    argv = [criu, ...args, "--external", `net[${o.node.inode}]:${o.node.netns}`];
  }
  return runCriu([...argv, ...(o.extraArgs ?? [])], o, "dump.log");
}

/** `criu restore -d` of the images in `o.imagesDir` into `o.node`. */
export async function criuRestore(o: CriuCommon): Promise<CriuResult> {
  const criu = criuBinary() ?? "criu";
  const args = ["restore", "-d", ...commonArgs(o, "restore.log")];
  let argv: string[];
  if ((o.way ?? "c1") === "c1") {
    argv = ["nsenter", `--net=${o.node.netnsPath}`, criu, ...args];
  } else {
    // The external netns is handed over as an inherited fd; bash opens it as fd 9.
    const script = 'exec 9<"$1"; shift; exec "$@"';
    argv = ["bash", "-c", script, "criu-restore", o.node.netnsPath, criu, ...args];
    argv.push("--inherit-fd", `fd[9]:${o.node.netns}`);
  }
  return runCriu([...argv, ...(o.extraArgs ?? [])], o, "restore.log");
}

/** Timings CRIU writes to `<images>/stats-dump` (microseconds). */
export interface DumpStats {
  freezingTimeUs: number;
  /** From freeze to unfreeze/kill: the application pause caused by the dump itself. */
  frozenTimeUs: number;
  memdumpTimeUs: number;
  memwriteTimeUs: number;
  pagesWritten: number;
}

/** Timings CRIU writes to `<images>/stats-restore` (microseconds). */
export interface RestoreStats {
  forkingTimeUs: number;
  restoreTimeUs: number;
}

/**
 * Decodes a CRIU stats image without crit: 4-byte service magic, 4-byte STATS magic, then one
 * length-prefixed `stats_entry` protobuf (images/stats.proto). Returns field number → value of
 * the nested message `nested` (1 = dump, 2 = restore), or null if the file is missing.
 */
function readStats(path: string, nested: number): Map<number, number> | null {
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const len = buf.readUInt32LE(8);
  const outer = decodeProto(buf.subarray(12, 12 + len));
  const inner = outer.get(nested);
  return inner instanceof Uint8Array ? decodeNumbers(inner) : null;
}

function decodeProto(b: Uint8Array): Map<number, number | Uint8Array> {
  const out = new Map<number, number | Uint8Array>();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = b[i++];
      if (byte === undefined) throw new Error("Cannot decode stats image: truncated varint");
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) out.set(field, varint());
    else if (wire === 2) {
      const n = varint();
      out.set(field, b.subarray(i, i + n));
      i += n;
    } else throw new Error(`Cannot decode stats image: unexpected wire type ${wire}`);
  }
  return out;
}

function decodeNumbers(b: Uint8Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const [k, v] of decodeProto(b)) if (typeof v === "number") m.set(k, v);
  return m;
}

/** Parses `<imagesDir>/stats-dump`, or returns null if CRIU did not write one. */
export function readDumpStats(imagesDir: string): DumpStats | null {
  const m = readStats(join(imagesDir, "stats-dump"), 1);
  if (!m) return null;
  return {
    freezingTimeUs: m.get(1) ?? 0,
    frozenTimeUs: m.get(2) ?? 0,
    memdumpTimeUs: m.get(3) ?? 0,
    memwriteTimeUs: m.get(4) ?? 0,
    pagesWritten: m.get(7) ?? 0,
  };
}

/** Parses `<imagesDir>/stats-restore`, or returns null if CRIU did not write one. */
export function readRestoreStats(imagesDir: string): RestoreStats | null {
  const m = readStats(join(imagesDir, "stats-restore"), 2);
  if (!m) return null;
  return { forkingTimeUs: m.get(3) ?? 0, restoreTimeUs: m.get(4) ?? 0 };
}
