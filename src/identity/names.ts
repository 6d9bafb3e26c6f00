/**
 * Container ID → the names users put in `members`, read from the runtimes' own state files on the
 * host. No daemon API: the hook must work while dockerd or the CRI is busy, and a file read is
 * cheap. Sources (verified against podman 4.3.1 + runc 1.1.5 on the CI VM, and the runtimes' code):
 *
 *   OCI bundle config.json `annotations` (and runc's state.json, which copies them as
 *   `config.labels: ["key=value", …, "bundle=<dir>"]`):
 *     containerd CRI  io.kubernetes.cri.sandbox-namespace / sandbox-name / container-name
 *     CRI-O, dockershim labels  io.kubernetes.pod.namespace / io.kubernetes.pod.name / io.kubernetes.container.name
 *     nerdctl         nerdctl/name (when present)
 *   Podman 4.3 writes no name into the bundle (only io.container.manager=libpod, io.podman.annotations.*);
 *   its names live in containers/storage's <graphroot>/<driver>-containers/containers.json (`names`).
 *   Docker: <docker root>/containers/<id>/config.v2.json `Name` ("/web" → "web") and `Config.Labels`.
 *
 * Pure parsers first; the I/O is in findNameSources() at the end, with every root a parameter.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Where to look; tests point these at a temp dir. */
export type NameRoots = {
  /** Docker data roots (holding containers/<id>/config.v2.json). */
  dockerData: string[];
  /** containers/storage graph and run roots (holding <driver>-containers/). */
  containersStorage: string[];
  /** OCI runtime state roots: <root>/<id>/state.json (runc) or status (crun), or <root>/<ns>/<id>/…. */
  ociState: string[];
  /** containerd shim v2 bundles: <root>/<namespace>/<id>/config.json. */
  containerdTasks: string[];
};

export const DEFAULT_NAME_ROOTS: NameRoots = {
  dockerData: ["/var/lib/docker"],
  containersStorage: ["/var/lib/containers/storage", "/run/containers/storage"],
  ociState: ["/run/runc", "/run/crun", "/run/docker/runtime-runc", "/run/containerd/runc"],
  containerdTasks: ["/run/containerd/io.containerd.runtime.v2.task"],
};

/** A file that yielded names, for `identify` to show where a name came from. */
export type NameSource = { path: string; names: string[] };

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(d: Dict, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = d[k];
    if (typeof v === "string" && v !== "") return v;
  }
  return undefined;
}

/**
 * Names from OCI annotations or Docker labels: `namespace/pod/container` and the bare container
 * name for Kubernetes, `nerdctl/name` for nerdctl. A pod sandbox (pause) yields nothing.
 */
export function namesFromAnnotations(ann: Dict): string[] {
  const type = str(ann, "io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType", "io.kubernetes.docker.type");
  if (type === "sandbox" || type === "podsandbox") return [];
  const names: string[] = [];
  const ns = str(ann, "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace");
  const pod = str(ann, "io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name");
  const ctr = str(ann, "io.kubernetes.cri.container-name", "io.kubernetes.container.name");
  if (ns !== undefined && pod !== undefined && ctr !== undefined) names.push(`${ns}/${pod}/${ctr}`);
  if (ctr !== undefined) names.push(ctr);
  const nerdctl = str(ann, "nerdctl/name");
  if (nerdctl !== undefined) names.push(nerdctl);
  return names;
}

/** Names from Docker's config.v2.json: `Name` without its leading slash, plus Kubernetes labels. */
export function namesFromDockerConfig(config: unknown): string[] {
  if (!isDict(config)) return [];
  const labels = isDict(config.Config) && isDict(config.Config.Labels) ? config.Config.Labels : {};
  const name = typeof config.Name === "string" ? config.Name.replace(/^\//, "") : "";
  return [...namesFromAnnotations(labels), ...(name === "" ? [] : [name])];
}

/** Names of container `id` in a containers/storage containers.json (Podman, CRI-O). */
export function namesFromContainersJson(list: unknown, id: string): string[] {
  if (!Array.isArray(list)) return [];
  const entry: unknown = list.find((c) => isDict(c) && c.id === id);
  if (!isDict(entry) || !Array.isArray(entry.names)) return [];
  return entry.names.filter((n): n is string => typeof n === "string" && n !== "");
}

/** The bundle directory and annotations recorded in a runc state.json or a crun status file. */
export function parseOciState(state: unknown): { bundle: string | null; annotations: Dict } {
  if (!isDict(state)) return { bundle: null, annotations: {} };
  const labels = isDict(state.config) && Array.isArray(state.config.labels) ? state.config.labels : [];
  const annotations: Dict = {};
  for (const l of labels) {
    const eq = typeof l === "string" ? l.indexOf("=") : -1;
    if (eq > 0) annotations[(l as string).slice(0, eq)] = (l as string).slice(eq + 1);
  }
  const bundle = str(state, "bundle") ?? str(annotations, "bundle") ?? null;
  delete annotations.bundle;
  return { bundle, annotations };
}

function dedupe(names: string[]): string[] {
  return [...new Set(names)];
}

// ---- I/O: everything below reads files; a missing or malformed file is skipped, never fatal ----

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Candidate paths for container `id`, flat and one namespace level deep. */
function candidates(roots: string[], ...tail: string[]): string[] {
  return roots.flatMap((r) => [path.join(r, ...tail), ...subdirs(r).map((ns) => path.join(r, ns, ...tail))]);
}

/** Every state file that names container `id`, with the names it gave. */
export function findNameSources(id: string, roots: NameRoots = DEFAULT_NAME_ROOTS): NameSource[] {
  // The ID becomes part of paths: accept nothing but a 64-hex ID.
  if (!/^[0-9a-f]{64}$/.test(id)) return [];
  const sources: NameSource[] = [];
  const add = (p: string, names: string[]) => {
    if (names.length > 0) sources.push({ path: p, names });
  };
  const bundles = new Set<string>();
  for (const p of [...candidates(roots.ociState, id, "state.json"), ...candidates(roots.ociState, id, "status")]) {
    if (!existsSync(p)) continue;
    const { bundle, annotations } = parseOciState(readJson(p));
    add(p, namesFromAnnotations(annotations));
    if (bundle !== null) bundles.add(path.join(bundle, "config.json"));
  }
  for (const r of roots.containerdTasks) for (const ns of subdirs(r)) bundles.add(path.join(r, ns, id, "config.json"));
  for (const r of roots.containersStorage) {
    for (const d of subdirs(r).filter((d) => d.endsWith("-containers"))) {
      bundles.add(path.join(r, d, id, "userdata", "config.json"));
      const list = path.join(r, d, "containers.json");
      if (existsSync(list)) add(list, namesFromContainersJson(readJson(list), id));
    }
  }
  for (const b of bundles) {
    const spec = existsSync(b) ? readJson(b) : undefined;
    if (isDict(spec) && isDict(spec.annotations)) add(b, namesFromAnnotations(spec.annotations));
  }
  for (const r of roots.dockerData) {
    const p = path.join(r, "containers", id, "config.v2.json");
    if (existsSync(p)) add(p, namesFromDockerConfig(readJson(p)));
  }
  return sources;
}

/** All names of container `id`, Kubernetes `namespace/pod/container` forms first, no duplicates. */
export function resolveContainerNames(id: string, roots: NameRoots = DEFAULT_NAME_ROOTS): string[] {
  const all = findNameSources(id, roots).flatMap((s) => s.names);
  return dedupe([...all.filter((n) => n.split("/").length === 3), ...all]);
}
