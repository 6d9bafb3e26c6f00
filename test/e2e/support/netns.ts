/**
 * Test "nodes": network namespaces joined by a veth pair.
 *
 * Names are `cce2e-<runner pid>-<n><letter>` so parallel runs never collide, and a later run can
 * tell a leftover of a dead run (its runner PID is gone) from a live run's namespace. The veth ends
 * are created directly inside the namespaces, so their names (`to-a`, `to-b`) need no uniqueness
 * on the host, and the 10.213.x.y addresses exist only inside the namespaces.
 */
import { readdirSync } from "node:fs";
import { mustRun, nsInode, run, pidsInNetns, procState, runSync, signal } from "./proc.ts";

/** Prefix of every namespace the e2e tests create. */
export const NETNS_PREFIX = "cce2e-";

/** One test node: a network namespace with one veth end and an address. */
export interface Node {
  /** Short label used in names and logs: "a", "b", ... */
  label: string;
  /** Namespace name under /run/netns. */
  netns: string;
  /** `/run/netns/<netns>`: what `nsenter --net=` takes. */
  netnsPath: string;
  /** Inode of the namespace (CRIU's `--external net[<inode>]:<key>`). */
  inode: number;
  /** IPv4 address of the node's veth end (no prefix length). */
  addr: string;
}

let pairSeq = 0;

/**
 * Creates two namespaces joined by a veth pair, with addresses 10.213.<x>.1 and .2 (/24) and
 * loopback up. On failure it removes whatever it created and rethrows.
 */
export async function createNodePair(): Promise<[Node, Node]> {
  const n = pairSeq++;
  const base = `${NETNS_PREFIX}${process.pid}-${n}`;
  const subnet = ((process.pid + n) % 250) + 1;
  const names = [`${base}a`, `${base}b`] as const;
  const created: string[] = [];
  try {
    for (const name of names) {
      await mustRun(["ip", "netns", "add", name]);
      created.push(name);
    }
    const [na, nb] = names;
    await mustRun(["ip", "link", "add", "to-b", "netns", na, "type", "veth", "peer", "name", "to-a", "netns", nb]);
    const nodes: Node[] = [];
    for (const [i, name] of names.entries()) {
      const dev = i === 0 ? "to-b" : "to-a";
      const addr = `10.213.${subnet}.${i + 1}`;
      await mustRun(["ip", "-n", name, "addr", "add", `${addr}/24`, "dev", dev]);
      await mustRun(["ip", "-n", name, "link", "set", dev, "up"]);
      await mustRun(["ip", "-n", name, "link", "set", "lo", "up"]);
      const inode = nsInode(`/run/netns/${name}`);
      if (inode === null) throw new Error(`Cannot stat the new namespace: /run/netns/${name} is missing`);
      nodes.push({ label: i === 0 ? "a" : "b", netns: name, netnsPath: `/run/netns/${name}`, inode, addr });
    }
    return [nodes[0]!, nodes[1]!];
  } catch (e) {
    for (const name of created) destroyNetns(name);
    throw e;
  }
}

/**
 * Kills every process inside the namespace and deletes it (the veth goes with it). Synchronous so
 * that it also works from exit handlers. Returns the PIDs it had to kill.
 */
export function destroyNetns(name: string): number[] {
  const inode = nsInode(`/run/netns/${name}`);
  const killed: number[] = [];
  if (inode !== null) {
    for (const pid of pidsInNetns(inode)) {
      if (pid === process.pid) continue;
      signal(pid, "SIGKILL");
      killed.push(pid);
    }
  }
  runSync(["ip", "netns", "del", name]);
  return killed;
}

/** Names of existing namespaces with our prefix. */
export function listOurNetns(): string[] {
  try {
    return readdirSync("/run/netns").filter((n) => n.startsWith(NETNS_PREFIX));
  } catch {
    return [];
  }
}

/**
 * Deletes namespaces left behind by runs whose runner process no longer exists (a crashed or
 * SIGKILLed `bun test`). Namespaces of live runs, including this one, are left alone.
 */
export function sweepStaleNetns(): string[] {
  const swept: string[] = [];
  for (const name of listOurNetns()) {
    const owner = Number(name.slice(NETNS_PREFIX.length).split("-")[0]);
    if (Number.isInteger(owner) && owner !== process.pid && procState(owner) !== null) continue;
    if (owner === process.pid) continue;
    destroyNetns(name);
    swept.push(name);
  }
  return swept;
}

/** `iptables -S` inside the node: CRIU's network lock rules show up here. */
export async function iptablesRules(node: Node): Promise<string> {
  return (await run(["nsenter", `--net=${node.netnsPath}`, "iptables", "-S"])).stdout;
}
