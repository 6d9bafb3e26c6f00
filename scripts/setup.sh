#!/usr/bin/env bash
# Installs and starts criu-coordinator on this machine with the embedded default configuration
# (a local daemon with no groups: every CRIU run passes through until groups are configured).
#   - npm ci, build dist/criu-coordinator, install it as /usr/local/bin/criu-coordinator
#   - with systemd as PID 1: install the units and `systemctl enable --now criu-coordinatord.socket`
#   - otherwise: start `criu-coordinator daemon` in the background, log in /var/log/criu-coordinator.log
# Needs root. Idempotent: running it again upgrades the binary and restarts the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "setup.sh: run as root (it installs into /usr/local and starts a daemon)" >&2; exit 1; }

npm ci --no-audit --no-fund
npm run --silent build
install -D -m 0755 dist/criu-coordinator /usr/local/bin/criu-coordinator
mkdir -p /etc/criu-coordinator
# An example to copy from; the daemon keeps its embedded default until config.toml exists.
install -m 0644 packaging/config.toml /etc/criu-coordinator/config.example.toml

if [ -d /run/systemd/system ] && [ -f systemd/criu-coordinatord.socket ]; then
  for unit in criu-coordinatord.socket criu-coordinatord.service; do
    sed 's#/usr/bin/criu-coordinator#/usr/local/bin/criu-coordinator#g' "systemd/$unit" > "/etc/systemd/system/$unit"
  done
  systemctl daemon-reload
  systemctl enable --now criu-coordinatord.socket
  systemctl restart criu-coordinatord.service 2>/dev/null || true
  echo "criu-coordinator: socket-activated by systemd (systemctl status criu-coordinatord.socket)"
else
  pkill -x -f '/usr/local/bin/criu-coordinator daemon' 2>/dev/null && sleep 0.3 || true
  nohup /usr/local/bin/criu-coordinator daemon >>/var/log/criu-coordinator.log 2>&1 </dev/null &
  for _ in $(seq 50); do /usr/local/bin/criu-coordinator status >/dev/null 2>&1 && break; sleep 0.1; done
  echo "criu-coordinator: daemon started in the background (no systemd here), log /var/log/criu-coordinator.log"
fi
/usr/local/bin/criu-coordinator status
