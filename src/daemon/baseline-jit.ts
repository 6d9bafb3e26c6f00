/**
 * The daemon runs JavaScriptCore without its optimising DFG and FTL compilers, on the
 * interpreter and the baseline JIT. A hook call costs the daemon microseconds of JavaScript, which
 * optimising compilers never pay back, while they and their profiling data cost resident memory
 * (bench/scale.ts, 100 groups of 10: idle 39 → 35.5 MiB; 1,000 participants in flight 80 → 68
 * MiB; a burst of 3,000 calls 13% more CPU; a 10-member barrier is released as fast).
 * The JIT can not go altogether: bun:ffi, which sd_notify needs, refuses to run without it.
 *
 * JavaScriptCore reads its options once, from BUN_JSC_* variables at start, so the daemon
 * re-executes itself (the same pid: systemd's socket fds, LISTEN_PID and NotifyAccess=main stay
 * valid) with BUN_JSC_useDFGJIT=0, unless the operator has set that variable or BUN_JSC_useJIT
 * (BUN_JSC_useDFGJIT=1 keeps every tier). bun:ffi does the execve(2); it goes with the old image.
 */
export const DFG_ENV = "BUN_JSC_useDFGJIT";
const JIT_ENV = "BUN_JSC_useJIT";

/** Returns only if the re-exec was not needed or failed (then with the reason). */
export async function reexecWithBaselineJit(env: Record<string, string | undefined> = process.env): Promise<string | undefined> {
  if (env[DFG_ENV] !== undefined || env[JIT_ENV] !== undefined) return undefined;
  try {
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const { symbols } = dlopen("libc.so.6", { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });
    const encoder = new TextEncoder();
    // Every C string stays referenced here until execve returns (it only returns on failure).
    const strings: Uint8Array[] = [];
    const cString = (s: string) => {
      const b = encoder.encode(`${s}\0`);
      strings.push(b);
      return ptr(b);
    };
    const pointerArray = (items: string[]) => {
      const a = new BigUint64Array(items.length + 1);
      items.forEach((s, i) => (a[i] = BigInt(cString(s))));
      return a;
    };
    const argv = pointerArray([process.execPath, ...process.argv.slice(2)]);
    const envp = pointerArray([...Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])), `${DFG_ENV}=0`]);
    symbols.execve(cString(process.execPath), ptr(argv), ptr(envp));
    return `execve(${process.execPath}) failed; running with every JIT tier`;
  } catch (e) {
    return `cannot re-execute with the baseline JIT only (${(e as Error).message}); running with every JIT tier`;
  }
}
