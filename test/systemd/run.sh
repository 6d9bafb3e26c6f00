#!/usr/bin/env bash
# test/systemd/run.sh [DEB]: the .deb under a real systemd (PID 1 in systemd-nspawn, recipe A of
# notes/real-systemd.md). Boots a Debian 12 rootfs once, runs test/systemd/inside.sh as a unit in
# it, and exits with that script's exit code. Needs root; installs debootstrap, systemd-container
# and zstd on the host when missing. The rootfs tarball is cached in $SDLAB_CACHE (default
# /var/tmp/criu-coordinator-systemd-test): about 45 s to build once, 0.5 s to unpack after.
# DEB defaults to dist/criu-coordinator_<version>_<arch>.deb, built when missing.
# Ends with one line "N passed, N failed, 0 skipped"; logs in dist/systemd-test/.
set -euo pipefail
cd "$(dirname "$0")/../.."
t_start=$(date +%s%N)
t() { echo "[systemd-test +$(( ($(date +%s%N) - t_start) / 1000000 ))ms] $*"; }
[ "$(id -u)" = 0 ] || { echo "test/systemd/run.sh: needs root (systemd-nspawn)" >&2; exit 1; }

DEB=${1:-}
if [ -z "$DEB" ]; then
  version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n1)
  DEB=dist/criu-coordinator_${version}_$(dpkg --print-architecture).deb
  [ -f "$DEB" ] || PACKAGE_FORMATS=deb bash packaging/build.sh
fi
DEB=$(realpath "$DEB")

CACHE=${SDLAB_CACHE:-/var/tmp/criu-coordinator-systemd-test}
SUITE=bookworm
PKGS=systemd,systemd-sysv,dbus
KEY=$(echo "$SUITE $PKGS" | md5sum | cut -c1-12)
TARBALL=$CACHE/rootfs-$SUITE-$KEY.tar.zst
NAME=ccsd-$$
OUT=$PWD/dist/systemd-test
WORK=$(mktemp -d /tmp/criu-coordinator-systemd.XXXXXX)

