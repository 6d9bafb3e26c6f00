import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  findNameSources,
  namesFromAnnotations,
  namesFromContainersJson,
  namesFromDockerConfig,
  parseOciState,
  resolveContainerNames,
  type NameRoots,
} from "../../../src/identity/names.ts";

const hex = (c: string) => c.repeat(64);

// Recorded on the CI VM from `podman --runtime runc run -d --name cc-probe-web …` (podman 4.3.1):
// runc's state.json labels, the bundle's config.json annotations and containers.json.
const PODMAN_ID = "8a65358beba06f6fd627b778fe5f48386737ae1f61156aee36c1c578e1d334ae";
const podmanLabels = [
  "io.podman.annotations.init=FALSE",
  "io.podman.annotations.privileged=FALSE",
  "io.podman.annotations.publish-all=FALSE",
  "org.opencontainers.image.stopSignal=15",
  "io.container.manager=libpod",
  "io.kubernetes.cri-o.Created=2026-11-29T06:47:13.477089902Z",
  "io.kubernetes.cri-o.TTY=false",
  "io.podman.annotations.autoremove=FALSE",
  `bundle=/var/lib/containers/storage/overlay-containers/${PODMAN_ID}/userdata`,
];
const podmanContainersJson = [
  { id: PODMAN_ID, names: ["cc-probe-web"], image: "66b831e9", metadata: '{"name":"cc-probe-web"}' },
];

// containerd CRI keys: containerd pkg/cri/annotations; CRI-O keys: kubelet labels copied by CRI-O.
const containerdAnn = {
  "io.kubernetes.cri.container-type": "container",
  "io.kubernetes.cri.sandbox-namespace": "default",
  "io.kubernetes.cri.sandbox-name": "redis-0",
  "io.kubernetes.cri.container-name": "redis",
};
const crioAnn = {
  "io.container.manager": "cri-o",
  "io.kubernetes.cri-o.ContainerType": "container",
  "io.kubernetes.cri-o.ContainerName": "k8s_web_web-7d9c_shop_0f0e_0",
  "io.kubernetes.pod.namespace": "shop",
  "io.kubernetes.pod.name": "web-7d9c",
  "io.kubernetes.container.name": "web",
};

describe("pure parsers", () => {
  test.each<{ why: string; ann: Record<string, unknown>; want: string[] }>([
    { why: "containerd CRI container", ann: containerdAnn, want: ["default/redis-0/redis", "redis"] },
    { why: "CRI-O container", ann: crioAnn, want: ["shop/web-7d9c/web", "web"] },
    { why: "containerd pod sandbox", ann: { ...containerdAnn, "io.kubernetes.cri.container-type": "sandbox" }, want: [] },
    { why: "CRI-O pod sandbox", ann: { ...crioAnn, "io.kubernetes.cri-o.ContainerType": "sandbox" }, want: [] },
    { why: "nerdctl", ann: { "nerdctl/name": "web" }, want: ["web"] },
    { why: "podman (no name in the bundle)", ann: parseOciState({ config: { labels: podmanLabels } }).annotations, want: [] },
    { why: "container name without pod", ann: { "io.kubernetes.container.name": "web" }, want: ["web"] },
  ])("namesFromAnnotations(): $why", ({ ann, want }) => {
    expect(namesFromAnnotations(ann)).toEqual(want);
  });

  test.each<{ why: string; config: unknown; want: string[] }>([
    { why: "plain docker", config: { Name: "/web-frontend", Config: { Labels: {} } }, want: ["web-frontend"] },
    {
      why: "dockershim container",
      config: {
        Name: "/k8s_redis_redis-0_default_uid_0",
        Config: { Labels: { "io.kubernetes.docker.type": "container", "io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.name": "redis-0", "io.kubernetes.container.name": "redis" } },
      },
      want: ["default/redis-0/redis", "redis", "k8s_redis_redis-0_default_uid_0"],
    },
    { why: "not an object", config: "nope", want: [] },
  ])("namesFromDockerConfig(): $why", ({ config, want }) => {
    expect(namesFromDockerConfig(config)).toEqual(want);
  });

  test("namesFromContainersJson() finds the entry by ID", () => {
    expect(namesFromContainersJson(podmanContainersJson, PODMAN_ID)).toEqual(["cc-probe-web"]);
    expect(namesFromContainersJson(podmanContainersJson, hex("0"))).toEqual([]);
  });

  test("parseOciState() reads runc's bundle label and crun's bundle field", () => {
    expect(parseOciState({ config: { labels: podmanLabels } }).bundle).toBe(
      `/var/lib/containers/storage/overlay-containers/${PODMAN_ID}/userdata`,
    );
    expect(parseOciState({ id: "x", bundle: "/b" })).toEqual({ bundle: "/b", annotations: {} });
  });
});

