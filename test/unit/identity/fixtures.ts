/**
 * Loads the cgroup samples: the shared ones (../shared/fixtures/cgroup.json, outside the repo) and
 * our own (test/fixtures/cgroup/*.json). A missing shared file is an error, never a silent skip.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export type CgroupSample = {
  name?: string;
  runtime: string;
  cgroup_version: string;
  source: string;
  content: string;
  expected_id: string | null;
  mountinfo?: string;
  expected_id_from_mountinfo?: string;
  // Only in our own samples: what else the decision must say.
  expected_rule?: string;
  expected_runtime?: string | null;
  expected_name?: string;
  expected_rule_with_mountinfo?: string;
  expected_runtime_with_mountinfo?: string;
};

export const repoRoot = path.resolve(import.meta.dir, "..", "..", "..");
export const sharedFixturePath = path.join(repoRoot, "..", "shared", "fixtures", "cgroup.json");
const ownFixtureDir = path.join(repoRoot, "test", "fixtures", "cgroup");

function checked(file: string, samples: unknown): CgroupSample[] {
  if (!Array.isArray(samples) || samples.length === 0) throw new Error(`Cannot use ${file}: not a non-empty JSON array`);
  for (const s of samples as CgroupSample[]) {
    if (typeof s.content !== "string" || typeof s.source !== "string" || s.source === "") {
      throw new Error(`Cannot use ${file}: a sample lacks content or source (${JSON.stringify(s).slice(0, 80)})`);
    }
  }
  return samples as CgroupSample[];
}

/** The shared samples; throws (failing the whole file) if the file is missing. */
export function loadSharedSamples(): CgroupSample[] {
  if (!existsSync(sharedFixturePath)) {
    throw new Error(`Cannot load the shared cgroup fixtures: ${sharedFixturePath} does not exist`);
  }
  return checked(sharedFixturePath, JSON.parse(readFileSync(sharedFixturePath, "utf8")));
}

/** Our own samples, each tagged with the file it came from. */
export function loadOwnSamples(): (CgroupSample & { file: string })[] {
  const files = readdirSync(ownFixtureDir).filter((f) => f.endsWith(".json")).sort();
  return files.flatMap((file) => {
    const full = path.join(ownFixtureDir, file);
    return checked(full, JSON.parse(readFileSync(full, "utf8"))).map((s) => ({ ...s, file }));
  });
}