cg_roots() { # where our own cgroup goes: hybrid/legacy = name=systemd + unified; pure v2 = root
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup
  else for h in systemd unified; do [ -d "/sys/fs/cgroup/$h" ] && echo "/sys/fs/cgroup/$h"; done; fi
}
cleanup() {
  for r in $(cg_roots); do
    [ -d "$r/$NAME" ] && find "$r/$NAME" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  umount "$WORK" 2>/dev/null || umount -l "$WORK" 2>/dev/null || true
  rmdir "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
# The rootfs lives on a private tmpfs: unpacking takes 0.5 s there against 7 s on disk.
mount -t tmpfs -o size=3g,mode=755 ccsd-rootfs "$WORK"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  t "installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$CACHE" "$WORK/rootfs"
if [ -f "$TARBALL" ]; then
  t "rootfs from cache $TARBALL"
  zstd -dc "$TARBALL" | tar -C "$WORK/rootfs" -x --numeric-owner --xattrs
else
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  t "debootstrap $SUITE from $MIRROR (cached afterwards)"
  debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log"; exit 1; }
  rm -f "$WORK/rootfs/etc/hostname" # debootstrap copies the host's; nspawn sets the machine name
  tar -C "$WORK/rootfs" -c --numeric-owner --xattrs . | zstd -T0 -3 -q -o "$TARBALL.tmp" && mv "$TARBALL.tmp" "$TARBALL"
fi

# The share: the test script, the package, and out/ for the results.
SHARE=$WORK/share
mkdir -p "$SHARE/out"
cp test/systemd/inside.sh "$SHARE/inside.sh"
cp "$DEB" "$SHARE/criu-coordinator.deb"
cat >"$WORK/ccsd-test.service" <<'EOF'
[Unit]
Description=Run /ccsd/inside.sh, then leave the container with its exit code
After=multi-user.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/bin/sh -c 'sh /ccsd/inside.sh >/ccsd/out/test.log 2>&1; rc=$?; echo "ccsd-test rc=$rc"; journalctl -b --no-pager >/ccsd/out/journal.txt; systemctl exit $rc'
EOF

t "booting $NAME"
# Pure cgroup v2 inside, as on a real Debian 12 host.
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=${SYSTEMD_NSPAWN_UNIFIED_HIERARCHY:-1}
for r in $(cg_roots); do mkdir -p "$r/$NAME"; done
set +e
(
  for r in $(cg_roots); do echo "$BASHPID" >"$r/$NAME/cgroup.procs"; done
  exec timeout -k 10 300 systemd-nspawn -q -D "$WORK/rootfs" -b --register=no --keep-unit -M "$NAME" \
    --private-network --bind="$SHARE:/ccsd" \
    --bind-ro="$WORK/ccsd-test.service:/etc/systemd/system/ccsd-test.service" \
    -- systemd.wants=ccsd-test.service
) </dev/null >"$SHARE/out/console.txt" 2>&1
rc=$?
set -e
t "container exited rc=$rc"

rm -rf "$OUT"
cp -r "$SHARE/out" "$OUT"
cat "$OUT/test.log" 2>/dev/null || { echo "no test log; console:"; tail -n 40 "$OUT/console.txt"; }

# The .rpm, from the host (no rpm-based container here): contents, scripts, and an unstripped binary.
RPM=$(ls "$(dirname "$DEB")"/criu-coordinator-*.rpm 2>/dev/null | head -n1 || true)
if [ -n "$RPM" ] && command -v rpm >/dev/null; then
  {
    files=$(rpm -qpl "$RPM")
    missing=""
    for f in /usr/bin/criu-coordinator /usr/lib/systemd/system/criu-coordinatord.socket /usr/lib/systemd/system/criu-coordinatord.service \
      /etc/criu-coordinator/config.toml /usr/libexec/criu-coordinator/criu-wiring /usr/share/man/man8/criu-coordinator.8.gz; do
      echo "$files" | grep -qx "$f" || missing="$missing $f"
    done
    if [ -z "$missing" ]; then echo "PASS: rpm -qpl lists the binary, both units, the config, the wiring helper and the man page"; else echo "FAIL: rpm -qpl lacks$missing"; fi
    if [ "$(rpm -qpc "$RPM")" = /etc/criu-coordinator/config.toml ]; then echo "PASS: rpm marks only /etc/criu-coordinator/config.toml as %config"; else echo "FAIL: rpm config files: $(rpm -qpc "$RPM")"; fi
    scripts=$(rpm -qp --scripts "$RPM")
    if echo "$scripts" | grep -q 'preset criu-coordinatord.socket' && echo "$scripts" | grep -q 'criu-wiring remove'; then
      echo "PASS: rpm scripts enable the socket through presets and unwire CRIU on removal"
    else echo "FAIL: rpm scripts: $scripts"; fi
    mkdir -p "$WORK/rpmx" && (cd "$WORK/rpmx" && rpm2archive - <"$RPM" | tar -xz ./usr/bin/criu-coordinator)
    if "$WORK/rpmx/usr/bin/criu-coordinator" --version >/dev/null 2>&1; then echo "PASS: the binary from the rpm runs (not stripped)"; else echo "FAIL: the binary from the rpm does not run"; fi
  } | tee "$OUT/rpm.log"
  grep -q '^FAIL: ' "$OUT/rpm.log" && rc=1
fi
if [ "$rc" -ne 0 ]; then
  echo "--- journal of criu-coordinatord (last 40 lines) ---"
  grep -a 'criu-coordinator' "$OUT/journal.txt" 2>/dev/null | tail -n 40 || true
fi
pass=$(cat "$OUT/test.log" "$OUT/rpm.log" 2>/dev/null | grep -c '^PASS: ' || true)
fail=$(cat "$OUT/test.log" "$OUT/rpm.log" 2>/dev/null | grep -c '^FAIL: ' || true)
if [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then fail=1; fi
t "done"
echo "${pass:-0} passed, ${fail:-0} failed, 0 skipped"
exit "$rc"
