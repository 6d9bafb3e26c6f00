import { describe, expect, test } from "bun:test";
import { parsePlainDaemonArgs } from "../../../src/cli/run-daemon.ts";

describe("parsePlainDaemonArgs (the daemon's citty-free path)", () => {
  test.each([
    { argv: [], want: {} },
    { argv: ["--config", "/etc/x.toml"], want: { config: "/etc/x.toml" } },
    { argv: ["-c", "/etc/x.toml"], want: { config: "/etc/x.toml" } },
    { argv: ["--config=/etc/x.toml", "--log-level=debug"], want: { config: "/etc/x.toml", "log-level": "debug" } },
    { argv: ["--log-level", "warn", "--config", "a=b.toml"], want: { "log-level": "warn", config: "a=b.toml" } },
  ])("accepts $argv", ({ argv, want }) => {
    expect(parsePlainDaemonArgs(argv)).toEqual(want);
  });

  // Everything else goes to citty, which prints help or the error.
  test.each([["--help"], ["-h"], ["--config"], ["--config", "--log-level", "x"], ["--config="], ["--bogus"], ["extra"], ["-c", "a", "-c", "b"]].map((argv) => ({ argv })))(
    "leaves $argv to citty",
    ({ argv }) => {
      expect(parsePlainDaemonArgs(argv)).toBeUndefined();
    },
  );
});
