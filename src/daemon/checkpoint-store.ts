/**
 * Operations on this node's disk: `<operations dir>/<id>/manifest.json` plus one images directory
 * per member. An operation taken with `--dir DIR` lives in DIR, and `<operations dir>/<id>` is a
 * symlink to it, so one directory lists every operation.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST_FILE, parseManifest } from "../operations/manifest.ts";
import { DEFAULT_OPERATIONS_DIR, memberDirName } from "../operations/plan.ts";
import type { Manifest, StoredOperation } from "../operations/types.ts";
import { diskUsage } from "./checkpoint-criu.ts";
import { CONTAINER_ARCHIVE } from "./checkpoint-podman.ts";

/** Most operations one listing carries (a peer's answer must fit one gossip packet). */
const LIST_LIMIT = 50;

export class OperationStore {
  constructor(
    readonly node: string,
    readonly baseDir: string = process.env.CRIU_COORDINATOR_OPERATIONS_DIR || DEFAULT_OPERATIONS_DIR,
  ) {}

  /** Creates the operation's directory (and the link to it for --dir) and its members' directories. */
  prepare(id: string, members: readonly string[], dir?: string): string {
    const opDir = dir ?? join(this.baseDir, id);
    mkdirSync(this.baseDir, { recursive: true, mode: 0o700 });
    mkdirSync(opDir, { recursive: true, mode: 0o700 });
    if (dir !== undefined && !existsSync(join(this.baseDir, id))) symlinkSync(dir, join(this.baseDir, id));
    for (const m of members) mkdirSync(this.memberDir(opDir, m), { recursive: true, mode: 0o700 });
    return opDir;
  }

  memberDir(opDir: string, member: string): string {
    return join(opDir, memberDirName(member));
  }

  /** The operation's directory, if this node holds it. */
  dirOf(id: string): string | undefined {
    const p = join(this.baseDir, id);
    return existsSync(join(p, MANIFEST_FILE)) ? realpathSync(p) : undefined;
  }

  /** Writes the manifest atomically (a crash never leaves half a file). */
  write(opDir: string, m: Manifest): void {
    const final = join(opDir, MANIFEST_FILE);
    const tmp = `${final}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(m, null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, final);
  }

  read(id: string): Manifest | undefined {
    const dir = this.dirOf(id);
    if (!dir) return undefined;
    const m = parseManifest(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8")));
    return typeof m === "string" ? undefined : m;
  }

  /** The newest operations this node holds images of, newest last. */
  list(group?: string): StoredOperation[] {
    let entries: string[];
    try {
      entries = readdirSync(this.baseDir);
    } catch {
      return [];
    }
    const out: StoredOperation[] = [];
    for (const id of entries) {
      let m: Manifest | undefined;
      try {
        m = this.read(id);
      } catch {
        continue; // unreadable manifest: not an operation we can use
      }
      if (!m || (group !== undefined && m.group !== group)) continue;
      const dir = this.dirOf(id)!;
      // A committed dump wrote inventory.img (CRIU) or the container's export (Podman) into every
      // member's directory; one without it was removed.
      const missing = m.outcome !== "committed" ? [] : m.members.filter((x) => x.node === this.node && !existsSync(imagesMarker(x))).map((x) => x.member);
      out.push({ node: this.node, dir, bytes: diskUsage(dir), manifest: m, missing });
    }
    return out.sort((a, b) => a.manifest.createdAt.localeCompare(b.manifest.createdAt)).slice(-LIST_LIMIT);
  }
}

/** The file a member's complete images always contain: CRIU's inventory, or Podman's export. */
export function imagesMarker(x: { dir: string; container?: string | undefined }): string {
  return join(x.dir, x.container ? CONTAINER_ARCHIVE : "inventory.img");
}
