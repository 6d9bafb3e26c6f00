/**
 * CRIU's action-script hooks, in the order CRIU fires them, and what each means to a barrier.
 *
 * Facts from ../shared/notes/criu-hooks.md (CRIU 4.2.1):
 * - dump: pre-dump → [network-lock] → post-dump → [network-unlock]
 * - restore: pre-restore → [setup-namespaces → post-setup-namespaces] → post-restore → [network-unlock]
 *   → pre-resume → post-resume
 * - Only pre-dump, network-lock and post-dump can veto a dump; a non-zero post-dump resumes the
 *   process even in kill mode, so post-dump is the dump's commit point.
 * - pre-restore, setup-namespaces, post-setup-namespaces and post-restore can veto a restore; a
 *   non-zero post-restore kills the restored tree, so post-restore is the restore's commit point.
 * - network-unlock, pre-resume and post-resume exit codes are ignored by CRIU.
 */

export type OperationKind = "dump" | "restore";

/** What the coordinator does at a hook. */
export type HookRole =
  /** Opens (or joins) an operation and waits for dependencies. */
  | "start"
  /** Waits until the participant's dependencies reached this hook or a later one. */
  | "barrier"
  /** Waits for every member of the operation; the outcome of this hook decides the operation. */
  | "commit"
  /** Records progress and answers at once. */
  | "progress";

export interface HookInfo {
  readonly kind: OperationKind;
  /** Position within the operation: a participant at rank r has reached every hook of lower rank. */
  readonly rank: number;
  readonly role: HookRole;
  /** Whether a non-zero exit makes CRIU abort (otherwise CRIU only logs it). */
  readonly vetoes: boolean;
}

const DUMP_HOOKS = {
  "pre-dump": { kind: "dump", rank: 0, role: "start", vetoes: true },
  "network-lock": { kind: "dump", rank: 1, role: "barrier", vetoes: true },
  "post-dump": { kind: "dump", rank: 2, role: "commit", vetoes: true },
  // After a successful post-dump only with --leave-running; before post-dump it means the dump failed.
  "network-unlock": { kind: "dump", rank: 3, role: "progress", vetoes: false },
} as const satisfies Record<string, HookInfo>;

const RESTORE_HOOKS = {
  "pre-restore": { kind: "restore", rank: 0, role: "start", vetoes: true },
  "setup-namespaces": { kind: "restore", rank: 1, role: "progress", vetoes: true },
  "post-setup-namespaces": { kind: "restore", rank: 2, role: "progress", vetoes: true },
  "post-restore": { kind: "restore", rank: 3, role: "commit", vetoes: true },
  // Unlocks the node's network once every dependency is restored; CRIU ignores its exit code.
  "network-unlock": { kind: "restore", rank: 4, role: "barrier", vetoes: false },
  "pre-resume": { kind: "restore", rank: 5, role: "progress", vetoes: false },
  "post-resume": { kind: "restore", rank: 6, role: "progress", vetoes: false },
} as const satisfies Record<string, HookInfo>;

/** Hooks CRIU may call that take no part in coordination: answered at once, nothing recorded. */
export const PASS_THROUGH_HOOKS = [
  "pre-stream",
  "status-ready",
  "orphan-pts-master",
  "query-ext-files",
] as const;

export type DumpHook = keyof typeof DUMP_HOOKS;
export type RestoreHook = keyof typeof RESTORE_HOOKS;
export type CoordinatedHook = DumpHook | RestoreHook;
export type HookName = CoordinatedHook | (typeof PASS_THROUGH_HOOKS)[number];

export const ALL_HOOKS: readonly HookName[] = [
  ...Object.keys(DUMP_HOOKS),
  ...Object.keys(RESTORE_HOOKS).filter((h) => h !== "network-unlock"),
  ...PASS_THROUGH_HOOKS,
] as HookName[];

export function isHookName(name: string): name is HookName {
  return (ALL_HOOKS as readonly string[]).includes(name);
}

export function isPassThrough(name: HookName): boolean {
  return (PASS_THROUGH_HOOKS as readonly string[]).includes(name);
}

/** The meaning of `hook` within an operation of `kind`, or undefined if the hook is not part of it. */
export function hookInfo(kind: OperationKind, hook: string): HookInfo | undefined {
  const table: Record<string, HookInfo> = kind === "dump" ? DUMP_HOOKS : RESTORE_HOOKS;
  return Object.hasOwn(table, hook) ? table[hook] : undefined;
}

/** The operation kind a hook can open, if it is a start hook. */
export function startKind(hook: string): OperationKind | undefined {
  if (hook === "pre-dump") return "dump";
  if (hook === "pre-restore") return "restore";
  return undefined;
}

/** Kinds whose operations contain `hook` (network-unlock belongs to both). */
export function kindsOf(hook: string): OperationKind[] {
  const kinds: OperationKind[] = [];
  if (hookInfo("dump", hook)) kinds.push("dump");
  if (hookInfo("restore", hook)) kinds.push("restore");
  return kinds;
}

/** Hook names of an operation kind, in rank order. */
export function hooksOf(kind: OperationKind): string[] {
  return Object.keys(kind === "dump" ? DUMP_HOOKS : RESTORE_HOOKS);
}
