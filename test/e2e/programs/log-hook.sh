#!/bin/bash
# CRIU action-script for the e2e tests: logs every hook call, and fails on purpose at chosen hooks.
#
#   HOOK_LOG=FILE         one line per call is appended: "<hook> init_pid=<pid|none> state=<state>"
#                         (state of CRTOOLS_INIT_PID: R/S running, t frozen, gone)
#   HOOK_FAIL_AT="a b"    hook names at which to exit non-zero
#   HOOK_FAIL_RC=1        exit code used for those
#   HOOK_SLEEP_AT="a b"   hook names at which to sleep HOOK_SLEEP_S seconds (default 2) after logging,
#                         holding CRIU there: the window in which a test injects a fault
# CRIU closes stdin and sends our stdout/stderr to its -o log.
action=${CRTOOLS_SCRIPT_ACTION:-unset}
state=none
if [ -n "${CRTOOLS_INIT_PID:-}" ]; then
  state=$(awk '/^State/ { print $2 }' "/proc/$CRTOOLS_INIT_PID/status" 2>/dev/null || true)
  state=${state:-gone}
fi
if [ -n "${HOOK_LOG:-}" ]; then
  echo "$action init_pid=${CRTOOLS_INIT_PID:-none} state=$state" >>"$HOOK_LOG"
fi
for h in ${HOOK_SLEEP_AT:-}; do
  [ "$h" = "$action" ] && sleep "${HOOK_SLEEP_S:-2}"
done
for h in ${HOOK_FAIL_AT:-}; do
  if [ "$h" = "$action" ]; then
    echo "log-hook: failing on purpose at $action" >&2
    exit "${HOOK_FAIL_RC:-1}"
  fi
done
exit 0
