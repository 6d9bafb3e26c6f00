/**
 * The real binary, federated: one `criu-coordinator daemon` per network namespace (a bridge joins
 * them), real hook processes on each node talking to their node's daemon, peers authenticated with
 * a cluster key. Needs root and iproute2 (npm test installs iproute2).
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ensureBinary, Sandbox, until } from "../support/binary.ts";
import { canUseNetns } from "./netns.ts";
import { MEMBERS, RealCluster } from "./real-daemons.ts";

const NETNS = canUseNetns();
if (!NETNS) console.warn("!! SKIPPING test/cluster/daemons.test.ts: needs root and `ip netns` (iproute2)");

let cluster: RealCluster | undefined;
let box: Sandbox | undefined;
afterEach(() => {
  cluster?.destroy();
  box?.cleanup();
  cluster = undefined;
  box = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

describe.skipIf(!NETNS)("federated daemons in network namespaces", () => {
  test("a group with members on three nodes passes every dump and restore barrier in order", async () => {
    const c = (cluster = await new RealCluster(3, "10s").start());
    const nodes = c.nodes;
    const status = (n: (typeof nodes)[0]) => c.status(n);
    const pids = MEMBERS.map((m) => c.box.spawnNamed(m));
    const images = MEMBERS.map((m) => c.box.imagesDir(m));
    const run = async (action: string, withPid: boolean) => {
      // alpha and bravo first: they must wait for charlie on the third node.
      const first = [0, 1].map((i) => c.hook(i, action, withPid ? pids[i] : undefined, images[i]!));
      if (action !== "pre-resume") {
        await until(async () => (await status(nodes[0]!)).waiting === 1 && (await status(nodes[1]!)).waiting === 1, 10_000, `alpha and bravo waiting at ${action}`);
        expect(first.map((h) => h.finished)).toEqual([false, false]);
      }
      const third = c.hook(2, action, withPid ? pids[2] : undefined, images[2]!);
      const results = await Promise.all([...first, third].map((h) => h.done));
      for (const [i, r] of results.entries()) expect({ action, member: MEMBERS[i], code: r.code }).toEqual({ action, member: MEMBERS[i], code: 0 });
      return results;
    };
    for (const action of ["pre-dump", "network-lock", "post-dump"]) await run(action, true);
    for (const n of nodes) expect((await status(n)).groups[0].operation).toMatchObject({ id: "trio#1", kind: "dump", phase: { state: "committed" } });
    for (const action of ["pre-restore", "post-restore"]) await run(action, false);
    for (const n of nodes) expect((await status(n)).groups[0].operation).toMatchObject({ id: "trio#2", kind: "restore", phase: { state: "committed" } });
    const st = await status(nodes[0]!);
    expect(st.groups[0].operation.participants.map((p: { name: string; node: string }) => `${p.name}@${p.node}`)).toEqual(["alpha@n1", "bravo@n2", "charlie@n3"]);
  }, 90_000);

  test("killing one node's daemon mid-barrier makes every other node's waiting calls fail within the timeout", async () => {
    const c = (cluster = await new RealCluster(3, "10s").start());
    const nodes = c.nodes;
    const pids = MEMBERS.map((m) => c.box.spawnNamed(m));
    const images = MEMBERS.map((m) => c.box.imagesDir(m));
    // Everyone passes pre-dump; alpha and bravo wait at post-dump; charlie's node dies.
    await Promise.all(MEMBERS.map((_, i) => c.hook(i, "pre-dump", pids[i], images[i]!).done));
    const waiting = [0, 1].map((i) => c.hook(i, "post-dump", pids[i], images[i]!));
    await c.waiting(0, 1);
    await c.waiting(1, 1);
    const t0 = performance.now();
    nodes[2]!.proc.kill("SIGKILL");
    const results = await Promise.all(waiting.map((h) => h.done));
    const ms = performance.now() - t0;
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/n3|charlie/);
    }
    console.log(`waiting post-dump calls failed ${Math.round(ms)} ms after node n3's daemon was killed`);
    expect(ms).toBeLessThan(10_000);
  }, 90_000);
});

describe("cluster configuration", () => {
  test("a daemon with [cluster] and no key file refuses to start with a clear message", async () => {
    box = new Sandbox();
    box.writeConfig(`[[group]]\nname = "g"\nmembers = ["a"]\n`, `[cluster]\nnode = "x"\nlisten = "127.0.0.1:17946"\npeers = ["127.0.0.1:17947"]\n`);
    const r = Bun.spawnSync([ensureBinary(), "daemon", "--config", box.configFile], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString() + r.stdout.toString()).toContain("cluster.key_file is not: peer traffic must be authenticated");
  });

  test("keygen writes a key file once and refuses to overwrite it", () => {
    box = new Sandbox();
    const f = join(box.dir, "k");
    const a = Bun.spawnSync([ensureBinary(), "keygen", "-o", f], { stdout: "pipe" });
    expect(a.exitCode).toBe(0);
    expect(Bun.spawnSync([ensureBinary(), "keygen", "-o", f], { stderr: "pipe" }).exitCode).toBe(1);
    const printed = Bun.spawnSync([ensureBinary(), "keygen"], { stdout: "pipe" }).stdout.toString().trim();
    expect(Buffer.from(printed, "base64").length).toBe(32);
  });
});
