#!/usr/bin/env bash
# packaging/build.sh (npm run package): dist/criu-coordinator -> dist/criu-coordinator_<v>_<arch>.deb
# and dist/criu-coordinator-<v>-1.<arch>.rpm. Needs dpkg-deb (Debian) and rpmbuild (installed with
# apt-get when missing and we are root). The binary is never stripped: a Bun single-file executable
# carries its program appended to the ELF, and strip removes it.
#   CRIU_COORDINATOR_BIN=path   package another binary (default dist/criu-coordinator)
#   PACKAGE_FORMATS="deb rpm"   build only some formats
#   DEB_COMPRESSION, DEB_COMPRESSION_LEVEL   dpkg-deb -Z/-z (default zstd, see build_deb)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s%N)

BIN=${CRIU_COORDINATOR_BIN:-dist/criu-coordinator}
FORMATS=${PACKAGE_FORMATS:-deb rpm}
VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n1)
[ -n "$VERSION" ] || { echo "build.sh: cannot read the version from package.json" >&2; exit 1; }
[ -x "$BIN" ] || { echo "build.sh: $BIN is missing; run npm run build first" >&2; exit 1; }
# Reproducible dates: the last commit's, unless the caller sets SOURCE_DATE_EPOCH.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
MAINTAINER="criu-coordinator developers <criu-coordinator@lists.noreply.invalid>"

need() { # need COMMAND APT-PACKAGE
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build.sh: installing $2 for $1"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$2" >/dev/null \
      || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$2" >/dev/null; }
  fi
  command -v "$1" >/dev/null || { echo "build.sh: $1 is missing (Debian package $2)" >&2; exit 1; }
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/criu-coordinator-pkg.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The help of one command as roff: no-fill, escapes, minus signs, trailing padding removed.
roff_help() {
  NO_COLOR=1 "$BIN" "$@" --help 2>&1 | sed -e 's/[[:space:]]*$//' -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"
}
commands_of() { # the subcommands named in "USAGE criu-coordinator [cmd] a|b|c"
  NO_COLOR=1 "$BIN" "$@" --help 2>/dev/null | sed -n "s/^USAGE criu-coordinator${*:+ $*} \([a-z|-]*\)[[:space:]]*$/\1/p" | tr '|' ' '
}
man_commands() {
  local cmd sub
  for cmd in $(commands_of); do
    printf '.SS "criu-coordinator %s"\n.nf\n' "$cmd"; roff_help "$cmd"; printf '.fi\n'
    for sub in $(commands_of "$cmd"); do
      printf '.SS "criu-coordinator %s %s"\n.nf\n' "$cmd" "$sub"; roff_help "$cmd" "$sub"; printf '.fi\n'
    done
  done
}

# Files both packages share.
stage_common() {
  local root=$1
  install -D -m 0755 "$BIN" "$root/usr/bin/criu-coordinator"
  install -D -m 0644 systemd/criu-coordinatord.socket "$root/usr/lib/systemd/system/criu-coordinatord.socket"
  install -D -m 0644 systemd/criu-coordinatord.service "$root/usr/lib/systemd/system/criu-coordinatord.service"
  install -D -m 0644 packaging/config.toml "$root/etc/criu-coordinator/config.toml"
  install -D -m 0644 packaging/criu-default.conf "$root/usr/share/criu-coordinator/criu-default.conf"
  install -D -m 0644 systemd/checkpoint-command.conf "$root/usr/share/criu-coordinator/checkpoint-command.conf"
  install -D -m 0755 packaging/criu-wiring.sh "$root/usr/libexec/criu-coordinator/criu-wiring"
  install -D -m 0644 packaging/deb/copyright "$root/usr/share/doc/criu-coordinator/copyright"
  install -d -m 0755 "$root/usr/share/man/man8"
  gzip -9n <"$WORK/criu-coordinator.8" >"$root/usr/share/man/man8/criu-coordinator.8.gz"
  chmod 0644 "$root/usr/share/man/man8/criu-coordinator.8.gz"
}

build_deb() {
  need dpkg-deb dpkg
  local arch root out
  arch=$(dpkg --print-architecture)
  root=$WORK/deb
  stage_common "$root"
  install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/criu-coordinator"
  printf 'criu-coordinator (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
    "$VERSION" "$VERSION" "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$root/usr/share/doc/criu-coordinator/changelog.gz"
  chmod 0644 "$root/usr/share/doc/criu-coordinator/changelog.gz"
  install -d -m 0755 "$root/DEBIAN"
  (cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" \
    -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$root" | cut -f1)/" packaging/deb/control.in >"$root/DEBIAN/control"
  install -m 0644 packaging/deb/conffiles "$root/DEBIAN/conffiles"
  install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
  chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"
  out=dist/criu-coordinator_${VERSION}_${arch}.deb
  # zstd: 0.5 s, 49 MB; dpkg >= 1.21.18 (bookworm) and Ubuntu >= 21.10 install it, but lintian
  # reports malformed-deb-archive because Debian's archive only takes xz/gzip. For that,
  # DEB_COMPRESSION=xz DEB_COMPRESSION_LEVEL=1: 7.5 s, 45 MB (xz -6: 35 s, 39 MB).
  dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-zstd}" ${DEB_COMPRESSION_LEVEL:+-z"$DEB_COMPRESSION_LEVEL"} \
    --build "$root" "$out" >/dev/null
  echo "build.sh: $out ($(du -h "$out" | cut -f1))"
}

build_rpm() {
  need rpmbuild rpm
  local root out
  root=$WORK/rpm-root
  stage_common "$root"
  install -D -m 0644 packaging/criu-coordinator.preset "$root/usr/lib/systemd/system-preset/50-criu-coordinator.preset"
  rpmbuild -bb --quiet \
    --define "_topdir $WORK/rpmbuild" --define "pkgroot $root" --define "pkgversion $VERSION" \
    --define "_rpmdir $WORK/rpms" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "use_source_date_epoch_as_buildtime 1" \
    packaging/rpm/criu-coordinator.spec >"$WORK/rpmbuild.log" 2>&1 || { cat "$WORK/rpmbuild.log" >&2; exit 1; }
  out=dist/$(basename "$WORK"/rpms/*.rpm)
  mv "$WORK"/rpms/*.rpm "$out"
  echo "build.sh: $out ($(du -h "$out" | cut -f1))"
}

mkdir -p dist
# The man page: hand-written, with the COMMAND REFERENCE taken from the binary's own --help.
man_commands >"$WORK/commands.roff"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DATE@/$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)/" packaging/criu-coordinator.8.in \
  | awk -v f="$WORK/commands.roff" '$0 == "@COMMANDS@" { while ((getline l < f) > 0) print l; next } { print }' >"$WORK/criu-coordinator.8"
for f in $FORMATS; do "build_$f"; done
echo "build.sh: done in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
