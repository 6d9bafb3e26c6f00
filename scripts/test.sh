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
pass=0; fail=0; skip=0; rc=0
num() { grep -E "^ *[0-9]+ $1\$" "$log" | tail -n1 | tr -dc '0-9'; }
# One bun test run; its counts are added to the totals.
run_bun() {
  "$bun" test "$@" 2>&1 | tee "$log"
  local r=${PIPESTATUS[0]} p f s t
  p=$(num pass); f=$(num fail); s=$(num skip); t=$(num todo)
  pass=$(( pass + ${p:-0} )); skip=$(( skip + ${s:-0} + ${t:-0} ))
  # A non-zero exit with no counted failure (crash, error while importing) is still a failure.
  if [ "$r" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  fail=$(( fail + ${f:-0} ))
  [ "$r" -eq 0 ] || rc=$r
}

all=0
if [ $# -eq 0 ]; then
  all=1
  run_bun test/unit test/integration
  # Real daemons, network namespaces and CRIU on a 2-core machine shared with everything else:
  # a test whose timing lost to the machine gets one more try (bun reports the retry).
  run_bun --retry=1 test/cluster test/e2e
else
  run_bun "$@"
fi

# The packages under a real systemd (PID 1 in systemd-nspawn): only in a full run, only as root.
if [ "$all" = 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sdlog=$(mktemp)
    { npm run --silent package && bash test/systemd/run.sh; } 2>&1 | tee "$sdlog"
    sdrc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$sdlog" | tail -n1)
    sp=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); sf=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    pass=$(( pass + ${sp:-0} )); fail=$(( fail + ${sf:-0} ))
    if [ "$sdrc" -ne 0 ]; then rc=1; [ "${sf:-0}" -eq 0 ] && fail=$(( fail + 1 )); fi
    rm -f "$sdlog"
  else
    echo "!! SKIPPING the packaging and real-systemd tests (test/systemd/run.sh): they need root" >&2
    skip=$(( skip + 1 ))
  fi
fi
echo "${pass} passed, ${fail} failed, ${skip} skipped"
exit "$rc"
