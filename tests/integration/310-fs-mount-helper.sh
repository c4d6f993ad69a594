#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# mount(8) integration: "mount -t strata" through /sbin/mount.strata (put
# there in a private mount namespace, over a kernel overlay of /usr/sbin),
# "mount -t fuse.strata-fuse" through fuse3's mount.fuse3, mount.strata
# run directly, its option filtering and errors; umount ends the daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd mount umount unshare
T=$TEST_TMP
H=$STRATA_BUILDDIR/tools/mount.strata
[ -x "$H" ] || fail "mount.strata not built"
mkdir -p "$T/l" "$T/u" "$T/w" "$T/m" "$T/sbin"
echo lower > "$T/l/f"
OPTS="lowerdir=$T/l,upperdir=$T/u,workdir=$T/w"

# check_mounted MNT: a working strata mount with a daemon to end.
check_mounted() {
	grep -q " $1 fuse.strata " /proc/mounts || fail "$1 is not a strata mount"
	pid=$(daemon_pids "$1")
	[ -n "$pid" ] || fail "no strata-fuse daemon for $1"
	for p in $pid; do track_pid "$p"; done
	assert_eq "$(cat "$1/f")" lower "read through $2"
	echo "$2" > "$1/by" || fail "write through $2"
	umount "$1" || fail "umount after $2"
	for p in $pid; do wait_gone "$p" || fail "daemon did not exit after umount ($2)"; done
	assert_eq "$(cat "$T/u/by")" "$2" "upper after $2"
}

say "mount.strata: fake run, errors, option filtering"
expect_ok "$H" -f src "$T/m" -o "defaults,noauto,x-systemd.requires=/,comment=x,$OPTS,nodev"
assert_grep "strata-fuse -o $OPTS,nodev $T/m" "$TEST_TMP/stderr"
expect_fail "$H" src "$T/m"
assert_grep "no lowerdir" "$TEST_TMP/stderr"
expect_fail "$H" src -o "$OPTS"
assert_grep "usage" "$TEST_TMP/stderr"
expect_fail "$H" src "$T/m" -o "lowerdir=$T/missing"
assert_grep "missing" "$TEST_TMP/stderr"
grep -q " $T/m " /proc/mounts && fail "a failed mount.strata left a mount"

say "mount.strata run directly"
track_mount "$T/m"
"$H" src "$T/m" -o "defaults,$OPTS" || fail "mount.strata"
check_mounted "$T/m" mount.strata

# mount(8) finds helpers in /sbin and runs them with a default PATH:
# provide mount.strata (and strata-fuse, for mount.fuse3) there, in a
# private mount namespace over a kernel overlay of /usr/sbin.
[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] || skip "mount.fuse3 (fuse3) is missing"
cp "$H" "$T/sbin/mount.strata"
ln -s "$STRATA_BUILDDIR/tools/strata-fuse" "$T/sbin/strata-fuse"
for type in strata fuse.strata-fuse; do
	say "mount -t $type"
	rm -f "$T/u/by" "$T/mounts" "$T/read"
	unshare -m --propagation private sh -eu -c '
		mount -t overlay overlay -o "lowerdir=$1:/usr/sbin" /usr/sbin
		mount -t "$6" -o "$3" app "$4"
		grep " $4 " /proc/mounts > "$5/mounts"
		cat "$4/f" > "$5/read"
		echo "$6" > "$4/by"
		umount "$4"
	' sh "$T/sbin" "$T/sw" "$OPTS" "$T/m" "$T" "$type" > "$T/ns.out" 2>&1 || {
		for p in $(daemon_pids "$T/m"); do track_pid "$p"; done
		cat "$T/ns.out" >&2
		fail "mount -t $type in a private namespace"
	}
	for p in $(daemon_pids "$T/m"); do
		track_pid "$p"
		wait_gone "$p" || fail "daemon left after umount ($type)"
	done
	assert_grep " fuse.strata " "$T/mounts"
	assert_eq "$(cat "$T/read")" lower "read through mount -t $type"
	assert_eq "$(cat "$T/u/by")" "$type" "write through mount -t $type"
done
say ok
