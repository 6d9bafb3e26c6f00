#!/bin/sh
# Runs inside the booted container (root, systemd as PID 1), started by test/systemd/run.sh.
# One "PASS: …" or "FAIL: …" line per checked behaviour. Each section stops at its first failure
# and the next section runs; a failure the rest depends on (install, activation) stops everything.
# Exit 1 if anything failed; the units' state and journal are printed at the first failure.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_PAGER= SYSTEMD_COLORS=0 NO_COLOR=1
U=criu-coordinatord
SOCK=/run/criu-coordinator/coordinator.sock
T0=$(date +%s%3N)
ms() { echo $(( $(date +%s%3N) - T0 )); }
pass() { echo "PASS: $* [+$(ms)ms]"; }
FAILED=0
fail() {
  echo "FAIL: $*"
  if [ "$FAILED" = 0 ]; then
    systemctl status "$U.socket" "$U.service" --no-pager -l 2>&1 | tail -n 30 | sed 's/^/    /'
    journalctl -u "$U.service" --no-pager 2>&1 | tail -n 30 | sed 's/^/    /'
  fi
  FAILED=1
  return 1
}
die() { fail "$@"; exit 1; }
prop() { systemctl show -p "$2" --value "$1"; }
# wait_for SECONDS COMMAND...: retries every 0.1 s
wait_for() {
  n=$(($1 * 10)); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
is_state() { [ "$(prop "$1" "$2")" = "$3" ]; }
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /ccsd -o -path /tmp -o -path /var/tmp \
    -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd \) -prune -o -print | sort
}

# --- install ---------------------------------------------------------------------------------
install_package() {
  # The admin's own CRIU configuration, which the package must keep.
  mkdir -p /etc/criu && printf 'tcp-established\n' >/etc/criu/default.conf
  snapshot >/tmp/before.txt
  dpkg -i /ccsd/criu-coordinator.deb >/ccsd/out/dpkg-install.log 2>&1 || die "dpkg -i: $(tail -n 5 /ccsd/out/dpkg-install.log)"
  pass "dpkg -i criu-coordinator.deb"
  systemctl enable --now "$U.socket" 2>/dev/null || die "systemctl enable --now $U.socket"
  [ "$(systemctl is-enabled "$U.socket")" = enabled ] || die "socket not enabled"
  [ "$(systemctl is-active "$U.socket")" = active ] || die "socket not active"
  [ "$(systemctl is-active "$U.service")" = inactive ] || die "the service started before any connection"
  [ -S "$SOCK" ] && [ "$(stat -c %a:%U "$SOCK")" = 600:root ] || die "$SOCK is not a root-only socket: $(ls -l "$SOCK" 2>&1)"
  pass "socket enabled and listening at $SOCK (0600 root), service not started"

  grep -qx 'tcp-established' /etc/criu/default.conf && grep -qx 'action-script /usr/bin/criu-coordinator' /etc/criu/default.conf \
    || die "default.conf not wired or admin line lost: $(cat /etc/criu/default.conf)"
  grep -qx 'action-script /usr/bin/criu-coordinator' /etc/criu/runc.conf || die "runc.conf not wired"
  pass "CRIU wired: action-script block added to /etc/criu/default.conf (admin line kept) and runc.conf"
}

# --- socket activation + Type=notify -------------------------------------------------------------
activation() {
  t=$(date +%s%3N)
  out=$(criu-coordinator status 2>&1) || die "criu-coordinator status: $out"
  echo "$out" | grep -q '^criu-coordinator ' || die "unexpected status output: $out"
  pass "first connection started the daemon; criu-coordinator status answered in $(($(date +%s%3N) - t)) ms"
  wait_for 5 is_state "$U.service" SubState running || die "service not running after activation"
  state=$(systemctl show -p ActiveState,SubState,StatusText,NRestarts "$U.service" | tr '\n' ' ')
  status_text=$(prop "$U.service" StatusText)
  [ -n "$status_text" ] || die "no STATUS= from the daemon: $state"
  systemctl status "$U.service" --no-pager 2>&1 | grep -q "Status: \"$status_text\"" || die "systemctl status shows no Status line"
  pass "Type=notify READY reached systemd (NotifyAccess=main): $state"
  [ "$(systemctl show -p TriggeredBy --value "$U.service")" = "$U.socket" ] || die "service not triggered by the socket"
  pass "systemctl status shows TriggeredBy=$U.socket and Status: \"$status_text\""

  out=$(criu-coordinator hook --action pre-dump --pid $$ -D /tmp 2>&1) || die "pass-through hook call failed: $out"
  pass "a hook call for a process in no group passes through (exit 0)"
}

# --- journal ----------------------------------------------------------------------------------
journal() {
  journalctl -u "$U.service" -o json --no-pager | grep '"MESSAGE":"listening on' | grep -q '"PRIORITY":"6"' \
    || { fail "the 'listening on' line is not at priority 6 (info): $(journalctl -u "$U.service" -o json --no-pager | grep listening)"; return; }
  if journalctl -u "$U.service" -o cat --no-pager | grep -q "^<[0-9]>"; then fail "raw <N> prefixes reached the journal"; return; fi
  if journalctl -u "$U.service" -o cat --no-pager | grep -q "$(printf '\033')"; then fail "colour codes in the journal"; return; fi
  pass "journal: <N> prefixes became priorities (listening line at 6/info), no colour codes"
}

