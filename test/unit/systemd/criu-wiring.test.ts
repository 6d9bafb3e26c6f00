/**
 * packaging/criu-wiring.sh against a scratch root: what package install, upgrade and removal do to
 * CRIU's configuration files.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(import.meta.dir, "../../../packaging/criu-wiring.sh");
const SNIPPET = readFileSync(join(import.meta.dir, "../../../packaging/criu-default.conf"), "utf8");
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function scratch(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "criu-wiring-"));
  roots.push(root);
  mkdirSync(join(root, "usr/share/criu-coordinator"), { recursive: true });
  cpSync(join(import.meta.dir, "../../../packaging/criu-default.conf"), join(root, "usr/share/criu-coordinator/criu-default.conf"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function wiring(root: string, action: "add" | "remove" | "status"): string {
  const r = Bun.spawnSync(["sh", SCRIPT, action], { env: { PATH: process.env.PATH, CRIU_WIRING_ROOT: root } });
  if (r.exitCode !== 0) throw new Error(`criu-wiring.sh ${action} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const read = (root: string, path: string) => (existsSync(join(root, path)) ? readFileSync(join(root, path), "utf8") : undefined);

describe("criu-wiring.sh", () => {
  test("fresh host: creates /etc/criu and both files, removal leaves nothing", () => {
    const root = scratch();
    wiring(root, "add");
    expect(read(root, "etc/criu/default.conf")).toBe(SNIPPET);
    expect(read(root, "etc/criu/runc.conf")).toBe(SNIPPET);
    expect(wiring(root, "status")).toContain("default.conf: wired (package block)");
    wiring(root, "remove");
    expect(existsSync(join(root, "etc/criu"))).toBe(false);
    expect(existsSync(join(root, "var/lib/criu-coordinator"))).toBe(false);
  });

  test("existing files keep the admin's lines; removal restores them", () => {
    const root = scratch({ "etc/criu/default.conf": "tcp-established\n", "etc/criu/runc.conf": "# mine\nfile-locks" });
    wiring(root, "add");
    expect(read(root, "etc/criu/default.conf")).toBe(`tcp-established\n${SNIPPET}`);
    expect(read(root, "etc/criu/runc.conf")).toBe(`# mine\nfile-locks\n${SNIPPET}`);
    wiring(root, "remove");
    expect(read(root, "etc/criu/default.conf")).toBe("tcp-established\n");
    // A newline was added so the block started on its own line; it stays.
    expect(read(root, "etc/criu/runc.conf")).toBe("# mine\nfile-locks\n");
  });

  test("an /etc/criu that existed before is kept, a file created for the block is removed", () => {
    const root = scratch({ "etc/criu/default.conf": "log-file /var/log/criu.log\n" });
    wiring(root, "add");
    wiring(root, "remove");
    expect(read(root, "etc/criu/default.conf")).toBe("log-file /var/log/criu.log\n");
    expect(read(root, "etc/criu/runc.conf")).toBeUndefined();
  });

  test.each(["action-script /usr/bin/criu-coordinator\n", "--action-script=/usr/bin/criu-coordinator\n", '  action-script "/usr/bin/criu-coordinator" # by hand\n'])(
    "a file wired by hand (%p) is never touched",
    (line) => {
      const root = scratch({ "etc/criu/default.conf": line });
      wiring(root, "add");
      expect(read(root, "etc/criu/default.conf")).toBe(line);
      expect(wiring(root, "status")).toContain("default.conf: wired (by hand)");
      wiring(root, "remove");
      expect(read(root, "etc/criu/default.conf")).toBe(line);
    },
  );

  test("add is idempotent", () => {
    const root = scratch();
    wiring(root, "add");
    wiring(root, "add");
    expect(read(root, "etc/criu/default.conf")).toBe(SNIPPET);
  });

  test("an upgrade does not re-add a block the admin deleted", () => {
    const root = scratch();
    wiring(root, "add");
    writeFileSync(join(root, "etc/criu/default.conf"), "# no coordination here\n");
    wiring(root, "add");
    expect(read(root, "etc/criu/default.conf")).toBe("# no coordination here\n");
    expect(wiring(root, "status")).toContain("default.conf: not wired");
  });

  test("reinstalling after a removal wires CRIU again", () => {
    const root = scratch();
    wiring(root, "add");
    wiring(root, "remove");
    wiring(root, "add");
    expect(read(root, "etc/criu/runc.conf")).toBe(SNIPPET);
  });

  test("removal keeps lines the admin added around the block", () => {
    const root = scratch();
    wiring(root, "add");
    const path = join(root, "etc/criu/default.conf");
    writeFileSync(path, `tcp-established\n${readFileSync(path, "utf8")}log-file x.log\n`);
    wiring(root, "remove");
    expect(read(root, "etc/criu/default.conf")).toBe("tcp-established\nlog-file x.log\n");
    expect(existsSync(join(root, "etc/criu"))).toBe(true);
  });
});
