/**
 * Checkpoint and restore operations started by `criu-coordinator checkpoint` / `restore`: what the
 * daemons tell each other and the CLI. Pure types; docs/checkpoint.md describes the flow.
 */

/** Where one member's CRIU run is. "unknown": its node stopped answering before it ended. */
export type MemberState = "planned" | "running" | "ok" | "failed" | "unknown";

/** One member of an operation, as its node reports it. */
export interface MemberProgress {
  readonly member: string;
  readonly node: string;
  /** Root of the dumped process tree (checkpoint), or the restored root once known. */
  readonly pid?: number;
  /** Images directory on `node`. */
  readonly dir: string;
  /** The container's ID when the member is a Podman container (dumped by `podman container checkpoint`). */
  readonly container?: string;
  readonly state: MemberState;
  /** Furthest CRIU hook the member's daemon saw in this operation, null before the first. */
  readonly hook: string | null;
  /** CRIU's exit code, once it ended. */
  readonly code?: number;
  /** Why it failed: CRIU's error lines and the coordinator's verdict. */
  readonly message?: string;
  /** Size of the images on disk, once the dump ended. */
  readonly bytes?: number;
}

export type OperationKind = "checkpoint" | "restore";
export type OperationState = "running" | "committed" | "failed";

/** What `criu-coordinator checkpoint` / `restore` poll and print. */
export interface OperationSnapshot {
  /** The operation's id; for a restore, its own id (`checkpoint` names the images). */
  readonly id: string;
  readonly kind: OperationKind;
  readonly group: string;
  /** The checkpoint operation whose images are written (checkpoint) or read (restore). */
  readonly checkpoint: string;
  readonly state: OperationState;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly leaveRunning?: boolean;
  readonly members: readonly MemberProgress[];
  /** One line on the outcome when it ended. */
  readonly message?: string;
}

/** One member in a manifest. */
export interface ManifestMember {
  readonly member: string;
  readonly node: string;
  readonly pid: number;
  readonly dir: string;
  /** A Podman container's ID: restored by `podman container restore`, not by CRIU directly. */
  readonly container?: string;
  readonly outcome: MemberState;
  readonly code?: number;
  readonly message?: string;
}

/** A restore of the manifest's images. */
export interface ManifestRestore {
  readonly id: string;
  readonly at: string;
  readonly outcome: "committed" | "failed";
  readonly reason?: string;
}

/**
 * manifest.json next to the images of one checkpoint, on every node that holds some of them.
 * `outcome` is "running" from the start of the dump until the initiating daemon records the end,
 * so a crash mid-operation leaves a manifest that is never restorable.
 */
export interface Manifest {
  readonly version: 1;
  readonly id: string;
  readonly group: string;
  readonly createdAt: string;
  readonly endedAt?: string;
  readonly leaveRunning: boolean;
  readonly outcome: OperationState;
  readonly reason?: string;
  readonly nodes: readonly string[];
  readonly members: readonly ManifestMember[];
  readonly restores: readonly ManifestRestore[];
}

/** A manifest as one node holds it, with where and how large its images are. */
export interface StoredOperation {
  readonly node: string;
  /** The operation directory on that node (manifest.json and one directory per member). */
  readonly dir: string;
  readonly bytes: number;
  readonly manifest: Manifest;
  /** Members listed for this node whose images directory is missing. */
  readonly missing: readonly string[];
}
