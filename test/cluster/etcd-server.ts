/**
 * A throw-away single-member etcd for tests (Debian 12: etcd-server, etcd-client), on its own data
 * directory and ports: on 127.0.0.1 with free ports, or inside a network namespace (netns.ts). It
 * never touches the system's etcd service. `kill()` stops it hard, `start()` brings it back on the
 * same data (the keys survive), `get()` reads keys with etcdctl for inspection.
 */
import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export function etcdMissing(): string | undefined {
  for (const cmd of ["etcd", "etcdctl"]) {
    if (Bun.spawnSync(["sh", "-c", `command -v ${cmd}`], { stdout: "pipe" }).exitCode !== 0) {
      return `${cmd} is not installed (apt-get install etcd-server etcd-client)`;
    }
  }
  return undefined;
}

/** A TCP port nobody listens on right now. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/**
 * A CA, a server certificate for `ip` and a client certificate, as files in `dir` (openssl). The
 * server certificate also allows client auth: with --client-cert-auth, etcd's JSON gateway dials
 * etcd's own gRPC port with it.
 */
export function makeCertificates(dir: string, ip = "127.0.0.1"): { ca: string; cert: string; key: string; serverCert: string; serverKey: string } {
  const f = (n: string) => join(dir, n);
  const script = `set -e; cd '${dir}'
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=test-ca
openssl req $ec -keyout server-key.pem -out server.csr -subj /CN=etcd
printf 'subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 1 -extfile server.ext
openssl req $ec -keyout client-key.pem -out client.csr -subj /CN=node
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client.pem -days 1 -extfile client.ext`;
  const r = Bun.spawnSync(["sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  return { ca: f("ca.pem"), cert: f("client.pem"), key: f("client-key.pem"), serverCert: f("server.pem"), serverKey: f("server-key.pem") };
}

export class EtcdServer {
  readonly dir = mkdtempSync(join(tmpdir(), "ccetcd-"));
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** With `tls`: https with client-certificate authentication. */
  certs: ReturnType<typeof makeCertificates> | undefined;
  proc: Subprocess | undefined;
  /** The member's name and the whole cluster's peers (`name=peerUrl,…`), for a multi-member etcd. */
  name = "t";
  initialCluster: string | undefined;
  #log = "";

  /** `netns`: run inside that namespace (`ip netns` name), `host` is then its address there. */
  constructor(
    readonly host = "127.0.0.1",
    readonly netns?: string,
    clientPort = netns ? 2379 : freePort(),
    peerPort = netns ? 2380 : freePort(),
    tls = false,
  ) {
    if (tls) this.certs = makeCertificates(this.dir, host);
    this.clientUrl = `${tls ? "https" : "http"}://${host}:${clientPort}`;
    this.peerUrl = `http://${host}:${peerPort}`;
  }

  #wrap(argv: string[]): string[] {
    return this.netns ? ["nsenter", `--net=/run/netns/${this.netns}`, ...argv] : argv;
  }

  async start(): Promise<this> {
    const argv = [
      "etcd",
      "--name", this.name,
      "--data-dir", join(this.dir, "data"),
      "--listen-client-urls", this.clientUrl,
      "--advertise-client-urls", this.clientUrl,
      "--listen-peer-urls", this.peerUrl,
      "--initial-advertise-peer-urls", this.peerUrl,
      "--initial-cluster", this.initialCluster ?? `${this.name}=${this.peerUrl}`,
      "--log-level", "warn",
      ...(this.certs ? ["--cert-file", this.certs.serverCert, "--key-file", this.certs.serverKey, "--client-cert-auth", "--trusted-ca-file", this.certs.ca] : []),
    ];
    this.proc = Bun.spawn(this.#wrap(argv), { stdout: "pipe", stderr: "pipe" });
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) this.#log += new TextDecoder().decode(c);
    };
    void collect(this.proc.stdout as ReadableStream<Uint8Array>);
    void collect(this.proc.stderr as ReadableStream<Uint8Array>);
    if (this.initialCluster) return this; // a member alone has no quorum: see startCluster()
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`etcd exited with ${this.proc.exitCode}:\n${this.#log}`);
      if (this.ctl(["endpoint", "health"]).ok) return this;
      await Bun.sleep(100);
    }
    throw new Error(`etcd did not become healthy:\n${this.#log}`);
  }

  /** Stops etcd at once (SIGKILL); the data directory stays for start(). */
  async kill(): Promise<void> {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
  }

  ctl(args: string[]): { ok: boolean; out: string } {
    const tls = this.certs ? [`--cacert=${this.certs.ca}`, `--cert=${this.certs.cert}`, `--key=${this.certs.key}`] : [];
    const r = Bun.spawnSync(this.#wrap(["etcdctl", `--endpoints=${this.clientUrl}`, ...tls, "--dial-timeout=1s", "--command-timeout=2s", ...args]), { stdout: "pipe", stderr: "pipe" });
    return { ok: r.exitCode === 0, out: r.stdout.toString() + r.stderr.toString() };
  }

  /** Every key under `prefix` with its value (etcdctl get --prefix). */
  get(prefix: string): Map<string, string> {
    const r = this.ctl(["get", "--prefix", prefix, "-w", "json"]);
    if (!r.ok) throw new Error(`etcdctl get failed: ${r.out}`);
    const json = JSON.parse(r.out) as { kvs?: { key: string; value?: string }[] };
    const out = new Map<string, string>();
    for (const kv of json.kvs ?? []) out.set(Buffer.from(kv.key, "base64").toString(), Buffer.from(kv.value ?? "", "base64").toString());
    return out;
  }

  get log(): string {
    return this.#log;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A three-member etcd cluster on 127.0.0.1, started and healthy (a member alone has no quorum). */
export async function startCluster(size = 3): Promise<EtcdServer[]> {
  const members = Array.from({ length: size }, (_, i) => {
    const m = new EtcdServer();
    m.name = `e${i + 1}`;
    return m;
  });
  const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  for (const m of members) m.initialCluster = initial;
  await Promise.all(members.map((m) => m.start()));
  const end = Date.now() + 20_000;
  while (!members.every((m) => m.ctl(["endpoint", "health"]).ok)) {
    if (Date.now() > end) throw new Error(`the etcd cluster did not become healthy:\n${members.map((m) => m.log).join("\n")}`);
    await Bun.sleep(100);
  }
  return members;
}

/**
 * A real etcd on 127.0.0.1 for the tests of one file: started before them, destroyed after. When
 * etcd is not installed it says so loudly and `missing` tells the tests to skip.
 */
export function etcdForFile(file: string): { readonly missing: string | undefined; server(): EtcdServer } {
  const missing = etcdMissing();
  if (missing) console.warn(`!! SKIPPING ${file}: ${missing}`);
  let server: EtcdServer | undefined;
  beforeAll(async () => {
    if (!missing) server = await new EtcdServer().start();
  }, 30_000);
  afterAll(async () => {
    await server?.destroy();
  });
  return { missing, server: () => server! };
}
