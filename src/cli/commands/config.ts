import { defineCommand } from "citty";
import { configPath, ConfigError, loadConfig } from "../../config/load.ts";
import { formatMs } from "../../barrier/format.ts";

const check = defineCommand({
  meta: { name: "check", description: "Validate a configuration file without starting anything; exit 0 if valid, 1 if not" },
  args: {
    file: { type: "positional", required: false, description: "File to check (default: $CRIU_COORDINATOR_CONFIG, else /etc/criu-coordinator/config.toml)" },
    json: { type: "boolean", description: "Print the effective configuration as JSON" },
  },
  run({ args }) {
    const file = (args.file as string | undefined) ?? configPath();
    try {
      const config = loadConfig(file, { required: args.file !== undefined });
      if (args.json) {
        console.log(JSON.stringify(config, null, 2));
        return;
      }
      console.log(`${config.source}: valid`);
      console.log(`  socket: ${config.daemon.socket}`);
      if (config.groups.length === 0) console.log("  no groups: every process passes through uncoordinated");
      for (const g of config.groups) {
        const deps = g.dependencies ? `; dependencies: ${Object.entries(g.dependencies).map(([k, v]) => `${k} → ${v.join(", ") || "none"}`).join("; ")}` : "; every member waits for all others";
        console.log(`  group ${g.name}: ${g.members.join(", ")} (timeout ${formatMs(g.timeoutMs)}${deps})`);
      }
      if (config.cluster) console.log(`  cluster: node ${config.cluster.node}, listen ${config.cluster.listen}, ${config.cluster.peers.length} peer(s)`);
    } catch (e) {
      console.error(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`);
      process.exit(1);
    }
  },
});

export default defineCommand({
  meta: { name: "config", description: "Work with the configuration file" },
  subCommands: { check },
});
