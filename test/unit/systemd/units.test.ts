/**
 * The unit files under systemd/ pass `systemd-analyze verify` with no output at all: it exits 0
 * even on bad values and only prints them (notes: bun-toolchain §8), so output is the failure.
 * ExecStart must name an existing executable, so a copy points at /bin/true.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const UNITS = join(import.meta.dir, "../../../systemd");
const analyze = Bun.which("systemd-analyze");
const dir = mkdtempSync(join(tmpdir(), "units-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function verify(files: string[]): string {
  const r = Bun.spawnSync([analyze!, "verify", "--man=no", ...files.map((f) => `./${f}`)], { cwd: dir, env: { PATH: process.env.PATH, SYSTEMD_LOG_COLOR: "0" } });
  return (r.stdout.toString() + r.stderr.toString()).trim();
}

function copyUnits(edit: (service: string) => string = (s) => s): void {
  cpSync(join(UNITS, "criu-coordinatord.socket"), join(dir, "criu-coordinatord.socket"));
  const service = readFileSync(join(UNITS, "criu-coordinatord.service"), "utf8").replace(/^ExecStart=\/usr\/bin\/criu-coordinator /m, "ExecStart=/bin/true ");
  writeFileSync(join(dir, "criu-coordinatord.service"), edit(service));
}

if (!analyze) console.warn("!! SKIPPING test/unit/systemd/units.test.ts: systemd-analyze is not installed (package systemd)");

describe.skipIf(!analyze)("systemd units", () => {
  test("systemd-analyze verify prints nothing", () => {
    copyUnits();
    expect(verify(["criu-coordinatord.socket", "criu-coordinatord.service"])).toBe("");
  });

  test("the check is not vacuous: a bad value is reported", () => {
    copyUnits((s) => s.replace("Type=notify", "Type=notifyy"));
    expect(verify(["criu-coordinatord.service"])).toContain("Failed to parse service type");
  });

  test.each([
    ["criu-coordinatord.socket", /^ListenStream=\/run\/criu-coordinator\/coordinator\.sock$/m],
    ["criu-coordinatord.socket", /^SocketMode=0600$/m],
    ["criu-coordinatord.socket", /^FileDescriptorName=hook$/m],
    ["criu-coordinatord.service", /^Type=notify$/m],
    ["criu-coordinatord.service", /^NotifyAccess=main$/m],
    ["criu-coordinatord.service", /^WatchdogSec=30s$/m],
    ["criu-coordinatord.service", /^Restart=on-failure$/m],
    ["criu-coordinatord.service", /^ExecStart=\/usr\/bin\/criu-coordinator daemon$/m],
  ])("%s has %p (the daemon and the package rely on it)", (file, line) => {
    expect(readFileSync(join(UNITS, file), "utf8")).toMatch(line);
  });
});