describe("resolveContainerNames() on a fake host tree", () => {
  const root = mkdtempSync(path.join(tmpdir(), "cc-names-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (rel: string, data: unknown) => {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, typeof data === "string" ? data : JSON.stringify(data));
  };
  const roots: NameRoots = {
    dockerData: [path.join(root, "var/lib/docker")],
    containersStorage: [path.join(root, "var/lib/containers/storage"), path.join(root, "run/containers/storage")],
    ociState: [path.join(root, "run/runc"), path.join(root, "run/containerd/runc")],
    containerdTasks: [path.join(root, "run/containerd/io.containerd.runtime.v2.task")],
  };

  // podman: runc state → bundle without names; containers.json has the name
  const podmanBundle = path.join(root, `var/lib/containers/storage/overlay-containers/${PODMAN_ID}/userdata`);
  write(`run/runc/${PODMAN_ID}/state.json`, { id: PODMAN_ID, config: { labels: podmanLabels.map((l) => (l.startsWith("bundle=") ? `bundle=${podmanBundle}` : l)) } });
  write(`var/lib/containers/storage/overlay-containers/${PODMAN_ID}/userdata/config.json`, { annotations: Object.fromEntries(podmanLabels.slice(0, -1).map((l) => l.split("="))) });
  write("var/lib/containers/storage/overlay-containers/containers.json", podmanContainersJson);
  // containerd CRI: shim v2 bundle under the k8s.io namespace, runc state under the same namespace
  write(`run/containerd/io.containerd.runtime.v2.task/k8s.io/${hex("c")}/config.json`, { annotations: containerdAnn });
  write(`run/containerd/runc/k8s.io/${hex("c")}/state.json`, { id: hex("c"), config: { labels: [`bundle=/nonexistent`] } });
  // CRI-O: bundle in the run root's userdata
  write(`run/containers/storage/overlay-containers/${hex("e")}/userdata/config.json`, { annotations: crioAnn });
  // docker
  write(`var/lib/docker/containers/${hex("d")}/config.v2.json`, { ID: hex("d"), Name: "/web-frontend", Config: { Labels: {} } });
  // malformed files must not break the lookup
  write(`var/lib/docker/containers/${hex("b")}/config.v2.json`, "{not json");

  test.each<{ runtime: string; id: string; want: string[] }>([
    { runtime: "podman", id: PODMAN_ID, want: ["cc-probe-web"] },
    { runtime: "containerd", id: hex("c"), want: ["default/redis-0/redis", "redis"] },
    { runtime: "crio", id: hex("e"), want: ["shop/web-7d9c/web", "web"] },
    { runtime: "docker", id: hex("d"), want: ["web-frontend"] },
    { runtime: "malformed docker config", id: hex("b"), want: [] },
    { runtime: "unknown container", id: hex("9"), want: [] },
    { runtime: "not an ID (path traversal)", id: "../../etc", want: [] },
  ])("$runtime", ({ id, want }) => {
    expect(resolveContainerNames(id, roots)).toEqual(want);
  });

  test("findNameSources() says which file gave each name", () => {
    const sources = findNameSources(hex("c"), roots);
    expect(sources).toEqual([
      { path: path.join(root, `run/containerd/io.containerd.runtime.v2.task/k8s.io/${hex("c")}/config.json`), names: ["default/redis-0/redis", "redis"] },
    ]);
  });
});
