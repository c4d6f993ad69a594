#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `strata store init|info` and `strata fsck` on bad input: random data, a
# truncated store, a store from a newer format version, files too small or
# larger than --size, --device on things that are no block device, and an
# ext4 file system on a loop device (refused without --force).  Every
# refusal must say why on stderr ("strata: ..."), exit non-zero and leave
# the target's bytes as they were.  Then the good cases on real block
# devices: a loop device over /dev/shm with O_DIRECT, and zram when the
# kernel offers zram-control.
. "$(dirname "$0")/lib.sh"

command -v strata >/dev/null 2>&1 || fail "strata not built"
need_cmd sha256sum

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	D=$(mktemp -d /dev/shm/strata-cli.XXXXXX)
	on_cleanup "rm -rf '$D'"
else
	D=$TEST_TMP
fi

# Checksum of a file or device, or "absent".
digest() {
	if [ -e "$1" ]; then
		sha256sum <"$1" | cut -d' ' -f1
	else
		echo absent
	fi
}

nbad=0
# refused TARGET PATTERN CMD...: CMD must fail with "strata: " and PATTERN
# on stderr, print nothing that looks like success, and leave TARGET as it
# was (bytes, or its absence).
refused() {
	_t=$1 _pat=$2
	shift 2
	_before=$(digest "$_t")
	expect_fail "$@"
	grep -q '^strata: ' "$TEST_TMP/stderr" ||
		{ cat "$TEST_TMP/stderr" >&2; fail "no 'strata: ' error line from: $*"; }
	grep -Eq -- "$_pat" "$TEST_TMP/stderr" ||
		{ cat "$TEST_TMP/stderr" >&2; fail "stderr of '$*' does not match /$_pat/"; }
	if grep -q 'created store\|: clean$' "$TEST_TMP/stdout"; then
		cat "$TEST_TMP/stdout" >&2
		fail "'$*' failed but reported success"
	fi
	assert_eq "$(digest "$_t")" "$_before" "$_t changed by: $*"
	nbad=$((nbad + 1))
}

say "random data"
head -c 1M /dev/urandom >"$D/rand1m"
head -c 32M /dev/urandom >"$D/rand32m"
for f in "$D/rand1m" "$D/rand32m"; do
	refused "$f" 'not a strata store' strata store info "$f"
	refused "$f" 'not a strata store' strata store info --json "$f"
	refused "$f" 'not a strata store' strata fsck "$f"
	refused "$f" 'not a strata store' strata fsck --repair "$f"
done
refused "$D/rand1m" 'too small' strata store init --file "$D/rand1m"
refused "$D/rand1m" 'too small' strata store init --file "$D/rand1m" --size 8M

say "truncated store"
expect_ok strata store init --file "$D/real" --size 32M
head -c 4096 "$D/real" >"$D/trunc"
refused "$D/trunc" 'truncated|not a strata store' strata store info "$D/trunc"
refused "$D/trunc" 'truncated|not a strata store' strata fsck "$D/trunc"
refused "$D/trunc" 'truncated|not a strata store' strata fsck --repair "$D/trunc"
# The rest of the store cut off too (a whole segment missing).
head -c 16M "$D/real" >"$D/half"
refused "$D/half" 'truncated|not a strata store' strata fsck --repair "$D/half"

say "newer format version"
# u32 version at byte 8 of the superblock (store/format.c); it is checked
# before the superblock checksum, so 2 reads as "newer", not as damage.
cp "$D/real" "$D/v2"
printf '\002' | dd of="$D/v2" bs=1 seek=8 conv=notrunc status=none
[ "$(od -An -tu4 -j8 -N4 "$D/v2" | tr -d ' ')" = 2 ] || fail "version patch did not land"
refused "$D/v2" 'newer' strata store info "$D/v2"
refused "$D/v2" 'newer' strata fsck "$D/v2"
refused "$D/v2" 'newer' strata fsck --repair "$D/v2"
refused "$D/v2" 'in use|strata store' strata store init --file "$D/v2"
# The library's own line names the version it found.
strata fsck "$D/v2" 2>"$TEST_TMP/stderr" >/dev/null || true
assert_grep 'version 2 is newer than this strata' "$TEST_TMP/stderr"

say "too small, or larger than --size"
refused "$D/new8m" 'too small' strata store init --file "$D/new8m" --size 8M
[ ! -e "$D/new8m" ] || fail "a refused init left $D/new8m behind"
refused "$D/rand32m" 'shrink' strata store init --file "$D/rand32m" --size 16M
refused "$D/rand32m" 'shrink' strata store init --file "$D/rand32m" --size 16M --force
refused "$D/x" 'bad --size' strata store init --file "$D/x" --size abc
refused "$D/x" 'bad --size' strata store init --file "$D/x" --size 0

