import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSmallFile } from "../../../src/util/small-file.ts";

const dir = mkdtempSync(join(tmpdir(), "small-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readSmallFile (Bun.mmap, no node:fs, no I/O threads)", () => {
  test("text, empty text, and null for what does not exist", () => {
    writeFileSync(join(dir, "a"), "héllo\n");
    writeFileSync(join(dir, "empty"), "");
    expect(readSmallFile(join(dir, "a"))).toBe("héllo\n");
    expect(readSmallFile(join(dir, "empty"))).toBe("");
    expect(readSmallFile(join(dir, "missing"))).toBeNull();
    expect(readSmallFile(join(dir, "a", "below-a-file"))).toBeNull();
  });

  test("a directory is an error, not an empty file", () => {
    expect(() => readSmallFile(dir)).toThrow();
  });
});
