/** Pieces several commands share: the --config option and loading it with a clear error. */
import { configPath, ConfigError, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

export const configArg = {
  config: {
    type: "string",
    alias: "c",
    description: "Configuration file (default: $CRIU_COORDINATOR_CONFIG, else /etc/criu-coordinator/config.toml; missing → embedded default)",
  },
} as const;

/** Loads the configuration or exits 2 with the error; an explicit --config must exist. */
export function loadOrExit(explicit: string | undefined): Config {
  try {
    return explicit ? loadConfig(explicit, { required: true }) : loadConfig(configPath());
  } catch (e) {
    console.error(e instanceof ConfigError ? `criu-coordinator: ${e.message}` : `criu-coordinator: ${(e as Error).message}`);
    process.exit(2);
  }
}

export function fail(message: string, code = 1): never {
  console.error(`criu-coordinator: ${message}`);
  process.exit(code);
}
