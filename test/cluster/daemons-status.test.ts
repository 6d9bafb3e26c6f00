/**
 * `criu-coordinator status` of a federated real daemon (network namespaces): nodes with their
 * state (alive, then suspect and dead after a peer's daemon is killed), operations in flight, and
 * per participant the hook it reached, on which node, and what it waits for, as a table and as
 * `--json`. Needs root and iproute2.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinary, until } from "../support/binary.ts";
import { canUseNetns } from "./netns.ts";
import { MEMBERS, RealCluster, type RealNode } from "./real-daemons.ts";

const NETNS = canUseNetns();
if (!NETNS) console.warn("!! SKIPPING test/cluster/daemons-status.test.ts: needs root and `ip netns` (iproute2)");

let cluster: RealCluster | undefined;
afterEach(() => {
  cluster?.destroy();
  cluster = undefined;
});
beforeAll(() => void ensureBinary(), 120_000);

/** Runs the real `status` command against node n's socket. */
function statusCommand(n: RealNode, json = false): string {
  const r = Bun.spawnSync([ensureBinary(), "status", "--socket", n.socket, ...(json ? ["--json"] : [])], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  if (r.exitCode !== 0) throw new Error(`status exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.toString();
}

/** The tables of the human output, with this run's subnet replaced and column gaps cut to two spaces. */
function tables(c: RealCluster, text: string): string {
  return text
    .split("\n")
    .slice(1)
    .map((l) => l.replaceAll(c.lab.subnet, "SUBNET").replace(/(\S) {2,}/g, "$1  "))
    .join("\n");
}

describe.skipIf(!NETNS)("status of a federated daemon", () => {
  test("shows nodes, operations in flight, and per participant its hook, node and what it waits for", async () => {
    const c = (cluster = await new RealCluster(3, "10s").start());
    await Promise.all(MEMBERS.map((m, i) => c.arrive(i, m, "pre-dump")));
    // charlie's call loses its connection when n3's daemon is killed below.
    const calls = [c.arrive(0, "alpha", "network-lock"), c.arrive(2, "charlie", "network-lock")].map((p) => p.catch(() => null));
    await c.waiting(0, 1);
    await c.waiting(2, 1);
    const n1 = c.nodes[0]!;
    await until(async () => (await c.status(n1)).groups[0].operation.participants[2].hook === "network-lock", 5_000, "n1 to learn charlie's progress");

    const json = JSON.parse(statusCommand(n1, true));
    expect(json.operations).toBe(1);
    expect(json.waiting).toBe(1);
    expect(json.cluster.nodes.map((x: { name: string; state: string }) => `${x.name}:${x.state}`)).toEqual(["n1:alive", "n2:alive", "n3:alive"]);
    expect(json.groups[0].operation).toMatchObject({
      id: "trio#1",
      kind: "dump",
      phase: { state: "open" },
      participants: [
        { name: "alpha", node: "n1", hook: "network-lock", waitingAt: "network-lock", waitingFor: ["bravo"] },
        { name: "bravo", node: "n2", hook: "pre-dump", waitingAt: null, waitingFor: [] },
        { name: "charlie", node: "n3", hook: "network-lock", waitingAt: "network-lock", waitingFor: ["bravo"] },
      ],
    });

    const human = statusCommand(n1);
    expect(human.split("\n")[0]).toMatch(/^criu-coordinator \S+ \(pid \d+\), config \S+n1\.toml, 1 operation\(s\) in flight, 1 hook call\(s\) waiting$/);
    expect(tables(c, human)).toBe(
      [
        "",
        "CLUSTER (this node: n1)",
        "  NODE  ADDRESS  STATE",
        "  n1 (self)  SUBNET.1:7946  alive",
        "  n2  SUBNET.2:7946  alive",
        "  n3  SUBNET.3:7946  alive",
        "",
        "GROUP trio (timeout 10s)  dump trio#1: in flight",
        "  PARTICIPANT  NODE  HOOK  WAITING AT  WAITING FOR",
        "  alpha  n1  network-lock  network-lock  bravo",
        "  bravo  n2  pre-dump  -  -",
        "  charlie  n3  network-lock  network-lock  bravo",
        "",
      ].join("\n"),
    );

    // n3's daemon dies: n1 shows it suspect, then dead, and the operation aborted.
    c.nodes[2]!.proc.kill("SIGKILL");
    const seen = new Set<string>();
    await until(
      () => {
        const line = statusCommand(n1).split("\n").find((l) => l.trimStart().startsWith("n3 "));
        seen.add(line?.trim().split(/\s+/).pop() ?? "?");
        return seen.has("dead");
      },
      15_000,
      "n1 to declare n3 dead",
    );
    expect([...seen]).toEqual(["alive", "suspect", "dead"].filter((s) => seen.has(s)));
    expect(seen.has("suspect")).toBe(true);
    const after = statusCommand(n1);
    expect(after).toContain(", 0 operation(s) in flight, 0 hook call(s) waiting");
    expect(after).toContain("dump trio#1: aborted: node n3 declared dead by failure detection while hosting charlie");
    expect(JSON.parse(statusCommand(n1, true)).cluster.nodes[2]).toMatchObject({ name: "n3", state: "dead" });
    await Promise.all(calls);
  }, 60_000);
});