# --- hook calls are queued on the socket while the daemon is down or hung -------------------------
queued() {
  # Two groups: "solo" releases its one member at once, "pair" makes alpha wait for beta.
  printf '\n[[group]]\nname = "solo"\nmembers = ["gamma"]\n\n[[group]]\nname = "pair"\nmembers = ["alpha", "beta"]\ntimeout = "60s"\n' \
    >>/etc/criu-coordinator/config.toml
  criu-coordinator config check >/dev/null || { fail "config check: $(criu-coordinator config check 2>&1)"; return; }
  cp /bin/sleep /usr/local/bin/gamma
  cp /bin/sleep /usr/local/bin/alpha
  gamma 300 &
  echo "$!" >/tmp/gamma.pid
  systemctl stop "$U.service" 2>/dev/null
  [ "$(systemctl is-active "$U.socket")" = active ] || { fail "stopping the service stopped the socket"; return; }
  out=$(criu-coordinator status 2>&1) || { fail "status after stop: $out"; return; }
  pass "after systemctl stop, the next call re-activates the daemon (the socket stays with systemd)"
  pid=$(prop "$U.service" MainPID)
  kill -STOP "$pid"
  mkdir -p /tmp/imgG
  (criu-coordinator hook --action pre-dump --pid "$(cat /tmp/gamma.pid)" -D /tmp/imgG >/tmp/queued.out 2>&1; echo $? >/tmp/queued.rc) &
  sleep 0.5
  systemctl restart "$U.service"
  wait_for 10 test -s /tmp/queued.rc || { fail "a hook call made while the daemon hung got no answer"; return; }
  [ "$(cat /tmp/queued.rc)" = 0 ] || { fail "a hook call made while the daemon hung failed: $(cat /tmp/queued.out)"; return; }
  pass "gamma's hook call, made while the daemon hung, was released after systemctl restart (pid $pid -> $(prop "$U.service" MainPID))"
}

# --- restart while a hook call waits at a barrier ------------------------------------------------
restart_waiting() {
  alpha 300 &
  apid=$!
  echo "$apid" >/tmp/alpha.pid
  mkdir -p /tmp/imgA
  (criu-coordinator hook --action pre-dump --pid "$apid" -D /tmp/imgA >/tmp/hookA.out 2>&1; echo $? >/tmp/hookA.rc) &
  waiting() { criu-coordinator status --json 2>/dev/null | grep -q '"waiting": 1'; }
  wait_for 10 waiting || { fail "alpha's hook call is not waiting for beta: $(criu-coordinator status 2>&1)"; return; }
  pass "alpha's pre-dump hook call waits for beta"
  systemctl restart "$U.service"
  wait_for 10 test -s /tmp/hookA.rc || { fail "the waiting hook call got no answer across systemctl restart"; return; }
  [ "$(cat /tmp/hookA.rc)" = 1 ] || { fail "the waiting hook call should fail (CRIU aborts), got exit $(cat /tmp/hookA.rc): $(cat /tmp/hookA.out)"; return; }
  pass "systemctl restart answered the waiting call: exit 1, \"$(tail -n 1 /tmp/hookA.out)\""
}

# --- watchdog ---------------------------------------------------------------------------------
watchdog() {
  mkdir -p "/etc/systemd/system/$U.service.d"
  printf '[Service]\nWatchdogSec=2s\n' >"/etc/systemd/system/$U.service.d/test-watchdog.conf"
  systemctl daemon-reload
  systemctl restart "$U.service"
  pid=$(prop "$U.service" MainPID)
  sleep 3
  [ "$(prop "$U.service" NRestarts)" = 0 ] && [ "$(prop "$U.service" MainPID)" = "$pid" ] || { fail "the watchdog killed a healthy daemon"; return; }
  pass "WATCHDOG=1 pings keep a healthy daemon alive past WatchdogSec=2s"
  kill -STOP "$pid"
  restarted() { [ "$(prop "$U.service" NRestarts)" = 1 ] && is_state "$U.service" SubState running; }
  wait_for 15 restarted || { fail "a hung daemon was not restarted by the watchdog ($(systemctl show -p NRestarts,Result,SubState "$U.service" | tr '\n' ' '))"; return; }
  journalctl -u "$U.service" --no-pager | grep -q "Watchdog timeout" || { fail "no watchdog timeout in the journal"; return; }
  pass "a SIGSTOPped daemon was killed by the watchdog and restarted (pid $pid -> $(prop "$U.service" MainPID))"
}

# --- purge ------------------------------------------------------------------------------------
purge() {
  # What the earlier sections set up, whether or not they passed.
  for p in /tmp/alpha.pid /tmp/gamma.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  rm -rf "/etc/systemd/system/$U.service.d" /usr/local/bin/alpha /usr/local/bin/gamma
  systemctl daemon-reload
  dpkg -P criu-coordinator >/ccsd/out/dpkg-purge.log 2>&1 || { fail "dpkg -P: $(tail -n 5 /ccsd/out/dpkg-purge.log)"; return; }
  pass "dpkg -P criu-coordinator"
  [ "$(cat /etc/criu/default.conf)" = tcp-established ] || { fail "default.conf not restored: $(cat /etc/criu/default.conf)"; return; }
  [ ! -e /run/criu-coordinator ] || { fail "/run/criu-coordinator left behind: $(ls -la /run/criu-coordinator)"; return; }
  if find /var/lib/systemd -name '*criu-coordinator*' | grep -q .; then fail "systemd state left: $(find /var/lib/systemd -name '*criu-coordinator*')"; return; fi
  snapshot >/tmp/after.txt
  diff /tmp/before.txt /tmp/after.txt >/tmp/diff.txt || { fail "purge left files behind: $(cat /tmp/diff.txt)"; return; }
  pass "purge left nothing behind (file tree as before install; admin's default.conf restored)"
}

install_package
activation
journal
queued
restart_waiting
watchdog
purge
[ "$FAILED" = 0 ] && echo "ALL OK"
exit "$FAILED"
