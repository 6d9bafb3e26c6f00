#!/usr/bin/env bash
# The test command (npm test): installs what is missing, builds the binary, runs every suite, and
# ends with one plain line "N passed, N failed, N skipped". Exit code: bun's.
#   npm test                 all suites
#   npm test -- test/unit    only some paths (arguments go to bun test)
set -u
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
if [ "${SKIP_TEST_DEPS:-0}" != 1 ]; then
  bash scripts/install-test-deps.sh || { echo "!! installing test dependencies failed" >&2; exit 1; }
fi
npm run --silent build >/dev/null || { echo "!! build failed" >&2; npm run build; exit 1; }

bun=./node_modules/.bin/bun
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ $# -eq 0 ]; then set -- test/; fi
"$bun" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
num() { grep -E "^ *[0-9]+ $1\$" "$log" | tail -n1 | tr -dc '0-9'; }
pass=$(num pass); fail=$(num fail); skip=$(num skip); todo=$(num todo)
fail=${fail:-0}
# A non-zero exit with no counted failure (crash, error while importing) is still a failure.
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "${pass:-0} passed, ${fail} failed, $(( ${skip:-0} + ${todo:-0} )) skipped"
exit "$rc"