say "--device on a non-block path"
refused "$D/rand32m" 'not a block device' strata store init --device "$D/rand32m"
refused "$D/rand32m" 'not a block device' strata store init --device "$D/rand32m" --force
refused "$D/none" 'No such file' strata store init --device "$D/none"
expect_fail strata store init --device /dev/null
assert_grep '^strata: .*not a block device' "$TEST_TMP/stderr"
refused "$D/rand32m" 'exclude each other' \
	strata store init --device /dev/null --file "$D/rand32m"
# A store that is fine still opens after all this.
expect_ok strata fsck "$D/real"
assert_grep ': clean$' "$TEST_TMP/stdout"

say "ext4 on a loop device over /dev/shm"
need_root
need_cmd losetup mkfs.ext4
truncate -s 64M "$D/loop.img"
L=$(losetup --show -f --direct-io=on "$D/loop.img" 2>"$TEST_TMP/losetup.err") ||
	skip "no loop device with direct I/O: $(cat "$TEST_TMP/losetup.err") ($nbad refusals checked)"
track_loop "$L"
mkfs.ext4 -q -F -L victim "$L" >/dev/null 2>&1 || fail "mkfs.ext4 $L failed"
refused "$L" 'ext4' strata store init --device "$L"
refused "$L" 'in use' strata store init --device "$L"
refused "$L" 'applies to --file only' strata store init --device "$L" --size 1G --force
refused "$L" 'not a strata store' strata store info "$L"
refused "$L" 'not a strata store' strata fsck --repair "$L"
expect_ok strata store init --device "$L" --force --label loopstore
assert_grep "created store $L" "$TEST_TMP/stdout"

say "store on the loop device: info and fsck"
expect_ok strata store info "$L"
assert_grep "^store: *$L (block device)" "$TEST_TMP/stdout"
assert_grep '^I/O: .*O_DIRECT' "$TEST_TMP/stdout"
assert_grep '^label: *loopstore' "$TEST_TMP/stdout"
expect_ok strata store info --json "$L"
assert_grep '"block_device":true' "$TEST_TMP/stdout"
assert_grep '"direct_io":true' "$TEST_TMP/stdout"
if command -v jq >/dev/null 2>&1; then
	jq -e '.size == 67108864 and .version == 1' "$TEST_TMP/stdout" >/dev/null ||
		fail "store info --json: unexpected size or version: $(cat "$TEST_TMP/stdout")"
fi
expect_ok strata fsck "$L"
assert_grep ': clean$' "$TEST_TMP/stdout"
expect_ok strata fsck --no-data "$L"
assert_grep ': clean$' "$TEST_TMP/stdout"
# Formatting it again needs --force: the strata signature is seen too.
refused "$L" 'strata store' strata store init --device "$L"

say "zram"
zram_id=""
zram_cleanup() {
	[ -n "$zram_id" ] || return 0
	echo 1 >"/sys/block/zram$zram_id/reset"
	echo "$zram_id" >/sys/class/zram-control/hot_remove
}
if [ ! -e /sys/class/zram-control/hot_add ]; then
	say "zram part skipped: /sys/class/zram-control does not exist (no zram module)"
else
	zram_id=$(cat /sys/class/zram-control/hot_add) ||
		fail "hot_add of a zram device failed"
	on_cleanup zram_cleanup
	Z=/dev/zram$zram_id
	echo 64M >"/sys/block/zram$zram_id/disksize" || fail "setting the disksize of $Z failed"
	for _ in $(seq 50); do [ -b "$Z" ] && break; sleep 0.1; done
	[ -b "$Z" ] || fail "$Z did not appear after hot_add"
	expect_ok strata store init --device "$Z" --label zram
	expect_ok strata store info "$Z"
	assert_grep "^store: *$Z (block device)" "$TEST_TMP/stdout"
	assert_grep '^I/O: .*O_DIRECT' "$TEST_TMP/stdout"
	# zram has 4 KiB sectors: the store's block follows the device.
	assert_grep '^sectors: *logical 4096' "$TEST_TMP/stdout"
	expect_ok strata fsck "$Z"
	assert_grep ': clean$' "$TEST_TMP/stdout"
	echo 1 >"/sys/block/zram$zram_id/reset" || fail "reset of $Z failed"
	echo "$zram_id" >/sys/class/zram-control/hot_remove || fail "hot_remove of $Z failed"
	[ ! -e "/sys/block/zram$zram_id" ] || fail "$Z still exists after hot_remove"
	zram_id=""
fi

say "$nbad refusals: each with an error on stderr, a non-zero exit and the target unchanged"
