/**
 * The configuration contract (TOML), its defaults, and the conversion to barrier group specs.
 * Defaults live here and only here, one comment per value.
 */
import type { GroupSpec } from "../barrier/types.ts";

export interface DaemonConfig {
  /** Unix socket for hook calls, `status` and `abort`. */
  readonly socket: string;
  readonly logLevel: LogLevel;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface GroupConfig {
  readonly name: string;
  readonly members: readonly string[];
  readonly dependencies?: Readonly<Record<string, readonly string[]>>;
  readonly timeoutMs: number;
}

export interface ClusterConfig {
  /** This node's name in the cluster. */
  readonly node: string;
  /** host:port for peer traffic. */
  readonly listen: string;
  /** host:port peers use to reach this node, when it differs from listen. */
  readonly advertise?: string;
  /** Seed peers, host:port. */
  readonly peers: readonly string[];
  /** Keyring file: one base64 key per line, the first is primary. Required when peers are set. */
  readonly keyFile?: string;
}

/**
 * [backend] kind = "etcd": barrier state in an etcd cluster (see docs/etcd.md) instead of gossip.
 * The node name is [cluster] node, else the host name; no other [cluster] key applies.
 */
export interface EtcdConfig {
  readonly kind: "etcd";
  /** Client URLs, http(s)://host:port; the first reachable one is used. */
  readonly endpoints: readonly string[];
  /** Key prefix, "/criu-coordinator" by default; no trailing slash. */
  readonly prefix: string;
  /** TLS: CA bundle to verify the servers, and a client certificate and key (both or neither). */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** TTL of this daemon's lease: its keys expire this long after it stops renewing them. */
  readonly leaseTtlMs: number;
  /** This node's name: [cluster] node, else the host name. */
  readonly node: string;
}

export interface HookConfig {
  /**
   * What a configured participant's hook does when the daemon can not be reached before its
   * deadline: "fail" (default) makes CRIU abort, so nothing runs uncoordinated; "skip" lets CRIU
   * go on uncoordinated, as the reference criu-coordinator does.
   */
  readonly unreachable: "fail" | "skip";
}

/** The opt-in listener for the reference criu-coordinator's TCP protocol (see docs/migration.md). */
export interface CompatConfig {
  /** host:port, e.g. "127.0.0.1:8080" (the reference's default). */
  readonly listen: string;
  /** Wait timeout of implicit groups (reference clients outside configured groups). */
  readonly waitTimeoutMs: number;
}

export interface Config {
  /** Where this configuration came from: a file path, or "embedded default". */
  readonly source: string;
  readonly daemon: DaemonConfig;
  readonly hook: HookConfig;
  readonly groups: readonly GroupConfig[];
  readonly cluster?: ClusterConfig;
  readonly compat?: CompatConfig;
  /** Set when [backend] kind = "etcd"; otherwise [cluster] (if any) federates by gossip. */
  readonly etcd?: EtcdConfig;
}

export const DEFAULT_CONFIG_PATH = "/etc/criu-coordinator/config.toml";
export const CONFIG_ENV = "CRIU_COORDINATOR_CONFIG";

/** The reference criu-coordinator's JSON files, read by the hook as a fallback (src/compat/legacy-config.ts). */
export const LEGACY = {
  /** Per process, in the images directory; wins for every hook, as in the reference. */
  localFile: "criu-coordinator.json",
  /** Global: address, port, log-file and the dependencies map, used at dump hooks. */
  globalPath: "/etc/criu/criu-coordinator.json",
  /** Overrides globalPath (tests, or another location). */
  env: "CRIU_COORDINATOR_LEGACY_CONFIG",
  /** Dump hooks that may identify the process against the global map, as in the reference. */
  dumpHooks: ["pre-dump", "network-lock", "post-dump"] as readonly string[],
} as const;

export const DEFAULTS = {
  /** Under /run so it disappears at reboot; systemd's socket unit creates the same path. */
  socket: "/run/criu-coordinator/coordinator.sock",
  logLevel: "info" as LogLevel,
  /** The reference tool's --wait-timeout default; long enough for a dump of a few GiB on local disk. */
  timeoutMs: 30_000,
  unreachable: "fail" as const,
  /** memberlist's default port, for peer traffic. */
  clusterPort: 7946,
  /** Keys of every group live under it; several installations can share one etcd with their own. */
  etcdPrefix: "/criu-coordinator",
  /** A dead daemon's arrivals expire after this; renewed every third of it, so 3 lost renewals in a row. */
  etcdLeaseTtlMs: 10_000,
};

/** The configuration used when no file exists: a local daemon with no groups. */
export function embeddedDefault(): Config {
  return {
    source: "embedded default",
    daemon: { socket: DEFAULTS.socket, logLevel: DEFAULTS.logLevel },
    hook: { unreachable: DEFAULTS.unreachable },
    groups: [],
  };
}

export function groupSpecs(config: Config): GroupSpec[] {
  return config.groups.map((g) => ({
    name: g.name,
    members: g.members,
    dependencies: g.dependencies,
    timeoutMs: g.timeoutMs,
  }));
}
