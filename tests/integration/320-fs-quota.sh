#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# upper_size= and upper_inodes=: writes and creates beyond the limits fail
# with EDQUOT and keep what was written before; deleting frees room; a
# copy-up too big for the limit fails and leaves nothing behind; usage
# (statfs of the mount) matches a scan of the upper, also after the daemon
# is killed (kill -9) and the upper mounted again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
T=$TEST_TMP
mkdir -p "$T/l/d" "$T/u" "$T/w" "$T/m"
M=$T/m
track_mount "$M"
echo lower > "$T/l/d/f"
head -c 3000000 /dev/urandom > "$T/l/big"
OPTS="lowerdir=$T/l,upperdir=$T/u,workdir=$T/w"

# usage MNT: "BYTES INODES" the mount reports (statfs, 512-byte units).
usage() {
	stat -f -c '%S %b %f %c %d' "$1" |
		awk '{ printf "%d %d\n", ($2 - $3) * $1, $4 - $5 }'
}
# scan DIR: the same figures counted with find (each inode once).
scan() {
	find "$1" -mindepth 1 -printf '%i %b\n' |
		awk '!seen[$1]++ { b += $2 * 512; n++ } END { printf "%d %d\n", b, n }'
}
limit_bytes() { stat -f -c '%S %b' "$1" | awk '{ printf "%d\n", $1 * $2 }'; }

say "bad options are refused"
expect_fail timeout 20 strata-fuse -f -o "$OPTS,upper_size=lots" "$M"
assert_grep "upper_size" "$TEST_TMP/stderr"
expect_fail timeout 20 strata-fuse -f -o "$OPTS,upper_inodes=0" "$M"
assert_grep "upper_inodes" "$TEST_TMP/stderr"
expect_fail timeout 20 strata-fuse -f -o "lowerdir=$T/l,upper_size=1M" "$M"
assert_grep "need an upperdir" "$TEST_TMP/stderr"

say "size limit: dd beyond it gets EDQUOT, the file keeps its first bytes"
strata_mount "$OPTS,upper_size=2M" "$M"
assert_eq "$(limit_bytes "$M")" 2097152 "statfs size = upper_size"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage at mount"
head -c 4194304 /dev/urandom > "$T/data"
if dd if="$T/data" of="$M/f" bs=64k 2>"$T/dd.err"; then
	fail "writing 4 MiB under a 2 MiB limit succeeded"
fi
assert_grep "Disk quota exceeded" "$T/dd.err"
size=$(stat -c %s "$M/f")
[ "$size" -gt 1000000 ] && [ "$size" -le 2097152 ] ||
	fail "unexpected size $size after EDQUOT"
head -c "$size" "$T/data" | cmp - "$M/f" || fail "data before the limit corrupted"
set -- $(usage "$M")
[ "$1" -le 2097152 ] || fail "usage $1 beyond the limit"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after EDQUOT"
expect_fail sh -c "head -c 1048576 /dev/zero > '$M/g'"
assert_grep "Disk quota exceeded" "$TEST_TMP/stderr"

say "deleting brings usage down, writing works again"
rm "$M/f" "$M/g"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after rm"
head -c 1048576 "$T/data" > "$M/h" || fail "write after freeing room"
head -c 1048576 "$T/data" | cmp - "$M/h" || fail "data written after rm"
truncate -s 0 "$M/h" || fail "truncate"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after truncate"
head -c 1048576 "$T/data" > "$M/h" && echo short > "$M/h" ||
	fail "rewriting with O_TRUNC"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after open(O_TRUNC)"

say "copy-up of a lower file bigger than the room left fails cleanly"
head -c 1048576 /dev/zero > "$M/fill" || fail "filling"
expect_fail sh -c "echo x >> '$M/big'"
assert_grep "Disk quota exceeded" "$TEST_TMP/stderr"
cmp "$M/big" "$T/l/big" || fail "lower file changed by a failed copy-up"
[ ! -e "$T/u/big" ] || fail "half copy-up in the upper"
[ -z "$(ls -A "$T/w/work")" ] || fail "copy-up left $(ls -A "$T/w/work")"
rm "$M/fill"
echo x >> "$M/d/f" || fail "small copy-up under the limit"
assert_eq "$(cat "$M/d/f")" "lower
x" "copied-up file"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after copy-up"

