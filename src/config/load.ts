/**
 * Reads the configuration: the file named by CRIU_COORDINATOR_CONFIG, else
 * /etc/criu-coordinator/config.toml, else the embedded default. Every error names the file, the
 * line and column, and what was expected.
 */
import { readFileSync } from "node:fs";
import { parse, TomlError } from "smol-toml";
import { parseDuration } from "./duration.ts";
import { locate } from "./locate.ts";
import {
  CONFIG_ENV,
  DEFAULT_CONFIG_PATH,
  DEFAULTS,
  embeddedDefault,
  type ClusterConfig,
  type CompatConfig,
  type Config,
  type EtcdConfig,
  type GroupConfig,
  type LogLevel,
} from "./schema.ts";

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    // Line 0: about the file as a whole (it can not be read), not a place in it.
    super(line > 0 ? `${file}:${line}:${column}: ${detail}` : `${file}: ${detail}`);
    this.name = "ConfigError";
  }
}

/** The path the configuration is read from, by the rules above. */
export function configPath(env: Record<string, string | undefined> = process.env): string {
  return env[CONFIG_ENV] || DEFAULT_CONFIG_PATH;
}

/**
 * Loads the configuration. A missing file is the embedded default unless `required` (an explicit
 * path given by the user must exist).
 */
export function loadConfig(path: string = configPath(), opts: { required?: boolean } = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !opts.required) return embeddedDefault();
    throw new ConfigError(path, 0, 0, `Cannot read the configuration: ${code ?? (e as Error).message}`);
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, file: string): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new ConfigError(file, e.line, e.column, `Invalid TOML: ${first}`);
    }
    throw e;
  }
  const v = new Validator(text, file);
  v.keys(doc, [], ["daemon", "hook", "group", "cluster", "compat", "backend"]);

  const daemonTable = v.table(doc.daemon, ["daemon"]);
  v.keys(daemonTable, ["daemon"], ["socket", "log_level"]);
  const socket = v.string(daemonTable.socket, ["daemon", "socket"], DEFAULTS.socket);
  if (!socket.startsWith("/")) v.fail(["daemon", "socket"], `expected an absolute path for daemon.socket, got "${socket}"`);
  const logLevel = v.oneOf(daemonTable.log_level, ["daemon", "log_level"], ["error", "warn", "info", "debug"], DEFAULTS.logLevel) as LogLevel;

  const hookTable = v.table(doc.hook, ["hook"]);
  v.keys(hookTable, ["hook"], ["unreachable"]);
  const unreachable = v.oneOf(hookTable.unreachable, ["hook", "unreachable"], ["fail", "skip"], DEFAULTS.unreachable) as "fail" | "skip";

  const groups = v.groups(doc.group);
  const etcd = v.backend(doc.backend, doc.cluster);
  const cluster = doc.cluster === undefined || etcd ? undefined : v.cluster(doc.cluster);
  const compat = doc.compat === undefined ? undefined : v.compat(doc.compat);
  return { source: file, daemon: { socket, logLevel }, hook: { unreachable }, groups, ...(cluster ? { cluster } : {}), ...(compat ? { compat } : {}), ...(etcd ? { etcd } : {}) };
}

type Path = (string | number)[];

class Validator {
  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  fail(path: Path, detail: string): never {
    const { line, column } = locate(this.text, path);
    throw new ConfigError(this.file, line, column, detail);
  }

  table(value: unknown, path: Path): Record<string, unknown> {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail(path, `expected a table [${path.join(".")}]`);
    return value as Record<string, unknown>;
  }

  keys(table: Record<string, unknown>, path: Path, allowed: readonly string[]): void {
    for (const key of Object.keys(table)) {
      if (allowed.includes(key)) continue;
      const where = path.length ? `[${path.filter((p) => typeof p === "string").join(".")}]` : "the top level";
      this.fail([...path, key], `unknown key "${key}" in ${where}; expected one of: ${allowed.join(", ")}`);
    }
  }

