import { defineCommand } from "citty";
import { existsSync, writeFileSync } from "node:fs";
import { generateKey } from "../../gossip/keyring.ts";
import { fail } from "../shared.ts";

export default defineCommand({
  meta: {
    name: "keygen",
    description:
      "Print a new random cluster key (AES-256, base64). Every node needs the same key file (cluster.key_file); to rotate, add the new key as a second line everywhere, then move it first, then remove the old one",
  },
  args: {
    output: { type: "string", alias: "o", description: "Write the key to this file (mode 0600) instead of printing it; refuses to overwrite" },
  },
  run({ args }) {
    const key = generateKey();
    if (!args.output) {
      console.log(key);
      return;
    }
    if (existsSync(args.output)) fail(`${args.output} exists; not overwriting a cluster key (remove it first, or add the new key as a line to rotate)`);
    writeFileSync(args.output, `${key}\n`, { mode: 0o600 });
    console.log(`wrote a new cluster key to ${args.output}`);
  },
});
