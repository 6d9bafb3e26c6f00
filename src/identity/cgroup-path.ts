/**
 * Classifies ONE cgroup path (from a /proc/<pid>/cgroup line or a cgroup mount root): does it name
 * a container, a container monitor, a non-hex container (LXC, nspawn, Fargate) or nothing?
 *
 * Components are walked from the deepest to the root and the first one that any rule recognises
 * decides. That makes `…/<id>/kube-proxy`, `…/libpod-<id>.scope/container`, `…/init.scope` and
 * nested `/docker/<outer>/docker/<inner>` all resolve to the process's own (innermost) container,
 * and skips the `..` components a foreign cgroup namespace produces.
 */

export type IdRule = "runtime-prefix" | "systemd-colon" | "bare-id";
export type NamedRule = "lxc-payload" | "nspawn-machine" | "fargate-task";

export type PathFinding =
  | { kind: "id"; id: string; runtime: string | null; rule: IdRule; component: string }
  | { kind: "monitor"; runtime: string; component: string }
  | { kind: "named"; name: string; runtime: string; rule: NamedRule; component: string }
  | { kind: "none" };

const HEX64 = /^[0-9a-f]{64}$/;

// Longest first: "libpod-payload-" must be tried before "libpod-". Monitors ("libpod-conmon-",
// "crio-conmon-") are checked before any of these.
const ID_PREFIXES: readonly (readonly [string, string])[] = [
  ["cri-containerd-", "containerd"],
  ["libpod-payload-", "podman"], // podman --cgroups=split
  ["containerd-", "containerd"],
  ["nerdctl-", "nerdctl"],
  ["docker-", "docker"],
  ["libpod-", "podman"],
  ["crio-", "crio"],
];

// Tag between the last two colons of the containerd/kubelet `slice:prefix:id` form.
const COLON_TAGS: Record<string, string> = {
  "cri-containerd": "containerd",
  crio: "crio",
  docker: "docker",
  libpod: "podman",
};

const MONITOR_PREFIXES: readonly (readonly [string, string])[] = [
  ["libpod-conmon-", "podman"],
  ["crio-conmon-", "crio"],
  ["lxc.monitor.", "lxc"],
];

/** Undoes systemd unit-name escaping (`\x2d` → `-`) used in `machine-<name>.scope`. */
export function systemdUnescape(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Runtime of a bare 64-hex component, guessed from the nearest telling ancestor. */
function runtimeFromAncestors(ancestors: string[]): string | null {
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const a = ancestors[i] ?? "";
    if (a === "docker" || a === "actions_job") return "docker";
    if (a === "libpod_parent") return "podman";
    if (a.startsWith("kubepods")) return "kubernetes";
    if (a === "ecs") return "ecs";
  }
  return null;
}

/** Strips `.scope` and one known runtime prefix; returns the ID if what remains is 64 hex. */
function idFromComponent(comp: string, ancestors: string[]): PathFinding {
  const colon = comp.split(":");
  if (colon.length >= 3) {
    const id = colon[colon.length - 1] ?? "";
    const tag = colon[colon.length - 2] ?? "";
    if (HEX64.test(id)) return { kind: "id", id, runtime: COLON_TAGS[tag] ?? null, rule: "systemd-colon", component: comp };
  }
  const base = comp.endsWith(".scope") ? comp.slice(0, -".scope".length) : comp;
  for (const [prefix, runtime] of ID_PREFIXES) {
    const rest = base.startsWith(prefix) ? base.slice(prefix.length) : "";
    if (HEX64.test(rest)) return { kind: "id", id: rest, runtime, rule: "runtime-prefix", component: comp };
  }
  if (HEX64.test(base)) {
    return { kind: "id", id: base, runtime: runtimeFromAncestors(ancestors), rule: "bare-id", component: comp };
  }
  return { kind: "none" };
}

/** Monitors share the container's ID or name but are not the container: never identify them. */
function monitorFromComponent(comp: string, parent: string | undefined): PathFinding {
  for (const [prefix, runtime] of MONITOR_PREFIXES) {
    if (comp.startsWith(prefix)) return { kind: "monitor", runtime, component: comp };
  }
  if (parent === "lxc.monitor") return { kind: "monitor", runtime: "lxc", component: comp };
  // podman's cgroupfs manager puts every conmon in one shared /libpod_parent/conmon
  if (comp === "conmon" && parent === "libpod_parent") return { kind: "monitor", runtime: "podman", component: comp };
  // systemd-nspawn runs itself in <scope>/supervisor next to <scope>/payload
  if (comp === "supervisor" && parent?.startsWith("machine-")) {
    return { kind: "monitor", runtime: "nspawn", component: comp };
  }
  return { kind: "none" };
}

/** LXC/Incus/LXD, systemd-nspawn machines and ECS Fargate tasks have names, not 64-hex IDs. */
function namedFromComponent(comp: string, ancestors: string[]): PathFinding {
  const parent = ancestors[ancestors.length - 1];
  if (comp.startsWith("lxc.payload.") && comp.length > "lxc.payload.".length) {
    return { kind: "named", name: comp.slice("lxc.payload.".length), runtime: "lxc", rule: "lxc-payload", component: comp };
  }
  // LXC 4.0.0-4.0.5 used lxc.payload/<name>; LXC <= 3 and LXD <= 3 used /lxc/<name> at the root
  if (parent === "lxc.payload" || (parent === "lxc" && ancestors.length === 1)) {
    return { kind: "named", name: comp, runtime: "lxc", rule: "lxc-payload", component: comp };
  }
  const machine = /^machine-(.+)\.scope$/.exec(comp)?.[1];
  if (machine !== undefined) {
    const name = systemdUnescape(machine);
    // libvirt registers its VMs and LXC domains as machines too
    const runtime = name.startsWith("qemu-") || name.startsWith("lxc-") ? "libvirt" : "nspawn";
    return { kind: "named", name, runtime, rule: "nspawn-machine", component: comp };
  }
  // Fargate 1.4: /ecs/<32-hex task>/<32-hex task>-<digits>
  if (/^[0-9a-f]{32}-\d+$/.test(comp) && ancestors.includes("ecs")) {
    return { kind: "named", name: comp, runtime: "ecs-fargate", rule: "fargate-task", component: comp };
  }
  return { kind: "none" };
}

/** Classifies a cgroup path; the deepest recognised component decides. */
export function classifyCgroupPath(path: string): PathFinding {
  // ".." and "." come from paths relative to a foreign cgroup namespace: they name no cgroup.
  const comps = path.split("/").filter((c) => c !== "" && c !== "." && c !== "..");
  for (let i = comps.length - 1; i >= 0; i--) {
    const comp = comps[i] ?? "";
    const ancestors = comps.slice(0, i);
    for (const finding of [
      monitorFromComponent(comp, ancestors[ancestors.length - 1]),
      idFromComponent(comp, ancestors),
      namedFromComponent(comp, ancestors),
    ]) {
      if (finding.kind !== "none") return finding;
    }
  }
  return { kind: "none" };
}