  string(value: unknown, path: Path, fallback?: string): string {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== "string" || value.length === 0) this.fail(path, `expected a non-empty string for ${name(path)}`);
    return value;
  }

  oneOf(value: unknown, path: Path, allowed: readonly string[], fallback: string): string {
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !allowed.includes(value)) {
      this.fail(path, `expected one of ${allowed.map((a) => `"${a}"`).join(", ")} for ${name(path)}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  stringList(value: unknown, path: Path): string[] {
    if (!Array.isArray(value) || value.some((s) => typeof s !== "string" || s.length === 0)) {
      this.fail(path, `expected a list of non-empty strings for ${name(path)}`);
    }
    return value as string[];
  }

  groups(value: unknown): GroupConfig[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(["group"], "expected [[group]] tables (an array of tables)");
    const seenNames = new Set<string>();
    const memberOf = new Map<string, string>();
    return value.map((raw, i) => {
      const path: Path = ["group", i];
      const t = this.table(raw, path);
      this.keys(t, path, ["name", "members", "dependencies", "timeout"]);
      const groupName = this.string(t.name, [...path, "name"]);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(groupName)) {
        this.fail([...path, "name"], `expected a group name of letters, digits, ".", "_" or "-", got "${groupName}"`);
      }
      if (seenNames.has(groupName)) this.fail([...path, "name"], `group "${groupName}" is defined twice`);
      seenNames.add(groupName);
      const members = this.stringList(t.members, [...path, "members"]);
      if (members.length === 0) this.fail([...path, "members"], `group "${groupName}" has no members`);
      for (const m of members) {
        const other = memberOf.get(m);
        if (other === groupName) this.fail([...path, "members"], `member "${m}" is listed twice in group "${groupName}"`);
        if (other) this.fail([...path, "members"], `member "${m}" is in groups "${other}" and "${groupName}"; a participant belongs to one group`);
        memberOf.set(m, groupName);
      }
      let dependencies: Record<string, string[]> | undefined;
      if (t.dependencies !== undefined) {
        const deps = this.table(t.dependencies, [...path, "dependencies"]);
        dependencies = {};
        for (const [who, list] of Object.entries(deps)) {
          const at: Path = [...path, "dependencies", who];
          if (!members.includes(who)) this.fail(at, `dependencies name "${who}", which is not a member of group "${groupName}"`);
          const ds = this.stringList(list, at);
          for (const d of ds) if (!members.includes(d)) this.fail(at, `"${who}" depends on "${d}", which is not a member of group "${groupName}"`);
          dependencies[who] = ds;
        }
      }
      const ms = t.timeout === undefined ? DEFAULTS.timeoutMs : parseDuration(t.timeout);
      if (typeof ms === "string") this.fail([...path, "timeout"], `group "${groupName}" timeout: ${ms}`);
      return { name: groupName, members, ...(dependencies ? { dependencies } : {}), timeoutMs: ms };
    });
  }

  cluster(value: unknown): ClusterConfig {
    const t = this.table(value, ["cluster"]);
    this.keys(t, ["cluster"], ["node", "listen", "advertise", "peers", "key_file"]);
    const node = t.node === undefined ? hostName() : this.string(t.node, ["cluster", "node"]);
    const listen = this.address(t.listen ?? `0.0.0.0:${DEFAULTS.clusterPort}`, ["cluster", "listen"]);
    const advertise = t.advertise === undefined ? undefined : this.address(t.advertise, ["cluster", "advertise"]);
    const peers = t.peers === undefined ? [] : this.stringList(t.peers, ["cluster", "peers"]).map((p) => this.address(p, ["cluster", "peers"]));
    const keyFile = t.key_file === undefined ? undefined : this.string(t.key_file, ["cluster", "key_file"]);
    return { node, listen, ...(advertise ? { advertise } : {}), peers, ...(keyFile ? { keyFile } : {}) };
  }

  /** [backend]: undefined for gossip (the default), the etcd settings for kind = "etcd". */
  backend(value: unknown, clusterValue: unknown): EtcdConfig | undefined {
    const t = this.table(value, ["backend"]);
    const etcdKeys = ["endpoints", "prefix", "ca_file", "cert_file", "key_file", "lease_ttl"];
    this.keys(t, ["backend"], ["kind", ...etcdKeys]);
    const kind = this.oneOf(t.kind, ["backend", "kind"], ["gossip", "etcd"], "gossip");
    if (kind === "gossip") {
      const stray = etcdKeys.find((k) => t[k] !== undefined);
      if (stray) this.fail(["backend", stray], `backend.${stray} applies to kind = "etcd" only; this backend is "gossip"`);
      return undefined;
    }
    const c = this.table(clusterValue, ["cluster"]);
    const gossipOnly = Object.keys(c).find((k) => k !== "node");
    if (gossipOnly) this.fail(["cluster", gossipOnly], `cluster.${gossipOnly} is for the gossip backend; with backend.kind = "etcd" only cluster.node is read`);
    const node = c.node === undefined ? hostName() : this.string(c.node, ["cluster", "node"]);
    if (t.endpoints === undefined) this.fail(["backend"], `expected endpoints = ["http://host:2379", …] in [backend] with kind = "etcd"`);
    const endpoints = this.stringList(t.endpoints, ["backend", "endpoints"]);
    if (endpoints.length === 0) this.fail(["backend", "endpoints"], "expected at least one etcd endpoint in backend.endpoints");
    for (const e of endpoints) {
      if (!/^https?:\/\/(\[[0-9a-fA-F:]+\]|[^\s/:[\]]+):\d{1,5}\/?$/.test(e)) {
        this.fail(["backend", "endpoints"], `expected http://host:port or https://host:port in backend.endpoints, got "${e}"`);
      }
    }
    const prefix = this.string(t.prefix, ["backend", "prefix"], DEFAULTS.etcdPrefix);
    if (!/^\/[\x21-\x7e]*[\x21-\x2e\x30-\x7e]$/.test(prefix)) this.fail(["backend", "prefix"], `expected a key prefix of printable ASCII that starts with "/" and does not end with "/" for backend.prefix, got "${prefix}"`);
    const file = (k: string) => (t[k] === undefined ? undefined : this.string(t[k], ["backend", k]));
    const caFile = file("ca_file");
    const certFile = file("cert_file");
    const keyFile = file("key_file");
    if ((certFile === undefined) !== (keyFile === undefined)) {
      this.fail(["backend", certFile === undefined ? "key_file" : "cert_file"], "expected both backend.cert_file and backend.key_file (a client certificate and its key), or neither");
    }
    if ((caFile || certFile) && endpoints.some((e) => e.startsWith("http:"))) {
      this.fail(["backend", "endpoints"], "backend.ca_file/cert_file are set but an endpoint is http://; use https:// endpoints for TLS");
    }
    const ttl = t.lease_ttl === undefined ? DEFAULTS.etcdLeaseTtlMs : parseDuration(t.lease_ttl);
    if (typeof ttl === "string") this.fail(["backend", "lease_ttl"], `backend.lease_ttl: ${ttl}`);
    if (ttl < 2_000 || ttl > 300_000) this.fail(["backend", "lease_ttl"], `expected backend.lease_ttl between 2s and 5m, got ${ttl / 1000}s`);
    return {
      kind: "etcd",
      endpoints: endpoints.map((e) => e.replace(/\/$/, "")),
      prefix,
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
      leaseTtlMs: ttl,
      node,
    };
  }

  compat(value: unknown): CompatConfig {
    const t = this.table(value, ["compat"]);
    this.keys(t, ["compat"], ["listen", "wait_timeout"]);
    if (t.listen === undefined) this.fail(["compat"], `expected listen = "host:port" in [compat], e.g. "127.0.0.1:8080"`);
    const listen = this.address(t.listen, ["compat", "listen"]);
    const ms = t.wait_timeout === undefined ? DEFAULTS.timeoutMs : parseDuration(t.wait_timeout);
    if (typeof ms === "string") this.fail(["compat", "wait_timeout"], `compat.wait_timeout: ${ms}`);
    return { listen, waitTimeoutMs: ms };
  }

  address(value: unknown, path: Path): string {
    const s = this.string(value, path);
    const m = /^(\[[0-9a-fA-F:]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(s);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) this.fail(path, `expected host:port for ${name(path)}, got "${s}"`);
    return s;
  }
}

function name(path: Path): string {
  return path.filter((p) => typeof p === "string").join(".");
}

function hostName(): string {
  try {
    return readFileSync("/proc/sys/kernel/hostname", "utf8").trim() || "localhost";
  } catch {
    return "localhost";
  }
}
