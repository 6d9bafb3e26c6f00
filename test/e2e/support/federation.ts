/**
 * One coordinator daemon per node, federated over gossip: the deployment the README describes,
 * with the two test nodes (network namespaces joined by a veth) standing in for two hosts.
 *
 * Each daemon runs inside its node's netns (`nsenter --net=`), listens for gossip on the node's
 * address and has the other node as its seed peer; both share a cluster key made by
 * `criu-coordinator keygen`. Each node's CRIU gets `CRIU_COORDINATOR_CONFIG` = that node's config,
 * so its action-script talks to its own node's daemon only. The unix sockets live in the lab dir,
 * which every namespace sees (nsenter --net keeps the mount namespace).
 */
import { join } from "node:path";
import type { Lab } from "../harness.ts";
import { COORDINATOR_BIN, type CoordinatorDaemon } from "./coordinator.ts";
import type { CriuWay } from "./criu.ts";
import type { Node } from "./netns.ts";
import { mustRun, waitFor } from "./proc.ts";
import type { Side } from "./scenario.ts";

/** UDP port of the gossip listener on each node. */
export const GOSSIP_PORT = 7946;

/** The cluster node name the daemon of `node` uses ("node-a", "node-b"). */
export function clusterNodeName(node: Node): string {
  return `node-${node.label}`;
}

/** `[cluster]` table for `node`, with every other node as a seed peer. */
function clusterToml(node: Node, all: Node[], keyFile: string): string {
  const peers = all.filter((n) => n !== node).map((n) => `"${n.addr}:${GOSSIP_PORT}"`);
  return [
    "[cluster]",
    `node = "${clusterNodeName(node)}"`,
    `listen = "${node.addr}:${GOSSIP_PORT}"`,
    `peers = [${peers.join(", ")}]`,
    `key_file = "${keyFile}"`,
    "",
  ].join("\n");
}

/** Alive cluster members as `node`'s daemon sees them. */
export async function aliveNodes(d: CoordinatorDaemon): Promise<string[]> {
  const st = (await d.status()) as { cluster?: { nodes?: { name: string; state: string }[] } };
  return (st.cluster?.nodes ?? []).filter((n) => n.state === "alive").map((n) => n.name).sort();
}

/**
 * Starts one daemon per node, each in its node's netns with the same groups and a `[cluster]`
 * section, and waits until every daemon sees every node alive. Returns the daemons in node order.
 */
export async function federate(lab: Lab, nodes: Node[], groupsToml: string): Promise<CoordinatorDaemon[]> {
  const keyFile = join(lab.path("cluster"), "cluster.key");
  await mustRun([COORDINATOR_BIN, "keygen", "-o", keyFile]);
  const daemons: CoordinatorDaemon[] = [];
  for (const node of nodes) {
    daemons.push(await lab.coordinator(`${clusterToml(node, nodes, keyFile)}\n${groupsToml}`, { netnsPath: node.netnsPath }));
  }
  const all = nodes.map(clusterNodeName).sort();
  for (const [i, d] of daemons.entries()) {
    let seen: string[] = [];
    await waitFor(`${clusterNodeName(nodes[i]!)}'s daemon to see every node alive`, async () => {
      seen = await aliveNodes(d).catch(() => []);
      return seen.length === all.length;
    }, { timeoutMs: 15_000, everyMs: 100, state: () => `alive: ${seen.join(", ")}\n${d.log}` });
  }
  return daemons;
}

/**
 * Nodes a and b, one federated daemon each, the TCP server on a and the client on b: side i lives
 * on node i and talks to daemons[i]. In the c2 way CRIU locks the dumped process's whole netns
 * (network-lock until the restore), which would cut a daemon living there off its peer (measured:
 * "node node-b declared dead by failure detection"); that is the container case, where the
 * workload has its own netns and the daemon the host's, so for c2 the daemons run in a second
 * pair of namespaces ("hosts") of their own.
 */
export async function federatedPair(lab: Lab, groupsToml: string, way: CriuWay): Promise<{ daemons: CoordinatorDaemon[]; sides: [Side, Side] }> {
  const [a, b] = await lab.nodePair();
  const daemons = await federate(lab, way === "c1" ? [a, b] : await lab.nodePair(), groupsToml);
  const { server, client } = await lab.tcpPair(a, b);
  return {
    daemons,
    sides: [
      { node: a, w: server, img: lab.path("img-a") },
      { node: b, w: client, img: lab.path("img-b") },
    ],
  };
}
