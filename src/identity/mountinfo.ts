/**
 * Pure parsing of /proc/<pid>/mountinfo, used as the fallback when a process sits at the root of
 * its own cgroup namespace (`0::/`) and the cgroup file names no container at all.
 *
 * Two sources, in this order (container-ids.md, section 4 step 4):
 *   1. the root of a cgroup/cgroup2 mount (runc may mount the cgroupfs before entering the cgroupns,
 *      so the mount root still carries `crio-<id>.scope` or similar): returned as `cgroupRoots`;
 *   2. the host-side source of the bind mounts the runtime makes for /etc/hostname,
 *      /run/.containerenv, /etc/hosts and /etc/resolv.conf, which live in a per-container directory.
 */

/** One mountinfo line, only the fields the identity code needs. */
export type MountEntry = {
  /** 1-based line number in the mountinfo text. */
  line: number;
  /** Path inside the source filesystem that is mounted (field 4), octal escapes decoded. */
  root: string;
  mountPoint: string;
  fsType: string;
};

/** A container ID found in a bind-mount source. */
export type BindMountId = {
  id: string;
  runtime: string;
  rule: "mountinfo-bind-mount" | "mountinfo-sandbox";
  line: number;
  mountPoint: string;
  root: string;
};

// Mount points that runtimes bind-mount from a per-container directory, best first: /etc/hostname
// and /run/.containerenv are per container, /etc/hosts and /etc/resolv.conf may be per pod.
const ID_MOUNT_POINTS = ["/etc/hostname", "/run/.containerenv", "/etc/hosts", "/etc/resolv.conf"];

// Each pattern captures the 64-hex directory name. Order matters only for the runtime label.
const BIND_SOURCES: { re: RegExp; runtime: string; rule: BindMountId["rule"] }[] = [
  // Docker: <docker root>/containers/<id>/hostname (root may start at /containers if
  // /var/lib/docker is its own filesystem)
  { re: /(?:^|\/)containers\/([0-9a-f]{64})\/[^/]+$/, runtime: "docker", rule: "mountinfo-bind-mount" },
  // Podman and CRI-O (containers/storage): <runroot or graphroot>/<driver>-containers/<id>/userdata/…
  { re: /-containers\/([0-9a-f]{64})\/userdata\/[^/]+$/, runtime: "containers-storage", rule: "mountinfo-bind-mount" },
  // containerd CRI: …/io.containerd.grpc.v1.cri/sandboxes/<pod sandbox id>/hostname
  { re: /\/sandboxes\/([0-9a-f]{64})\/[^/]+$/, runtime: "containerd", rule: "mountinfo-sandbox" },
];

/** Decodes the kernel's octal escapes (`\040` for a space) in mountinfo paths. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text; malformed lines are skipped, never fatal. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const fields = raw.trim().split(" ");
    const sep = fields.indexOf("-");
    const root = fields[3];
    const mountPoint = fields[4];
    const fsType = fields[sep + 1];
    // At least 6 fields before the optional fields, then "-", then fstype.
    if (sep < 6 || root === undefined || mountPoint === undefined || fsType === undefined) return;
    entries.push({ line: i + 1, root: unescapeOctal(root), mountPoint: unescapeOctal(mountPoint), fsType });
  });
  return entries;
}

/** Roots of cgroup v1/v2 mounts that are not `/` (candidates for the cgroup path walk). */
export function cgroupMountRoots(mounts: MountEntry[]): MountEntry[] {
  return mounts.filter((m) => (m.fsType === "cgroup" || m.fsType === "cgroup2") && m.root !== "/");
}

/**
 * Container IDs found in bind-mount sources, best mount point first. Under Kubernetes with
 * containerd the ID is the pod sandbox's (rule `mountinfo-sandbox`), not the container's.
 */
export function bindMountIds(mounts: MountEntry[]): BindMountId[] {
  const found: BindMountId[] = [];
  const isPodman = mounts.some((m) => m.mountPoint === "/run/.containerenv");
  for (const mountPoint of ID_MOUNT_POINTS) {
    for (const m of mounts) {
      if (m.mountPoint !== mountPoint) continue;
      for (const src of BIND_SOURCES) {
        const id = src.re.exec(m.root)?.[1];
        if (id === undefined) continue;
        // /run/.containerenv exists only under Podman; without it containers-storage may be CRI-O.
        const runtime = src.runtime === "containers-storage" && isPodman ? "podman" : src.runtime;
        found.push({ id, runtime, rule: src.rule, line: m.line, mountPoint, root: m.root });
        break;
      }
    }
  }
  return found;
}
