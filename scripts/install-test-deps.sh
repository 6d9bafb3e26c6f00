#!/usr/bin/env bash
# Installs what the test suites need on Debian 12, only what is missing, so repeated runs are fast:
# network namespaces (iproute2, iptables), etcd, containers (podman, runc, busybox-static), and CRIU 4.2+
# built from Debian's source tarball (scripts/install-criu.sh). Needs root; without root it says
# what it could not install and the affected tests say loudly that they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v nsenter >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v debootstrap >/dev/null || need+=(debootstrap)
# etcd for the etcd-backend tests (the tests start their own server; Debian's service is not used).
command -v etcd >/dev/null || need+=(etcd-server etcd-client)

if [ "$(id -u)" -ne 0 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    echo "!! install-test-deps: not root, cannot install: ${need[*]}; tests that need them will be skipped" >&2
  fi
  exit 0
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "== installing test dependencies: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

bash scripts/install-criu.sh
