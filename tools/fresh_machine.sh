#!/usr/bin/env bash
# Runs the README's two commands the way a newcomer does: on a bare Debian bookworm (minbase plus
# git, make and g++), in a chroot, on a clone of the committed HEAD, as root, nothing else
# installed. It catches what a developer's machine hides: a package that `make deps` forgets.
#
# Usage, as root: tools/fresh_machine.sh [LOGDIR]          # make run, then make test
#                 FRESH_ONLY=test tools/fresh_machine.sh   # make test alone (a few minutes)
# The bare system is built once (needs debootstrap and the network to a Debian mirror) and kept
# in $FRESH_CACHE (default /var/tmp/genie-fresh-base); every run starts from a copy of it.
set -u
cd "$(dirname "$0")/.."
logs=${1:-/tmp/genie-fresh-logs}
base=${FRESH_CACHE:-/var/tmp/genie-fresh-base}
root=$(mktemp -d /var/tmp/genie-fresh-root.XXXXXX)
mkdir -p "$logs"

die() { echo "fresh_machine: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (it builds a chroot)"

# The mirror this machine's apt already uses, deb822 or one-line format.
mirror() {
  grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2; exit}'
  grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2; exit}'
}

build_base() {
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    die "cannot install debootstrap"
  local url
  url=$(mirror | head -1)
  [ -n "$url" ] || die "no Debian mirror in the apt sources"
  rm -rf "$base"
  debootstrap --variant=minbase --include=git,make,g++,ca-certificates bookworm "$base" "$url" \
    >"$logs/debootstrap.log" 2>&1 || die "debootstrap failed, see $logs/debootstrap.log"
}

unmount_all() { for m in proc sys dev; do umount -l "$root/$m" 2>/dev/null; done; }
cleanup() { unmount_all; rm -rf "$root"; }
trap cleanup EXIT

# in_chroot LOGNAME COMMAND: runs COMMAND in the project with a clean environment; prints its rc.
in_chroot() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /root/project && timeout 1800 $2" >"$logs/$1.log" 2>&1
  echo $?
}

[ -x "$base/usr/bin/g++" ] || build_base
cp -a "$base/." "$root/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
git clone -q . "$root/root/project" || die "cannot clone $(pwd)"
mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev"

run_rc=skipped
started=$(date +%s)
[ "${FRESH_ONLY:-}" = test ] || run_rc=$(in_chroot run "make run")
run_done=$(date +%s)
test_rc=$(in_chroot test "make test")
finished=$(date +%s)
echo "make run: rc=$run_rc $((run_done - started))s | make test: rc=$test_rc" \
  "$((finished - run_done))s | logs in $logs"
[ "$run_rc" = 0 ] || [ "$run_rc" = skipped ] || exit 1
[ "$test_rc" = 0 ]
