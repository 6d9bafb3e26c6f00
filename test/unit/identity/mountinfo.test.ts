import { describe, expect, test } from "bun:test";
import { bindMountIds, cgroupMountRoots, parseMountinfo } from "../../../src/identity/mountinfo.ts";
import { loadOwnSamples, loadSharedSamples } from "./fixtures.ts";

const samples = [...loadSharedSamples(), ...loadOwnSamples()].filter((s) => s.mountinfo !== undefined);
const hex = (c: string) => c.repeat(64);

describe("parseMountinfo()", () => {
  test("decodes octal escapes and skips malformed lines", () => {
    const text = "36 35 98:0 /mnt\\040one /data\\011x rw,noatime master:1 - ext3 /dev/root rw\nnot a mount line\n";
    expect(parseMountinfo(text)).toEqual([{ line: 1, root: "/mnt one", mountPoint: "/data\tx", fsType: "ext3" }]);
  });

  test("cgroupMountRoots() keeps only cgroup mounts whose root is not /", () => {
    const mounts = parseMountinfo(
      "1 0 0:29 / /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n2 0 0:30 /kubepods/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n3 0 0:31 /y /z ro - cgroup2 cgroup2 rw\n4 0 8:1 /w /v rw - ext4 /dev/sda rw\n",
    );
    expect(cgroupMountRoots(mounts).map((m) => m.root)).toEqual(["/kubepods/x", "/y"]);
  });
});

describe("bindMountIds()", () => {
  test.each(samples.filter((s) => s.expected_id_from_mountinfo !== undefined))(
    "finds the fixture's mountinfo ID: $runtime",
    (s) => {
      const ids = bindMountIds(parseMountinfo(s.mountinfo ?? "")).map((b) => b.id);
      // The bind mounts may name the pod sandbox even where the cgroup mount root names the container.
      expect(ids.length).toBeGreaterThan(0);
      if (s.expected_rule_with_mountinfo !== "mountinfo-cgroup-root") expect(ids[0]).toBe(s.expected_id_from_mountinfo);
    },
  );

  test.each([
    { why: "docker with /var/lib/docker on its own filesystem", root: `/containers/${hex("a")}/hostname`, at: "/etc/hostname", runtime: "docker", rule: "mountinfo-bind-mount" },
    { why: "podman graph root", root: `/var/lib/containers/storage/overlay-containers/${hex("b")}/userdata/hostname`, at: "/etc/hostname", runtime: "containers-storage", rule: "mountinfo-bind-mount" },
    { why: "containerd sandbox", root: `/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${hex("c")}/resolv.conf`, at: "/etc/resolv.conf", runtime: "containerd", rule: "mountinfo-sandbox" },
  ])("$why", ({ root, at, runtime, rule }) => {
    const [got] = bindMountIds(parseMountinfo(`7 1 8:1 ${root} ${at} rw - ext4 /dev/sda rw\n`));
    expect(got).toMatchObject({ runtime, rule, mountPoint: at, line: 1 });
  });

  test("/etc/hostname is preferred over /etc/resolv.conf whatever the line order", () => {
    const text = [
      `1 0 8:1 /var/lib/docker/containers/${hex("1")}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda rw`,
      `2 0 8:1 /var/lib/docker/containers/${hex("2")}/hostname /etc/hostname rw - ext4 /dev/sda rw`,
    ].join("\n");
    expect(bindMountIds(parseMountinfo(text)).map((b) => b.id)).toEqual([hex("2"), hex("1")]);
  });

  test("a file bind-mounted elsewhere names nothing", () => {
    const text = `1 0 8:1 /var/lib/docker/containers/${hex("1")}/hostname /srv/hostname rw - ext4 /dev/sda rw\n`;
    expect(bindMountIds(parseMountinfo(text))).toEqual([]);
  });
});
