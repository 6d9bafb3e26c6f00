/**
 * Import-graph rules: the barrier engine stays pure, and the action-script path stays lean (it runs
 * while CRIU waits, and between network-lock and post-dump the application is frozen).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const SRC = join(ROOT, "src");

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gms)) {
    // `import type` is erased at build time and costs nothing at run time.
    if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    specs.push(m[1]!);
  }
  for (const m of text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) specs.push(m[1]!);
  return specs;
}

/** Every module reachable from `entry`: by static imports, and also dynamic ones if asked. */
function closure(entry: string, opts: { dynamic: boolean }): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = readFileSync(file, "utf8");
    const specs: string[] = [];
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gms)) {
      if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
      specs.push(m[1]!);
    }
    if (opts.dynamic) for (const m of text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) specs.push(m[1]!);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith(".")) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return seen;
}

describe("architecture", () => {
  test("the barrier engine imports nothing outside src/barrier and uses no clock or I/O", () => {
    const glob = new Bun.Glob("barrier/**/*.ts");
    for (const f of glob.scanSync(SRC)) {
      const file = join(SRC, f);
      for (const spec of importsOf(file)) {
        const target = spec.startsWith(".") ? relative(SRC, resolve(dirname(file), spec)) : spec;
        expect({ file: f, imports: target, outside: !target.startsWith("barrier/") }).toEqual({ file: f, imports: target, outside: false });
      }
      const text = readFileSync(file, "utf8");
      expect({ file: f, usesClock: /Date\.now|performance\.now|setTimeout|setInterval|new Date\(/.test(text) }).toEqual({ file: f, usesClock: false });
    }
  });

  test("the action-script path never loads citty, consola, the daemon or gossip, even on demand", () => {
    const mods = closure(join(SRC, "hook", "run.ts"), { dynamic: true });
    expect(mods.size).toBeGreaterThan(8); // the walk really follows imports
    const bad = [...mods.entries()].flatMap(([file, specs]) =>
      specs
        .filter((s) => /^(citty|consola)/.test(s) || (s.startsWith(".") && /\/(daemon|gossip|cli|etcd|operations)\//.test(resolve(dirname(file), s))))
        .map((s) => `${relative(SRC, file)} → ${s}`),
    );
    expect(bad).toEqual([]);
  });

  // node:fs is on the list because loading it costs a hook call about 1 ms (bench/hook-startup.ts).
  test("an uncoordinated hook call parses no TOML, cgroup or socket code, and loads no node:fs, before it knows it is needed", () => {
    const eager = [...closure(join(SRC, "hook", "run.ts"), { dynamic: false }).entries()];
    const heavy = eager.flatMap(([file, specs]) =>
      specs.filter((s) => s === "smol-toml" || /^(node:)?fs$/.test(s) || /(config\/load|identity\/(resolve|cgroup|names)|hook\/client|compat\/)/.test(s)).map((s) => `${relative(SRC, file)} → ${s}`),
    );
    expect(eager.length).toBeGreaterThan(3);
    expect(heavy).toEqual([]);
  });

  test("main.ts decides the role before importing anything heavy", () => {
    const text = readFileSync(join(SRC, "main.ts"), "utf8");
    expect(text).not.toMatch(/^\s*import\s[^(]/m); // only dynamic imports
    expect(text.indexOf("CRTOOLS_SCRIPT_ACTION")).toBeLessThan(text.indexOf("import("));
  });
});
