/**
 * The reference criu-coordinator's JSON configuration files, read as a fallback by the hook:
 *   <images dir>/criu-coordinator.json   per process: id, dependencies, address, port, log-file
 *   /etc/criu/criu-coordinator.json      global: address, port, log-file, dependencies {id: [ids]}
 * Dependencies may be "B:C" or ["B", "C"] in both. Values may be numbers where the reference
 * stringifies them (a numeric port). Pure parsing plus small file helpers; no network.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEGACY } from "../config/schema.ts";
import { parseDependencies } from "./protocol.ts";

/** Where a reference server is, as either file may say. */
export interface Endpoint {
  readonly address?: string;
  readonly port?: number;
  readonly logFile?: string;
}

export interface LocalConfig extends Endpoint {
  readonly source: string;
  readonly id: string;
  readonly dependencies: readonly string[];
}

export interface GlobalConfig extends Endpoint {
  readonly source: string;
  readonly dependencies: Readonly<Record<string, readonly string[]>>;
}

export function globalConfigPath(env: Record<string, string | undefined>): string {
  return env[LEGACY.env] || LEGACY.globalPath;
}

export function parseLocalConfig(text: string, source: string): LocalConfig | string {
  const doc = parseObject(text, source);
  if (typeof doc === "string") return doc;
  const id = scalar(doc.id);
  if (id === undefined || id === "") return `${source}: "id" is required (a string)`;
  const deps = parseDependencies(doc.dependencies ?? "");
  if (typeof deps === "string") return `${source}: ${deps}`;
  const ep = endpoint(doc, source);
  if (typeof ep === "string") return ep;
  return { source, id, dependencies: deps.filter((d) => d !== id), ...ep };
}

export function parseGlobalConfig(text: string, source: string): GlobalConfig | string {
  const doc = parseObject(text, source);
  if (typeof doc === "string") return doc;
  const raw = doc.dependencies ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return `${source}: "dependencies" must be an object {id: [ids]}`;
  const dependencies: Record<string, string[]> = {};
  for (const [id, list] of Object.entries(raw)) {
    const deps = parseDependencies(list);
    if (typeof deps === "string") return `${source}: dependencies of "${id}": ${deps}`;
    dependencies[id] = deps.filter((d) => d !== id);
  }
  const ep = endpoint(doc, source);
  if (typeof ep === "string") return ep;
  return { source, dependencies, ...ep };
}

/**
 * The map entry for a detected id: an exact key, else the one key that is a prefix of the id (a
 * short container ID). Several prefixes are an error: the reference picks one at random.
 */
export function matchGlobalEntry(global: GlobalConfig, detected: string): { id: string; dependencies: readonly string[] } | null | string {
  const exact = global.dependencies[detected];
  if (exact) return { id: detected, dependencies: exact };
  const keys = Object.keys(global.dependencies).filter((k) => k.length > 0 && detected.startsWith(k));
  if (keys.length > 1) return `${global.source}: "${detected}" matches several dependency keys (${keys.sort().join(", ")}); use a longer, unique prefix`;
  const key = keys[0];
  return key === undefined ? null : { id: key, dependencies: global.dependencies[key]! };
}

/** The per-process file, null if there is none, or an error message. */
export function readLocalConfig(imagesDir: string): LocalConfig | null | string {
  const path = join(imagesDir, LEGACY.localFile);
  const text = readOptional(path);
  return typeof text === "string" ? parseLocalConfig(text, path) : text === null ? null : text.error;
}

export function readGlobalConfig(path: string): GlobalConfig | null | string {
  const text = readOptional(path);
  return typeof text === "string" ? parseGlobalConfig(text, path) : text === null ? null : text.error;
}

/** Writes the per-process file the way the reference's pre-dump does, so a reference restore can read it. */
export function writeLocalConfig(imagesDir: string, id: string, dependencies: readonly string[]): void {
  const path = join(imagesDir, LEGACY.localFile);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ id, dependencies: dependencies.join(":") }, null, 3), { mode: 0o644 });
  renameSync(tmp, path);
}

function readOptional(path: string): string | null | { error: string } {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? null : { error: `Cannot read ${path}: ${code ?? (e as Error).message}` };
  }
}

function parseObject(text: string, source: string): Record<string, unknown> | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `${source}: not valid JSON: ${(e as Error).message}`;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return `${source}: expected a JSON object`;
  return doc as Record<string, unknown>;
}

/** A string, or a number/boolean turned into one (the reference's config crate does the same). */
function scalar(v: unknown): string | undefined {
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

function endpoint(doc: Record<string, unknown>, source: string): Endpoint | string {
  const out: { address?: string; port?: number; logFile?: string } = {};
  if (doc.address !== undefined) {
    const a = scalar(doc.address);
    if (!a) return `${source}: "address" must be a string`;
    out.address = a;
  }
  if (doc.port !== undefined) {
    const p = Number(scalar(doc.port));
    if (!Number.isInteger(p) || p < 1 || p > 65535) return `${source}: "port" must be a number from 1 to 65535, got ${JSON.stringify(doc.port)}`;
    out.port = p;
  }
  if (doc["log-file"] !== undefined) {
    const f = scalar(doc["log-file"]);
    if (f === undefined) return `${source}: "log-file" must be a string`;
    out.logFile = f;
  }
  return out;
}
