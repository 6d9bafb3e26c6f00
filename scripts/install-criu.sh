#!/bin/bash
# Install a working CRIU (>= 4.2) on Debian 12 (bookworm), plus the tools the e2e tests need.
#
# Why not `apt-get install criu`: bookworm's CRIU 3.17 cannot start on current kernels (vDSO), and
# trixie's 4.1 cannot dump TCP sockets on them. Debian's sid source builds fine against bookworm's
# libraries, so we fetch only its orig tarball (`apt-get source --tar-only`) through a private apt
# state directory (nothing under /etc/apt or /var/lib/apt is changed), build `criu` with upstream's
# Makefile and install the binary. See ../shared/notes/criu-install.md for the measurements.
#
# Idempotent: when `criu --version` is already >= 4.2 and `criu check` succeeds, it only makes sure
# the runtime packages are present and exits (well under a second when they are).
# Needs root. Works without a TTY. Takes about 1-2 minutes on 2 cores when it has to build.
#
# Environment (all optional):
#   CRIU_SUITE=sid          Debian suite whose source is built (sid -> 4.2.x)
#   CRIU_PKG_VERSION=       exact Debian version to build, e.g. 4.2.1-1 (default: the suite's current one)
#   CRIU_DEST=/usr/local/sbin   where the criu binary goes
#   CRIU_WORK=${TMPDIR:-/tmp}/criu-build   build directory (kept, so a rebuild is incremental)
#   CRIU_FORCE=1            rebuild and reinstall even if a good CRIU is found
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUITE=${CRIU_SUITE:-sid}
PKG_VERSION=${CRIU_PKG_VERSION:-}
DEST=${CRIU_DEST:-/usr/local/sbin}
WORK=${CRIU_WORK:-${TMPDIR:-/tmp}/criu-build}
FORCE=${CRIU_FORCE:-0}
MIN_VERSION=4.2
# Wait for another apt/dpkg (unattended-upgrades, a parallel job) instead of failing at once.
APT_LOCK=(-o DPkg::Lock::Timeout=600)

# Needed at run time: `ip` for network namespaces and veth pairs, `iptables` because CRIU's
# --tcp-established network locking runs iptables-restore. util-linux (nsenter, setsid) is essential.
RUNTIME_PACKAGES=(iproute2 iptables)
# Upstream `make criu` build dependencies, from bookworm.
BUILD_PACKAGES=(gcc make pkgconf libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  python3-protobuf libnl-3-dev libnet1-dev libcap-dev libbsd-dev libgnutls28-dev libnftables-dev uuid-dev
  xz-utils debian-archive-keyring gpgv)

log() { echo "install-criu: $*"; }
die() {
  echo "install-criu: error: $*" >&2
  exit 1
}

# Prints the version number of the given criu binary ("4.2.1"), or nothing.
criu_version() {
  "$1" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1
}

# True when version $1 >= version $2.
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# True when binary $1 is recent enough and `criu check` passes (not `--all`: soft-dirty is often off).
criu_good() {
  local bin=$1 ver
  [ -x "$bin" ] || return 1
  ver=$(criu_version "$bin")
  [ -n "$ver" ] || return 1
  if ! version_ge "$ver" "$MIN_VERSION"; then
    log "$bin is version $ver, older than $MIN_VERSION"
    return 1
  fi
  if ! "$bin" check >/dev/null 2>&1; then
    log "$bin (version $ver) fails 'criu check'"
    return 1
  fi
  log "found $bin version $ver, 'criu check' passes"
  return 0
}

# Installs the packages given as arguments that are not installed yet.
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing packages: ${missing[*]}"
  if ! apt-get "${APT_LOCK[@]}" -q install -y --no-install-recommends "${missing[@]}"; then
    # A fresh container has empty package lists; refresh once and retry.
    log "apt-get install failed; running apt-get update and retrying"
    apt-get "${APT_LOCK[@]}" -q update
    apt-get "${APT_LOCK[@]}" -q install -y --no-install-recommends "${missing[@]}"
  fi
}

[ "$(id -u)" -eq 0 ] || die "must run as root: it installs packages and $DEST/criu"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

log "checking runtime packages: ${RUNTIME_PACKAGES[*]}"
apt_install_missing "${RUNTIME_PACKAGES[@]}"

if [ "$FORCE" != 1 ]; then
  for candidate in "$DEST/criu" "$(command -v criu || true)"; do
    if [ -n "$candidate" ] && criu_good "$candidate"; then
      log "nothing to do"
      exit 0
    fi
  done
fi

start=$(date +%s)
log "building CRIU from Debian $SUITE source in $WORK"
log "step 1/5: build dependencies"
apt_install_missing "${BUILD_PACKAGES[@]}"

log "step 2/5: fetching the $SUITE Sources index into a private apt state directory"
mkdir -p "$WORK/lists/partial" "$WORK/parts" "$WORK/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
  >"$WORK/sources.list"
APT_PRIVATE=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o "Dir::Etc::SourceParts=$WORK/parts"
  -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache" -o "APT::Sandbox::User=root")
apt-get "${APT_PRIVATE[@]}" -q update

log "step 3/5: downloading the orig tarball"
cd "$WORK"
rm -f criu_*.orig.tar.*
spec="criu/$SUITE"
[ -n "$PKG_VERSION" ] && spec="criu=$PKG_VERSION"
# --tar-only: only criu_<ver>.orig.tar.xz (the Debian mirror may 404 on the .debian.tar.xz, which we
# do not need). apt verifies the tarball against the signed Sources index.
apt-get "${APT_PRIVATE[@]}" -q source --tar-only "$spec"
tarballs=(criu_*.orig.tar.*)
tarball=${tarballs[0]}
[ -f "$tarball" ] || die "apt-get source did not produce an orig tarball"
# Top directory of the tarball (read the whole listing: `head` would SIGPIPE tar under pipefail).
srcdir=$(tar tf "$tarball" | awk -F/ 'NR == 1 { print $1 }')
if [ -d "$srcdir" ]; then
  log "reusing $WORK/$srcdir (incremental build)"
else
  rm -rf criu-*/
  tar xf "$tarball"
fi

log "step 4/5: make criu (output in $WORK/make.log)"
if ! make -C "$srcdir" -j"$(nproc)" criu >"$WORK/make.log" 2>&1; then
  tail -n 40 "$WORK/make.log" >&2
  die "make criu failed; full output in $WORK/make.log"
fi

log "step 5/5: installing $DEST/criu"
install -D -m 0755 "$srcdir/criu/criu" "$DEST/criu"
criu_good "$DEST/criu" || die "the freshly built $DEST/criu does not pass 'criu check'"
case ":$PATH:" in
*":$DEST:"*) ;;
*) log "warning: $DEST is not in PATH" ;;
esac
log "done in $(($(date +%s) - start)) s: $("$DEST/criu" --version | head -n1)"
