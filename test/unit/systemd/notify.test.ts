import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { notifyAddress, prepareNotify, sdNotify, startWatchdog, watchdogIntervalMs } from "../../../src/systemd/notify.ts";
import { DgramListener } from "./dgram-listener.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function listener(kind: "path" | "abstract"): DgramListener {
  let address: string;
  if (kind === "path") {
    const dir = mkdtempSync(join(tmpdir(), "notify-test-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    address = join(dir, "notify.sock");
  } else {
    address = `@criu-coordinator-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  }
  const l = new DgramListener(address);
  cleanups.push(() => l.close());
  return l;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("sdNotify()", () => {
  // Runs first (bun runs a file's tests in order): every later test has libc loaded.
  test("sends nothing until prepareNotify() has loaded libc, which it does only for a NOTIFY_SOCKET", async () => {
    const l = listener("path");
    const env = { NOTIFY_SOCKET: l.address };
    expect(sdNotify("READY=1", env)).toBe(false);
    await prepareNotify({});
    expect(sdNotify("READY=1", env)).toBe(false);
    await prepareNotify(env);
    expect(sdNotify("READY=1", env)).toBe(true);
    expect(l.drain()).toEqual(["READY=1"]);
  });

  test.each(["path", "abstract"] as const)("delivers the message to a %s NOTIFY_SOCKET", (kind) => {
    const l = listener(kind);
    const env = { NOTIFY_SOCKET: l.address };
    expect(sdNotify("READY=1\nSTATUS=listening on /run/x.sock", env)).toBe(true);
    expect(sdNotify("STOPPING=1", env)).toBe(true);
    expect(l.drain()).toEqual(["READY=1\nSTATUS=listening on /run/x.sock", "STOPPING=1"]);
  });

  test("reads process.env by default", () => {
    const l = listener("path");
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = l.address;
    cleanups.push(() => (saved === undefined ? delete process.env.NOTIFY_SOCKET : (process.env.NOTIFY_SOCKET = saved)));
    expect(sdNotify("STATUS=from process.env")).toBe(true);
    expect(l.drain()).toEqual(["STATUS=from process.env"]);
  });

  test.each([
    { why: "NOTIFY_SOCKET unset", env: {} },
    { why: "NOTIFY_SOCKET empty", env: { NOTIFY_SOCKET: "" } },
    { why: "nobody listening at the path", env: { NOTIFY_SOCKET: "/nonexistent/criu-coordinator/notify.sock" } },
    { why: "nobody listening at the abstract name", env: { NOTIFY_SOCKET: "@criu-coordinator-nobody-listens-here" } },
    { why: "a relative path", env: { NOTIFY_SOCKET: "run/notify" } },
    { why: "a path longer than sun_path", env: { NOTIFY_SOCKET: "/" + "x".repeat(200) } },
  ])("returns false without throwing: $why", ({ env }) => {
    expect(sdNotify("READY=1", env)).toBe(false);
  });

  test("returns false for an empty message and sends nothing", () => {
    const l = listener("path");
    expect(sdNotify("", { NOTIFY_SOCKET: l.address })).toBe(false);
    expect(l.drain()).toEqual([]);
  });
});

describe("notifyAddress()", () => {
  test.each([
    { socket: "/run/systemd/notify", len: 2 + 19 + 1, at: 2, first: "/" },
    { socket: "@/org/freedesktop/systemd1/notify/123", len: 2 + 1 + 36, at: 3, first: "/" },
  ])("$socket → length $len", ({ socket, len, at, first }) => {
    const got = notifyAddress(socket)!;
    expect(got.len).toBe(len);
    expect(new DataView(got.addr.buffer).getUint16(0, true)).toBe(1);
    expect(got.addr[2]).toBe(at === 3 ? 0 : first.charCodeAt(0));
    expect(String.fromCharCode(got.addr[at]!)).toBe(first);
  });

  test.each(["relative", "/" + "p".repeat(107), "@" + "a".repeat(108)])("rejects %p", (socket) => {
    expect(notifyAddress(socket)).toBeNull();
  });

  test("accepts the longest path that fits with its NUL", () => {
    expect(notifyAddress("/" + "p".repeat(106))?.len).toBe(110);
  });
});

describe("watchdogIntervalMs()", () => {
  test.each([
    { why: "watchdog off", env: {}, want: undefined },
    { why: "WATCHDOG_USEC=0", env: { WATCHDOG_USEC: "0" }, want: undefined },
    { why: "garbage", env: { WATCHDOG_USEC: "30s" }, want: undefined },
    { why: "WatchdogSec=30s, no WATCHDOG_PID", env: { WATCHDOG_USEC: "30000000" }, want: 15_000 },
    { why: "WATCHDOG_PID is us", env: { WATCHDOG_USEC: "30000000", WATCHDOG_PID: "77" }, want: 15_000 },
    { why: "WATCHDOG_PID is another process", env: { WATCHDOG_USEC: "30000000", WATCHDOG_PID: "78" }, want: undefined },
    { why: "tiny value rounds up to 1 ms", env: { WATCHDOG_USEC: "1" }, want: 1 },
  ])("$why → $want", ({ env, want }) => {
    expect(watchdogIntervalMs(env, 77)).toBe(want);
  });
});

describe("startWatchdog()", () => {
  test("pings a real socket at half WATCHDOG_USEC until stopped", async () => {
    const l = listener("abstract");
    const stop = startWatchdog({ NOTIFY_SOCKET: l.address, WATCHDOG_USEC: "60000", WATCHDOG_PID: `${process.pid}` });
    await sleep(250);
    const got = l.drain();
    stop();
    // One at start, then every 30 ms: about 9 in 250 ms; loaded CI machines may fire fewer.
    expect(got.length).toBeGreaterThanOrEqual(4);
    expect(new Set(got)).toEqual(new Set(["WATCHDOG=1"]));
    await sleep(100);
    expect(l.drain()).toEqual([]);
  });

  test("does nothing when the watchdog is meant for another process", async () => {
    const l = listener("path");
    const stop = startWatchdog({ NOTIFY_SOCKET: l.address, WATCHDOG_USEC: "20000", WATCHDOG_PID: "1" });
    await sleep(60);
    stop();
    expect(l.drain()).toEqual([]);
  });

  test("sends through the injected notify function", () => {
    const sent: string[] = [];
    const stop = startWatchdog({ WATCHDOG_USEC: "10000000" }, { pid: 5, notify: (s) => (sent.push(s), true) });
    stop();
    expect(sent).toEqual(["WATCHDOG=1"]);
  });
});
