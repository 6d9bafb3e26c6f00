import { describe, expect, test } from "bun:test";
import { parseCgroupIdentity, parseCgroupLines } from "../../../src/identity/cgroup.ts";
import { loadOwnSamples, loadSharedSamples } from "./fixtures.ts";

const shared = loadSharedSamples().map((s, i) => ({ ...s, label: `#${i} ${s.runtime}` }));
const own = loadOwnSamples().map((s) => ({ ...s, label: `${s.file}: ${s.name ?? s.runtime}` }));

describe("parseCgroupIdentity() on the shared fixtures", () => {
  test("the shared fixture file has all 21 samples", () => {
    expect(shared.length).toBeGreaterThanOrEqual(21);
  });

  test.each(shared)("$label", (s) => {
    const got = parseCgroupIdentity(s.content);
    expect(got.id).toBe(s.expected_id);
    expect(got.explanation.length).toBeGreaterThan(0);
    if (got.id !== null) expect(got.line).not.toBeNull();
  });

  const withMountinfo = shared.filter((s) => s.mountinfo !== undefined && s.expected_id_from_mountinfo !== undefined);
  test.each(withMountinfo)("$label, with its mountinfo", (s) => {
    const got = parseCgroupIdentity(s.content, s.mountinfo);
    // The cgroup file wins when it names a container; the mountinfo is only the all-root fallback.
    expect(got.id).toBe(s.expected_id ?? s.expected_id_from_mountinfo ?? null);
  });
});

describe("parseCgroupIdentity() on our own samples", () => {
  test.each(own)("$label", (s) => {
    const got = parseCgroupIdentity(s.content);
    expect(got.id).toBe(s.expected_id);
    if (s.expected_rule !== undefined) expect(got.rule).toBe(s.expected_rule);
    if (s.expected_runtime !== undefined) expect(got.runtime).toBe(s.expected_runtime);
    expect(got.name).toBe(s.expected_name);
  });

  const withMountinfo = own.filter((s) => s.mountinfo !== undefined);
  test.each(withMountinfo)("$label, with its mountinfo", (s) => {
    const got = parseCgroupIdentity(s.content, s.mountinfo);
    expect(got.id).toBe(s.expected_id_from_mountinfo ?? null);
    expect(got.rule).toBe(s.expected_rule_with_mountinfo ?? "");
    expect(got.runtime).toBe(s.expected_runtime_with_mountinfo ?? null);
    expect(got.line).toBeNull();
  });
});

describe("parseCgroupIdentity() rules", () => {
  const id = "f95e56cd034d65484b8fc7fd1adc1c08c4b628392878d9ab9ba919b1e4681e3e";
  test.each([
    { why: "deepest component: crun's /container child", text: `0::/machine.slice/libpod-${id}.scope/container`, rule: "runtime-prefix", want: id },
    { why: "deepest component: init.scope inside a systemd container", text: `0::/system.slice/docker-${id}.scope/init.scope`, rule: "runtime-prefix", want: id },
    { why: "nerdctl prefix", text: `0::/system.slice/nerdctl-${id}.scope`, rule: "runtime-prefix", want: id },
    { why: "crio conmon is a monitor", text: `0::/kubepods.slice/crio-conmon-${id}.scope`, rule: "monitor", want: null },
    { why: "upper-case hex is not an ID", text: `0::/docker/${id.toUpperCase()}`, rule: "none", want: null },
    { why: "63 hex is not an ID", text: `0::/docker/${id.slice(1)}`, rule: "none", want: null },
    { why: "65 hex is not an ID", text: `0::/docker/${id}0`, rule: "none", want: null },
    { why: "docker.service is not a container", text: "0::/system.slice/docker.service", rule: "none", want: null },
    { why: "garbage lines only", text: "hello\nworld\n", rule: "empty", want: null },
    { why: "all root without mountinfo", text: "0::/\n", rule: "cgroupns-root", want: null },
  ])("$why", ({ text, rule, want }) => {
    const got = parseCgroupIdentity(text);
    expect(got.rule).toBe(rule);
    expect(got.id).toBe(want);
  });

  test("a monitor on any line wins over an ID on another line", () => {
    const got = parseCgroupIdentity(`1:memory:/machine.slice/libpod-${id}.scope\n0::/machine.slice/libpod-conmon-${id}.scope\n`);
    expect(got.rule).toBe("monitor");
    expect(got.line).toBe(2);
  });

  test("the decision names the v1 line that carried the ID", () => {
    const got = parseCgroupIdentity(`0::/docker/${id}\n1:name=systemd:/docker/${id}\n`);
    expect(got.line).toBe(2);
    expect(got.explanation[0]).toContain("line 2 (name=systemd)");
  });

  test("a conflict explains every line and chooses nothing", () => {
    const other = "9".repeat(64);
    const got = parseCgroupIdentity(`2:memory:/docker/${id}\n1:cpu:/docker/${other}\n`);
    expect(got).toMatchObject({ id: null, rule: "conflict", line: null });
    expect(got.explanation.join("\n")).toContain(other);
  });

  test("mountinfo is ignored when the cgroup file names a container", () => {
    const mountinfo = `1 0 8:1 /var/lib/docker/containers/${"a".repeat(64)}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n`;
    expect(parseCgroupIdentity(`0::/docker/${id}\n`, mountinfo).id).toBe(id);
  });

  test("all root with a mountinfo that names nothing stays cgroupns-root", () => {
    const got = parseCgroupIdentity("0::/\n", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
    expect(got).toMatchObject({ id: null, rule: "cgroupns-root" });
  });
});

describe("parseCgroupLines()", () => {
  test("splits on the first two colons only and skips malformed lines", () => {
    const lines = parseCgroupLines("garbage\n1:name=systemd:/a:b:c\n0::/x\n\n");
    expect(lines).toEqual([
      { line: 2, hierarchy: "1", controllers: "name=systemd", path: "/a:b:c" },
      { line: 3, hierarchy: "0", controllers: "", path: "/x" },
    ]);
  });
});
