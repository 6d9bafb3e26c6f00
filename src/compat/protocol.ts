/**
 * The reference criu-coordinator's wire protocol (checkpoint-restore/criu-coordinator, Rust): one
 * unframed JSON request per TCP connection, answered with a bare ASCII token and a close. Pure:
 * constants, parsing and encoding only; the listener and the client do the I/O.
 */

/** The reference's defaults for `client --address/--port` and `server -a/-p`. */
export const DEFAULT_ADDRESS = "127.0.0.1";
export const DEFAULT_PORT = 8080;

/** The reference server reads at most this much (one read of 32768*4 bytes); we buffer up to it. */
export const MAX_REQUEST_BYTES = 131_072;

/** Reply tokens. The first five are the reference's own; the rest are ours (any non-ACK fails the client). */
export const TOKENS = {
  ack: "ACK",
  timeout: "timeout",
  notConnected: "not connected",
  alreadyConnected: "client already connected",
  alreadyCreated: "checkpoint is already created",
  aborted: "aborted",
  badRequest: "bad request",
  unknownAction: "unknown action",
  conflict: "dependency in a configured group",
  stopping: "server stopping",
} as const;

/** The id and action of the request that loads the kubescr dependency map. */
export const KUBESCR_ID = "kubescr";
/** The reference's own test script sends the underscore form, which its server ignores; we accept both. */
export const ADD_DEPENDENCIES = ["add-dependencies", "add_dependencies"] as const;

export type ReferenceRequest =
  | { readonly kind: "hook"; readonly id: string; readonly action: string; readonly dependencies: readonly string[] }
  | { readonly kind: "add-dependencies"; readonly map: Readonly<Record<string, readonly string[]>> };

const LIMIT = 256; // longest id or action accepted

/**
 * Dependencies as the reference writes them: "B:C" (empty segments skipped, "" = none) or, as its
 * README shows but its code rejects, a list ["B", "C"]. Returns an error message for anything else.
 */
export function parseDependencies(value: unknown): string[] | string {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? value.split(":") : value;
  if (!Array.isArray(list) || list.some((d) => typeof d !== "string")) return "dependencies must be a colon-separated string or a list of strings";
  const out = (list as string[]).map((d) => d.trim()).filter((d) => d.length > 0);
  if (out.some((d) => d.length > LIMIT)) return `a dependency is longer than ${LIMIT} characters`;
  return [...new Set(out)];
}

/** Checks one decoded request; returns it or an error message. */
export function parseReferenceRequest(raw: unknown): ReferenceRequest | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "request must be a JSON object";
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || r.id.length === 0 || r.id.length > LIMIT) return `"id" must be a non-empty string of at most ${LIMIT} characters`;
  if (typeof r.action !== "string" || r.action.length === 0 || r.action.length > LIMIT) return `"action" must be a non-empty string`;
  if (r.id === KUBESCR_ID && (ADD_DEPENDENCIES as readonly string[]).includes(r.action)) {
    const d = r.dependencies;
    if (typeof d !== "object" || d === null || Array.isArray(d)) return "add-dependencies needs an object {id: [ids]}";
    const map: Record<string, string[]> = {};
    for (const [id, list] of Object.entries(d)) {
      const deps = parseDependencies(list);
      if (typeof deps === "string") return `dependencies of "${id}": ${deps}`;
      map[id] = deps.filter((x) => x !== id); // the reference drops self-references
    }
    return { kind: "add-dependencies", map };
  }
  const deps = parseDependencies(r.dependencies);
  if (typeof deps === "string") return deps;
  return { kind: "hook", id: r.id, action: r.action, dependencies: deps.filter((x) => x !== r.id) };
}

/** The exact bytes the reference client sends: field order id, action, dependencies; no spaces. */
export function encodeReferenceRequest(id: string, action: string, dependencies: readonly string[]): string {
  return JSON.stringify({ id, action, dependencies: dependencies.join(":") });
}
