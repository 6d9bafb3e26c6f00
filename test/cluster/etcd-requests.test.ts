/**
 * Daemon-to-daemon requests and membership through etcd (src/etcd/etcd-requests.ts), which the
 * checkpoint and restore commands use on clusters federated by etcd. In-process EtcdBackends
 * against a real etcd on 127.0.0.1. Needs etcd-server and etcd-client, not root.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { BarrierEngine } from "../../src/barrier/engine.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { EtcdBackend } from "../../src/etcd/etcd-backend.ts";
import { prefixEnd } from "../../src/etcd/client.ts";
import { until } from "../support/binary.ts";
import { etcdForFile } from "./etcd-server.ts";

const etcd = etcdForFile("test/cluster/etcd-requests.test.ts");

let backends: EtcdBackend[] = [];
afterEach(async () => {
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

let prefixN = 0;
type Handler = (from: string, body: Record<string, unknown>) => Promise<Record<string, unknown>>;

async function daemons(handlers: Record<string, Handler>): Promise<{ prefix: string; by: Record<string, EtcdBackend> }> {
  const prefix = `/cc-req${process.pid}-${++prefixN}`;
  const by: Record<string, EtcdBackend> = {};
  for (const [name, onRequest] of Object.entries(handlers)) {
    const engine = new BarrierEngine([{ name: "g", members: ["a"], timeoutMs: 5_000 }], { node: name, decider: "external" });
    by[name] = new EtcdBackend({ node: name, endpoints: [etcd.server().clientUrl], prefix, leaseTtlMs: 2_000, groups: ["g"], engine, dispatch: () => {}, onRequest });
    backends.push(by[name]!);
  }
  await Promise.all(Object.values(by).map((b) => b.start()));
  return { prefix, by };
}

describe.skipIf(etcd.missing !== undefined)("requests and membership through etcd", () => {
  test("every daemon is a member from its start; a request is answered by the addressee's handler, once", async () => {
    const calls: string[] = [];
    const { by } = await daemons({
      n1: async () => ({ ok: true }),
      n2: async (from, body) => {
        calls.push(`${from}:${JSON.stringify(body)}`);
        return { echoed: body.x, by: "n2" };
      },
    });
    await until(() => by.n1!.status().nodes.length === 2);
    expect(by.n1!.status().nodes.map((n) => [n.name, n.state])).toEqual([["n1", "alive"], ["n2", "alive"]]);
    const t0 = performance.now();
    expect(await by.n1!.ask("n2", { c: "scan", x: 7 }, 3_000)).toEqual({ echoed: 7, by: "n2" });
    const ms = performance.now() - t0;
    console.log(`etcd request n1 → n2 answered in ${ms.toFixed(1)} ms`);
    expect(calls).toEqual(['n1:{"c":"scan","x":7}']);
    expect(ms).toBeLessThan(1_000);
  });

  test("a failing handler answers with its error; nobody there means a timeout; no request or reply key stays behind", async () => {
    const { prefix, by } = await daemons({
      n1: async () => ({}),
      n2: async () => {
        throw new Error("disk on fire");
      },
    });
    expect(await by.n1!.ask("n2", { c: "list" }, 3_000)).toEqual({ error: "disk on fire" });
    const t0 = performance.now();
    await expect(by.n1!.ask("n9", { c: "list" }, 300)).rejects.toThrow("node n9 did not answer within 300 ms");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    const client = new EtcdClient([etcd.server().clientUrl]);
    for (const kind of ["@req", "@rep"]) {
      const left = async () => (await client.range(`${prefix}/${kind}/`, prefixEnd(`${prefix}/${kind}/`))).kvs.length;
      let n = await left();
      for (let i = 0; i < 50 && n > 0; i++) {
        await Bun.sleep(20);
        n = await left();
      }
      expect({ kind, left: n }).toEqual({ kind, left: 0 });
    }
  });

  test("a daemon that stops is listed as dead by the others", async () => {
    const { by } = await daemons({ n1: async () => ({}), n2: async () => ({}) });
    await until(() => by.n1!.status().nodes.length === 2);
    await by.n2!.close();
    await until(() => by.n1!.status().nodes.find((n) => n.name === "n2")?.state === "dead");
    await expect(by.n1!.ask("n2", { c: "list" }, 300)).rejects.toThrow("did not answer");
  });
});
