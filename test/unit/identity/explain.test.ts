import { describe, expect, test } from "bun:test";
import { buildIdentifyReport, identifyJson, renderIdentifyText, type IdentifyInput } from "../../../src/identity/explain.ts";
import type { NameSource } from "../../../src/identity/names.ts";
import { loadSharedSamples } from "./fixtures.ts";

const samples = loadSharedSamples();
const sample = (pred: (runtime: string) => boolean) => {
  const s = samples.find((x) => pred(x.runtime));
  if (s === undefined) throw new Error("Cannot find the shared sample this test needs");
  return s;
};
const podman = sample((r) => r.startsWith("podman 4.3.1 rootful"));
const lxc = sample((r) => r.startsWith("LXC"));
const dockerInside = sample((r) => r.includes("view from INSIDE"));
const PODMAN_ID = podman.expected_id ?? "";

const names = (id: string): NameSource[] =>
  id === PODMAN_ID ? [{ path: "/var/lib/containers/storage/overlay-containers/containers.json", names: ["web-frontend"] }] : [];

const input = (over: Partial<IdentifyInput>): IdentifyInput => ({
  cgroupText: podman.content,
  processName: "sleep",
  groups: [{ name: "shop", members: ["web-frontend", "db"] }],
  subject: "PID 4242",
  ...over,
});

describe("identify report", () => {
  test("JSON names the ID, the participant and the deciding rule and line", () => {
    const json = identifyJson(buildIdentifyReport(input({}), names));
    expect(json).toEqual({
      id: PODMAN_ID,
      participant: "web-frontend",
      group: "shop",
      via: "name",
      error: null,
      runtime: "podman",
      rule: "runtime-prefix",
      line: 1,
      names: ["web-frontend"],
      processName: "sleep",
      explanation: expect.any(Array),
    });
  });

  test("text explains line, rule, names with their file, and the member in one screen", () => {
    const text = renderIdentifyText(buildIdentifyReport(input({}), names));
    expect(text).toContain("Subject:      PID 4242, process name \"sleep\"");
    expect(text).toContain(`Container:    ${PODMAN_ID} (podman)`);
    expect(text).toContain("Decided by:   rule runtime-prefix at cgroup line 1");
    expect(text).toContain("web-frontend  (from /var/lib/containers/storage/overlay-containers/containers.json)");
    expect(text).toContain('Participant:  "web-frontend" in group "shop" (matched by name)');
    expect(text.split("\n").length).toBeLessThanOrEqual(24);
  });

  test("an LXC container is matched by the name in its cgroup path", () => {
    const r = buildIdentifyReport(input({ cgroupText: lxc.content, groups: [{ name: "g", members: ["lxctest1"] }] }), names);
    expect(identifyJson(r)).toMatchObject({ id: null, participant: "lxctest1", via: "name", runtime: "lxc", rule: "lxc-payload" });
    expect(renderIdentifyText(r)).toContain('Container:    no 64-hex ID; lxc named "lxctest1"');
  });

  test("files from another host: mountinfo fallback, no process name", () => {
    const r = buildIdentifyReport(
      input({ cgroupText: dockerInside.content, mountinfoText: dockerInside.mountinfo, processName: "", subject: "cgroup file bug.txt" }),
      () => [],
    );
    const json = identifyJson(r);
    expect(json).toMatchObject({ id: dockerInside.expected_id_from_mountinfo, participant: null, rule: "mountinfo-bind-mount", line: null });
    expect(renderIdentifyText(r)).toContain("Participant:  none (no member matches the container ID)");
  });

  test("an ambiguous configuration is shown as an error with no participant", () => {
    const groups = [{ name: "a", members: ["web-frontend"] }, { name: "b", members: [PODMAN_ID.slice(0, 12)] }];
    const r = buildIdentifyReport(input({ groups }), names);
    expect(identifyJson(r)).toMatchObject({ participant: null, group: null, error: expect.stringContaining('group "b"') });
    expect(renderIdentifyText(r)).toContain("Participant:  ambiguous: Cannot choose a member");
  });

  test("a long explanation is cut to one screen and points at --json", () => {
    const ids = Array.from({ length: 14 }, (_, i) => i.toString(16).repeat(64));
    const cgroupText = ids.map((id, i) => `${i + 1}:c${i}:/docker/${id}`).join("\n");
    const r = buildIdentifyReport(input({ cgroupText }), names);
    expect(r.identity.rule).toBe("conflict");
    const text = renderIdentifyText(r);
    expect(text).toContain("more line(s), see --json");
    expect(text.split("\n").length).toBeLessThanOrEqual(24);
    expect(identifyJson(r).explanation.length).toBe(15);
  });
});
