#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata volume: create/ls/inspect/usage/mount/umount/rm; the size and
# inode limits are enforced inside the mount (EDQUOT); usage is exact after
# the daemon is killed (kill -9) and the volume mounted again; rm refuses a
# volume bound elsewhere unless --force; bad names and unknown volumes get
# clear errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd jq
T=$TEST_TMP
V=$STRATA_STATE_DIR/volumes

# Every volume mount and daemon is ended at exit, also on failure.
vol_cleanup() {
	for m in "$V"/*/mnt; do
		[ -d "$m" ] || continue
		for p in $(daemon_pids "$m"); do kill -9 "$p"; done
		grep -q " $m " /proc/mounts && umount -l "$m"
	done
}
on_cleanup vol_cleanup

say "bad input"
expect_fail strata volume create
expect_fail strata volume create "../x"
assert_grep "invalid volume name" "$TEST_TMP/stderr"
expect_fail strata volume create "a/b"
assert_grep "invalid volume name" "$TEST_TMP/stderr"
expect_fail strata volume create ""
assert_grep "invalid volume name" "$TEST_TMP/stderr"
expect_fail strata volume create ".."
assert_grep "invalid volume name" "$TEST_TMP/stderr"
expect_fail strata volume create "$(printf '%070d' 0)"
assert_grep "invalid volume name" "$TEST_TMP/stderr"
expect_fail strata volume create --size lots v
assert_grep "invalid --size" "$TEST_TMP/stderr"
expect_fail strata volume create --inodes -3 v
assert_grep "invalid --inodes" "$TEST_TMP/stderr"
for c in inspect usage rm mount umount; do
	expect_fail strata volume $c nosuch
	assert_grep "nosuch: no such volume" "$TEST_TMP/stderr"
done
expect_fail strata volume frob
assert_grep "unknown command" "$TEST_TMP/stderr"
[ ! -e "$V" ] || [ -z "$(ls -A "$V")" ] || fail "bad input left $(ls -A "$V")"

say "create, ls, inspect"
mnt=$(strata volume create --size 2M --inodes 50 data1) || fail "create"
assert_eq "$mnt" "$V/data1/mnt" "printed mountpoint"
grep -q " $mnt fuse.strata " /proc/mounts || fail "volume not mounted"
expect_fail strata volume create data1
assert_grep "volume exists" "$TEST_TMP/stderr"
strata volume create plain > /dev/null || fail "create without limits"
strata volume ls > "$T/ls" || fail "ls"
assert_grep "^data1 .*2.0 MiB .*50 .*mounted .*$mnt" "$T/ls"
assert_grep "^plain .* - .* - .*mounted" "$T/ls"
strata volume inspect data1 > "$T/i.json" || fail "inspect"
assert_eq "$(jq -r '.name, .size, .inodes, .state, .mountpoint' "$T/i.json" | tr '\n' ' ')" \
	"data1 2097152 50 mounted $mnt " "inspect fields"
pid=$(jq -r .pid "$T/i.json")
kill -0 "$pid" || fail "inspect pid $pid not alive"
assert_eq "$(jq -r '.size, .inodes' "$(strata volume inspect plain > "$T/p.json"; echo "$T/p.json")" | tr '\n' ' ')" \
	"null null " "no limits are null"

say "limits enforced inside the mount"
head -c 4194304 /dev/urandom > "$T/data"
if dd if="$T/data" of="$mnt/big" bs=128k 2>"$T/dd.err"; then
	fail "4 MiB written into a 2 MiB volume"
fi
assert_grep "Disk quota exceeded" "$T/dd.err"
size=$(stat -c %s "$mnt/big")
[ "$size" -gt 0 ] && [ "$size" -le 2097152 ] || fail "size $size after EDQUOT"
head -c "$size" "$T/data" | cmp - "$mnt/big" || fail "data before the limit"
rm "$mnt/big"
mkdir "$mnt/d" || fail "mkdir"
i=0
while [ $i -lt 100 ]; do touch "$mnt/d/f$i" 2>/dev/null || break; i=$((i + 1)); done
assert_eq "$i" 49 "files beside one directory under --inodes 50"
expect_fail touch "$mnt/one-more"
assert_grep "Disk quota exceeded" "$TEST_TMP/stderr"
rm -r "$mnt/d"
head -c 1000000 "$T/data" > "$mnt/a" && mkdir "$mnt/sub" &&
	echo hello > "$mnt/sub/h" && ln "$mnt/a" "$mnt/sub/a2" ||
	fail "writing after freeing room"

say "usage"
strata volume usage data1 > "$T/u" || fail "usage"
expect=$(find "$V/data1/data" -mindepth 1 -printf '%i %b\n' |
	awk '!s[$1]++ { b += $2 * 512; n++ } END { print b, n }')
assert_eq "$(awk '/^bytes/ { b = $2 } /^inodes/ { n = $2 } END { print b, n }' "$T/u")" \
	"$expect" "usage vs a scan of data/"
assert_grep "of 2.0 MiB" "$T/u"
assert_grep "^inodes 3 of 50" "$T/u"
assert_eq "$(strata volume inspect data1 | jq -r '"\(.usage.bytes) \(.usage.inodes)"')" \
	"$expect" "inspect usage"

say "usage exact after kill -9 of the daemon and volume mount"
sync
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
strata volume ls > "$T/ls"
assert_grep "^data1 .*dead" "$T/ls"
expect_fail strata volume usage data1
assert_grep "volume mount data1" "$TEST_TMP/stderr"
assert_eq "$(strata volume mount data1)" "$mnt" "volume mount prints the mountpoint"
assert_eq "$(strata volume inspect data1 | jq -r '"\(.usage.bytes) \(.usage.inodes)"')" \
	"$expect" "usage after remount"
assert_eq "$(cat "$mnt/sub/h")" hello "data after remount"
expect_fail strata volume mount data1
assert_grep "already mounted" "$TEST_TMP/stderr"

say "umount, usage while unmounted, mount"
strata volume umount data1 || fail "umount"
grep -q " $mnt " /proc/mounts && fail "still mounted after umount"
assert_grep "^data1 .*unmounted" "$(strata volume ls > "$T/ls"; echo "$T/ls")"
strata volume usage data1 > "$T/u2" || fail "usage while unmounted"
cmp "$T/u" "$T/u2" || fail "usage differs unmounted: $(cat "$T/u2")"
strata volume mount data1 > /dev/null || fail "mount again"

say "rm refuses a volume bound elsewhere unless --force"
mkdir "$T/bind"
mount --bind "$mnt" "$T/bind" || fail "bind mount"
track_mount "$T/bind"
expect_fail strata volume rm data1
assert_grep "in use" "$TEST_TMP/stderr"
[ -f "$mnt/a" ] || fail "refused rm changed the volume"
strata volume rm --force data1 || fail "rm --force"
[ ! -e "$V/data1" ] || fail "volume directory left after rm"
if ls "$T/bind" >/dev/null 2>&1; then fail "bind still served after rm --force"; fi
umount -l "$T/bind"
strata volume rm plain || fail "rm"
grep -q " $V/" /proc/mounts && fail "volume mounts left"
strata volume ls > "$T/ls"
assert_eq "$(wc -l < "$T/ls")" 1 "ls after rm: header only"
say ok
