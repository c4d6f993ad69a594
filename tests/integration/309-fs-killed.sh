#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon killed (SIGKILL), also in the middle of a copy-up: the mount
# reports ENOTCONN; fusermount3 -u / umount -l clean it up; a remount on the
# same upper and work directories shows everything that was synced, no
# half-built object, and an emptied work directory.  SIGTERM and SIGHUP
# stop the daemon cleanly: unmounted, exit status 0, nothing lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd python3
T=$TEST_TMP
mkdir -p "$T/l/d" "$T/u" "$T/w" "$T/m"
echo lower > "$T/l/d/f"
head -c 200000000 /dev/zero | tr '\0' 'z' > "$T/l/big"
M=$T/m
OPTS="lowerdir=$T/l,upperdir=$T/u,workdir=$T/w"

killed() { # what: kill the daemon, check ENOTCONN, clean up
	kill -9 "$_fs_pid"
	wait "$_fs_pid" 2>/dev/null || true
	if stat "$M/d" 2>"$T/stat.err"; then fail "$1: stat after kill succeeded"; fi
	assert_grep "not connected" "$T/stat.err"
	grep -q " $M fuse.strata " /proc/mounts || fail "$1: mount vanished by itself"
}

say "synced changes survive a killed daemon"
strata_mount "$OPTS" "$M"
python3 - "$M" <<'PY' || fail "writing through the mount"
import os, sys
m = sys.argv[1]
fd = os.open(m + "/synced", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"synced\n"); os.fsync(fd); os.close(fd)
with open(m + "/d/f", "a") as f:
    f.write("appended\n"); f.flush(); os.fsync(f.fileno())
os.mkdir(m + "/newdir")
os.rename(m + "/synced", m + "/newdir/synced")
os.chmod(m + "/newdir", 0o700)
dfd = os.open(m + "/newdir", os.O_RDONLY); os.fsync(dfd); os.close(dfd)
PY
rm "$M/big"
sync
killed "idle"
fusermount3 -u "$M" || fail "fusermount3 -u of a dead mount"
grep -q " $M " /proc/mounts && fail "still mounted after fusermount3 -u"
strata_mount "$OPTS" "$M"
assert_eq "$(cat "$M/newdir/synced")" synced "synced file"
assert_eq "$(cat "$M/d/f")" "lower
appended" "synced copy-up"
assert_eq "$(stat -c %a "$M/newdir")" 700 "synced chmod"
[ ! -e "$M/big" ] || fail "unlink lost"

say "killed in the middle of a copy-up"
rm -rf "$T/u/big" # bring the lower file back
strata_umount "$M"
strata_mount "$OPTS" "$M"
sh -c 'echo end >> "$1"' sh "$M/big" 2>/dev/null &
writer=$!
track_pid "$writer"
for _ in $(seq 100); do
	[ -n "$(ls -A "$T/w/work")" ] && break
	sleep 0.01
done
killed "copy-up"
wait "$writer" 2>/dev/null || true
umount -l "$M" || fail "umount -l of a dead mount"
strata_mount "$OPTS" "$M"
ls -A "$T/w/work" > "$T/ls"; [ ! -s "$T/ls" ] || fail "work directory not cleaned: $(cat "$T/ls")"
size=$(stat -c %s "$M/big")
case $size in
200000000) cmp "$T/l/big" "$M/big" || fail "lower data after an interrupted copy-up" ;;
200000004) head -c 200000000 "$M/big" | cmp - "$T/l/big" || fail "copied-up data" ;;
*) fail "half-built copy-up visible: size $size" ;;
esac
say "copy-up after the interruption ($size bytes before)"
echo again >> "$M/big" || fail "copy-up after an interrupted one"
assert_eq "$(tail -c 6 "$M/big")" again "append after remount"
strata_umount "$M"

say "SIGTERM and SIGHUP: unmount and exit 0, nothing lost"
# (Not SIGINT: a shell without job control starts background commands with
# it ignored, and libfuse leaves an ignored signal alone.)
for sig in TERM HUP; do
	strata_mount "$OPTS" "$M"
	echo "$sig" > "$M/by-$sig" || fail "write before SIG$sig"
	# A file and a directory still open: the kernel never releases
	# them to the daemon, which must free them itself (an ASan build
	# fails the exit status on a leak).
	exec 3>>"$M/by-$sig" 4<"$M/d"
	kill -s "$sig" "$_fs_pid"
	rc=0
	wait "$_fs_pid" || rc=$?
	exec 3>&- 4<&-
	[ "$rc" = 0 ] || { tail -n 5 "$TEST_TMP/strata-fuse.log" >&2; fail "SIG$sig: strata-fuse exited with $rc"; }
	grep -q " $M " /proc/mounts && fail "SIG$sig: still mounted after the daemon exited"
	assert_eq "$(cat "$T/u/by-$sig")" "$sig" "SIG$sig: file in the upper"
done
strata_mount "$OPTS" "$M"
assert_eq "$(cat "$M/by-TERM" "$M/by-HUP")" "TERM
HUP" "files written before the signals"
strata_umount "$M"
say ok
