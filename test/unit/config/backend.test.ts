import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { DEFAULTS } from "../../../src/config/schema.ts";

const F = "b.toml";
const G = `[[group]]\nname = "g"\nmembers = ["a"]\n`;

function errorOf(text: string): string {
  try {
    parseConfig(text, F);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("[backend]", () => {
  test("kind = etcd: endpoints, defaults, node from [cluster]", () => {
    const c = parseConfig(`[backend]\nkind = "etcd"\nendpoints = ["http://10.0.0.5:2379/", "http://10.0.0.6:2379"]\n\n[cluster]\nnode = "n1"\n${G}`, F);
    expect(c.etcd).toEqual({ kind: "etcd", endpoints: ["http://10.0.0.5:2379", "http://10.0.0.6:2379"], prefix: DEFAULTS.etcdPrefix, leaseTtlMs: DEFAULTS.etcdLeaseTtlMs, node: "n1" });
    expect(c.cluster).toBeUndefined();
  });

  test("TLS files, prefix and lease TTL; the node defaults to the host name", () => {
    const c = parseConfig(
      `[backend]\nkind = "etcd"\nendpoints = ["https://etcd.example:2379"]\nprefix = "/site-a/cc"\nca_file = "/etc/ca.pem"\ncert_file = "/etc/c.pem"\nkey_file = "/etc/k.pem"\nlease_ttl = "3s"\n`,
      F,
    );
    expect(c.etcd).toMatchObject({ prefix: "/site-a/cc", caFile: "/etc/ca.pem", certFile: "/etc/c.pem", keyFile: "/etc/k.pem", leaseTtlMs: 3_000 });
    expect(c.etcd!.node.length).toBeGreaterThan(0);
  });

  test("no [backend], or kind = gossip, keeps gossip federation through [cluster]", () => {
    const c = parseConfig(`[backend]\nkind = "gossip"\n\n[cluster]\nnode = "n1"\npeers = ["10.0.0.2:7946"]\n`, F);
    expect(c.etcd).toBeUndefined();
    expect(c.cluster?.peers).toEqual(["10.0.0.2:7946"]);
    expect(parseConfig(G, F).etcd).toBeUndefined();
  });

  test.each([
    [`[backend]\nkind = "zookeeper"\n`, `b.toml:2:1: expected one of "gossip", "etcd" for backend.kind, got "zookeeper"`],
    [`[backend]\nkind = "etcd"\n`, `b.toml:1:1: expected endpoints = ["http://host:2379", …] in [backend] with kind = "etcd"`],
    [`[backend]\nkind = "etcd"\nendpoints = []\n`, "b.toml:3:1: expected at least one etcd endpoint in backend.endpoints"],
    [`[backend]\nkind = "etcd"\nendpoints = ["10.0.0.5:2379"]\n`, `b.toml:3:1: expected http://host:port or https://host:port in backend.endpoints, got "10.0.0.5:2379"`],
    [`[backend]\nkind = "etcd"\nendpoints = ["http://h:2379"]\nprefix = "/x/"\n`, `b.toml:4:1: expected a key prefix of printable ASCII that starts with "/" and does not end with "/" for backend.prefix, got "/x/"`],
    [`[backend]\nkind = "etcd"\nendpoints = ["https://h:2379"]\ncert_file = "/c"\n`, "b.toml:4:1: expected both backend.cert_file and backend.key_file (a client certificate and its key), or neither"],
    [`[backend]\nkind = "etcd"\nendpoints = ["http://h:2379"]\nca_file = "/ca"\n`, "b.toml:3:1: backend.ca_file/cert_file are set but an endpoint is http://; use https:// endpoints for TLS"],
    [`[backend]\nkind = "etcd"\nendpoints = ["http://h:2379"]\nlease_ttl = "1s"\n`, "b.toml:4:1: expected backend.lease_ttl between 2s and 5m, got 1s"],
    [`[backend]\nkind = "etcd"\nendpoints = ["http://h:2379"]\n\n[cluster]\nnode = "n1"\npeers = ["10.0.0.2:7946"]\n`, `b.toml:7:1: cluster.peers is for the gossip backend; with backend.kind = "etcd" only cluster.node is read`],
    [`[backend]\nendpoints = ["http://h:2379"]\n`, `b.toml:2:1: backend.endpoints applies to kind = "etcd" only; this backend is "gossip"`],
    [`[backend]\nkind = "etcd"\nendpoint = ["http://h:2379"]\n`, "b.toml:3:1: unknown key \"endpoint\" in [backend]; expected one of: kind, endpoints, prefix, ca_file, cert_file, key_file, lease_ttl"],
  ])("rejects %j", (text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});
