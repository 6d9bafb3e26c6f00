#!/bin/sh
# criu-wiring add|remove|status (installed as /usr/libexec/criu-coordinator/criu-wiring): make CRIU run criu-coordinator as its action-script, through
# CRIU's own configuration files, without owning them. Called by the .deb/.rpm maintainer scripts.
#
# Files (CRIU has no conf.d directory, so a marked block is appended to each):
#   /etc/criu/default.conf  read by `criu dump|restore` run by hand (CLI mode)
#   /etc/criu/runc.conf     read by CRIU in RPC mode for runc (Docker, Podman with runc) and for
#                           crun built with CRIU RPC config support; RPC mode ignores default.conf
# Rules:
#   - A file that belongs to another package is never edited: a note says what to add by hand.
#   - A file that already names /usr/bin/criu-coordinator as action-script is left alone.
#   - "add" runs only once per installation (state file): if the admin deletes the block, an
#     upgrade does not put it back. "remove" deletes only what "add" added: the marked block,
#     and a file or /etc/criu that were created for it when nothing else is left in them.
# CRIU_WIRING_ROOT (tests only) prefixes every path and skips the package-ownership check.
set -eu

ROOT=${CRIU_WIRING_ROOT:-}
SNIPPET=$ROOT/usr/share/criu-coordinator/criu-default.conf
STATE_DIR=$ROOT/var/lib/criu-coordinator
STATE=$STATE_DIR/criu-wiring
FILES="$ROOT/etc/criu/default.conf $ROOT/etc/criu/runc.conf"
BEGIN='# >>> criu-coordinator'
END='# <<< criu-coordinator'
BINARY=/usr/bin/criu-coordinator

note() { echo "criu-coordinator: $*" >&2; }

owned_by_package() {
  [ -z "$ROOT" ] || return 1
  if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -S "$1" >/dev/null 2>&1; then return 0; fi
  if command -v rpm >/dev/null 2>&1 && rpm -qf "$1" >/dev/null 2>&1; then return 0; fi
  return 1
}

has_block() { [ -f "$1" ] && grep -q "^$BEGIN" "$1"; }

# The admin may have written the line already, as "action-script X", "--action-script=X" etc.
wired_by_hand() {
  [ -f "$1" ] && grep -Eq "^[[:space:]]*(--)?action-script([[:space:]]+|=)\"?$BINARY\"?[[:space:]]*(#.*)?$" "$1"
}

add() {
  if [ -e "$STATE" ]; then return 0; fi
  mkdir -p "$STATE_DIR"
  tmp=$STATE.tmp
  : >"$tmp"
  for f in $FILES; do
    if has_block "$f" || wired_by_hand "$f"; then continue; fi
    if owned_by_package "$f"; then
      note "not changing $f: it belongs to another package. To coordinate CRIU runs that read it, add the line \"action-script $BINARY\" yourself"
      continue
    fi
    d=$(dirname "$f")
    if [ ! -d "$d" ]; then
      mkdir -p "$d"
      echo "created-dir $d" >>"$tmp"
    fi
    if [ ! -e "$f" ]; then
      echo "created-file $f" >>"$tmp"
    elif [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then
      echo >>"$f" # the file did not end with a newline
    fi
    cat "$SNIPPET" >>"$f"
    echo "added $f" >>"$tmp"
  done
  mv "$tmp" "$STATE"
}

remove() {
  for f in $FILES; do
    has_block "$f" || continue
    tmp=$(mktemp)
    awk -v b="$BEGIN" -v e="$END" 'index($0, b) == 1 { skip = 1 } !skip { print } skip && index($0, e) == 1 { skip = 0 }' "$f" >"$tmp"
    # Rewrite in place so the file keeps its owner, mode and inode.
    cat "$tmp" >"$f"
    rm -f "$tmp"
    if [ -f "$STATE" ] && grep -qxF "created-file $f" "$STATE" && ! grep -q '[^[:space:]]' "$f"; then rm -f "$f"; fi
  done
  if [ -f "$STATE" ]; then
    grep '^created-dir ' "$STATE" | while read -r _ d; do rmdir "$d" 2>/dev/null || true; done
  fi
  rm -f "$STATE"
  rmdir "$STATE_DIR" 2>/dev/null || true
}

status() {
  for f in $FILES; do
    if has_block "$f"; then echo "$f: wired (package block)"
    elif wired_by_hand "$f"; then echo "$f: wired (by hand)"
    else echo "$f: not wired"; fi
  done
}

case "${1:-}" in
  add) add ;;
  remove) remove ;;
  status) status ;;
  *) echo "usage: $0 add|remove|status" >&2; exit 2 ;;
esac
