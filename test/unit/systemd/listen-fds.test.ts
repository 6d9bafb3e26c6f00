import { describe, expect, test } from "bun:test";
import { ListenFdsError, parseListenFds, pickListenFd, unsetListenEnv } from "../../../src/systemd/listen-fds.ts";

const PID = 4242;

describe("parseListenFds()", () => {
  test.each([
    { why: "no activation variables", env: {}, want: [] },
    { why: "LISTEN_FDS without LISTEN_PID", env: { LISTEN_FDS: "1" }, want: [] },
    { why: "LISTEN_PID without LISTEN_FDS", env: { LISTEN_PID: `${PID}` }, want: [] },
    { why: "LISTEN_PID of another process (inherited by a child)", env: { LISTEN_PID: "1", LISTEN_FDS: "1" }, want: [] },
    { why: "zero fds", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "0" }, want: [] },
    { why: "zero fds with an empty name list", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "0", LISTEN_FDNAMES: "" }, want: [] },
    { why: "one fd without names", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "1" }, want: [{ fd: 3, name: "unknown" }] },
    { why: "one named fd", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "1", LISTEN_FDNAMES: "hook" }, want: [{ fd: 3, name: "hook" }] },
    {
      why: "three fds in order (hook socket, peer stream, peer datagram)",
      env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "3", LISTEN_FDNAMES: "hook:peer:peer" },
      want: [
        { fd: 3, name: "hook" },
        { fd: 4, name: "peer" },
        { fd: 5, name: "peer" },
      ],
    },
    { why: "an empty name is kept", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "2", LISTEN_FDNAMES: ":peer" }, want: [{ fd: 3, name: "" }, { fd: 4, name: "peer" }] },
  ])("$why", ({ env, want }) => {
    expect(parseListenFds(env as Record<string, string>, PID)).toEqual([...want]);
  });

  test.each([
    { why: "LISTEN_PID not a number", env: { LISTEN_PID: "abc", LISTEN_FDS: "1" }, message: 'Invalid LISTEN_PID: expected a pid, got "abc"' },
    { why: "LISTEN_PID zero", env: { LISTEN_PID: "0", LISTEN_FDS: "1" }, message: 'Invalid LISTEN_PID: expected a pid, got "0"' },
    { why: "LISTEN_FDS negative", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "-1" }, message: 'Invalid LISTEN_FDS: expected a count from 0 to 4096, got "-1"' },
    { why: "LISTEN_FDS not a number", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "two" }, message: 'Invalid LISTEN_FDS: expected a count from 0 to 4096, got "two"' },
    { why: "LISTEN_FDS absurdly large", env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "100000" }, message: 'Invalid LISTEN_FDS: expected a count from 0 to 4096, got "100000"' },
    {
      why: "fewer names than fds",
      env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "2", LISTEN_FDNAMES: "hook" },
      message: 'Invalid LISTEN_FDNAMES: expected 2 names separated by ":", got 1 in "hook"',
    },
    {
      why: "more names than fds",
      env: { LISTEN_PID: `${PID}`, LISTEN_FDS: "1", LISTEN_FDNAMES: "hook:peer" },
      message: 'Invalid LISTEN_FDNAMES: expected 1 names separated by ":", got 2 in "hook:peer"',
    },
  ])("throws ListenFdsError: $why", ({ env, message }) => {
    expect(() => parseListenFds(env, PID)).toThrow(new ListenFdsError(message));
  });

  test("a malformed LISTEN_FDS for another process is still not ours (no throw)", () => {
    expect(parseListenFds({ LISTEN_PID: "1", LISTEN_FDS: "junk" }, PID)).toEqual([]);
  });
});

describe("pickListenFd()", () => {
  test.each([
    { why: "by name", fds: [{ fd: 3, name: "peer" }, { fd: 4, name: "hook" }], want: 4 },
    { why: "a single unnamed fd", fds: [{ fd: 3, name: "unknown" }], want: 3 },
    { why: "no fds", fds: [], want: undefined },
    { why: "a single fd with another name", fds: [{ fd: 3, name: "peer" }], want: undefined },
    { why: "several unnamed fds are ambiguous", fds: [{ fd: 3, name: "unknown" }, { fd: 4, name: "unknown" }], want: undefined },
  ])("$why", ({ fds, want }) => {
    expect(pickListenFd(fds, "hook")).toBe(want);
  });
});

describe("unsetListenEnv()", () => {
  test("removes only the activation variables", () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: "1", LISTEN_FDS: "1", LISTEN_FDNAMES: "hook", NOTIFY_SOCKET: "/run/n", PATH: "/bin" };
    unsetListenEnv(env);
    expect(env).toEqual({ NOTIFY_SOCKET: "/run/n", PATH: "/bin" });
  });
});
