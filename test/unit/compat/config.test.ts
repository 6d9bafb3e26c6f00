import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";

describe("[compat] in config.toml", () => {
  test("listen and wait_timeout", () => {
    expect(parseConfig(`[compat]\nlisten = "127.0.0.1:8080"\n`, "c.toml").compat).toEqual({ listen: "127.0.0.1:8080", waitTimeoutMs: 30_000 });
    expect(parseConfig(`[compat]\nlisten = "[::1]:9000"\nwait_timeout = "5s"\n`, "c.toml").compat).toEqual({ listen: "[::1]:9000", waitTimeoutMs: 5000 });
    expect(parseConfig(``, "c.toml").compat).toBeUndefined();
  });

  test.each([
    [`[compat]\nwait_timeout = "5s"\n`, `c.toml:1:1: expected listen = "host:port" in [compat]`],
    [`[compat]\nlisten = "8080"\n`, `c.toml:2:1: expected host:port for compat.listen, got "8080"`],
    [`[compat]\nlisten = "127.0.0.1:8080"\nwait_timeout = "soon"\n`, "c.toml:3:1: compat.wait_timeout: expected a duration"],
    [`[compat]\nlisten = "127.0.0.1:8080"\nport = 1\n`, `c.toml:3:1: unknown key "port" in [compat]`],
  ])("%s is an error", (text, message) => {
    expect(() => parseConfig(text, "c.toml")).toThrow(ConfigError);
    expect(() => parseConfig(text, "c.toml")).toThrow(message);
  });
});