say "fallocate counts"
expect_fail fallocate -l 3M "$M/fa"
assert_grep "quota" "$TEST_TMP/stderr"
fallocate -l 512K "$M/fa" || fail "fallocate under the limit"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after fallocate"

say "names: mkdir, symlink, link, rename over, rmdir, whiteouts"
mkdir -p "$M/dir/sub" && ln -s target "$M/dir/sl" && ln "$M/fa" "$M/dir/hl" ||
	fail "creating names"
echo a > "$M/a" && echo b > "$M/b" && mv "$M/a" "$M/b" || fail "rename over"
rm "$M/d/f" && rmdir "$M/dir/sub" && mv "$M/dir" "$M/dir2" ||
	fail "removing names"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "usage after namespace changes"
strata_umount "$M"

say "inode limit: touch beyond it gets EDQUOT"
rm -rf "$T/u" "$T/w" && mkdir "$T/u" "$T/w"
strata_mount "$OPTS,upper_inodes=10" "$M"
i=0
while [ $i -lt 20 ]; do
	touch "$M/f$i" 2>"$T/touch.err" || break
	i=$((i + 1))
done
assert_eq "$i" 10 "files created under upper_inodes=10"
assert_grep "Disk quota exceeded" "$T/touch.err"
expect_fail mkdir "$M/dir"
assert_grep "Disk quota exceeded" "$TEST_TMP/stderr"
rm "$M/f0"
mkdir "$M/dir" || fail "mkdir after rm"
assert_eq "$(usage "$M")" "$(scan "$T/u")" "inode usage"
strata_umount "$M"

say "usage is the same after kill -9 and a remount"
rm -rf "$T/u" "$T/w" && mkdir "$T/u" "$T/w"
strata_mount "$OPTS,upper_size=8M,upper_inodes=1000" "$M"
mkdir "$M/x" && head -c 700000 /dev/urandom > "$M/x/a" &&
	echo y >> "$M/d/f" && ln "$M/x/a" "$M/x/b" && rm "$M/big" ||
	fail "writing before the kill"
sync
before=$(usage "$M")
assert_eq "$before" "$(scan "$T/u")" "usage before the kill"
kill -9 "$_fs_pid"
wait "$_fs_pid" 2>/dev/null || true
fusermount3 -u "$M" || umount -l "$M" || fail "cleaning up the dead mount"
strata_mount "$OPTS,upper_size=8M,upper_inodes=1000" "$M"
assert_eq "$(usage "$M")" "$before" "usage after kill -9 and remount"
strata_umount "$M"

say "strata mount --upper-size/--upper-inodes pass the limits on"
. "$STRATA_SRCDIR/tests/lib/images.sh"
TINY=$(image_tiny_tar) || fail "cannot build the tiny image"
STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 1G
expect_ok strata import --tar --name tiny:1 "$TINY"
expect_fail strata mount --upper-size nope tiny:1 "$T/c"
assert_grep "invalid --upper-size" "$TEST_TMP/stderr"
expect_fail strata mount --upper-inodes 0 tiny:1 "$T/c"
assert_grep "invalid --upper-inodes" "$TEST_TMP/stderr"
mkdir "$T/c"
track_mount "$T/c"
strata mount --name quota --upper-size 1M --upper-inodes 100 tiny:1 "$T/c" \
	>/dev/null || fail "strata mount --upper-size"
for p in $(daemon_pids "$T/c"); do track_pid "$p"; done
assert_eq "$(limit_bytes "$T/c")" 1048576 "statfs size of the container"
assert_eq "$(stat -f -c %c "$T/c")" 100 "statfs inodes of the container"
expect_fail dd if=/dev/zero of="$T/c/fill" bs=64k count=32
assert_grep "Disk quota exceeded" "$TEST_TMP/stderr"
expect_ok strata umount "$T/c"
say ok
