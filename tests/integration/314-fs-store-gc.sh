#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# gc and imports while store-backed containers run, on a store file and on
# a store on a block device (a loop device): `strata gc` compacts the
# segments that hold a mounted image's chunks (they share segments with
# the chunks of a removed image) and a later import overwrites the freed
# segments.  The daemon, which opened the store before, must still read
# every file byte for byte (it reloads its index once, and says so in its
# log); a second container mounts beside the first; fsck passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
T=$TEST_TMP

# Two trees whose chunks interleave in the store: a has 200 files of
# 20-200 KiB; b the same files, each followed by one of its own.  b is
# imported first, so a's chunks are b's, in b's segments.
mkdir -p "$T/a/data" "$T/b/data" "$T/c"
i=0
while [ $i -lt 200 ]; do
	n=$(( (i % 10 + 1) * 20000 ))
	head -c $n /dev/urandom >"$T/a/data/f$i"
	cp "$T/a/data/f$i" "$T/b/data/f$i"
	head -c $n /dev/urandom >"$T/b/data/g$i"
	i=$((i + 1))
done
tar -C "$T/a" -cf "$T/a.tar" .
tar -C "$T/b" -cf "$T/b.tar" .
head -c 40000000 /dev/urandom >"$T/c/blob"
tar -C "$T/c" -cf "$T/c.tar" .

# same_as_a MNT: every file of a reads back the same through MNT.
same_as_a() {
	echo 3 >/proc/sys/vm/drop_caches
	_bad=0
	for _f in "$T"/a/data/*; do
		cmp -s "$_f" "$1/data/${_f##*/}" || _bad=$((_bad + 1))
	done
	assert_eq "$_bad" 0 "files of a that differ or fail to read in $1"
}

# scenario NAME INIT-ARGS...: the whole run on a new store ($STRATA_STORE).
scenario() {
	_n=$1
	shift
	expect_ok strata store init "$@"
	expect_ok strata import --quiet --tar --name b:1 "$T/b.tar"
	expect_ok strata import --quiet --tar --name a:1 "$T/a.tar"

	say "$_n: mount a, read a file"
	STRATA_LOG=info smount a:1 "$T/m-$_n" --name "ca-$_n"
	LOG=$STRATA_STATE_DIR/containers/ca-$_n/daemon.log
	cmp "$T/a/data/f7" "$T/m-$_n/data/f7" || fail "f7 differs before gc"

	say "$_n: rmi b, gc (moves a's chunks), import c (reuses the freed segments)"
	expect_ok strata rmi b:1
	strata gc >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "strata gc failed"; }
	_moved=$(sed -n 's/^compacted: .* \([0-9][0-9]*\) records moved.*/\1/p' "$T/gc.out")
	[ "${_moved:-0}" -ge 100 ] ||
		{ cat "$T/gc.out" >&2; fail "gc moved ${_moved:-no} records (want >= 100)"; }
	expect_ok strata import --quiet --tar --name c:1 "$T/c.tar"

	say "$_n: every file of a reads back through the running daemon"
	same_as_a "$T/m-$_n"
	assert_grep "index reloaded" "$LOG"
	assert_eq "$(grep -c 'index reloaded' "$LOG")" 1 "index reloads"
	if grep -q 'checksum mismatch\|read at' "$LOG"; then
		cat "$LOG" >&2
		fail "the daemon logged read errors"
	fi

	say "$_n: a second container beside the first, images, then remount"
	smount a:1 "$T/m2-$_n" --name "cb-$_n"
	same_as_a "$T/m2-$_n"
	expect_ok strata images
	assert_grep "^a:1 " "$TEST_TMP/stdout"
	sumount "$T/m2-$_n"
	sumount "$T/m-$_n"
	expect_ok strata fsck
	smount a:1 "$T/m-$_n" --name "ca-$_n"
	same_as_a "$T/m-$_n"
	sumount "$T/m-$_n"
}

# Small stores, so that the last import has to reuse the freed segments.
STRATA_STORE="$T/store.img"
export STRATA_STORE
scenario file --file "$STRATA_STORE" --size 96M

need_cmd losetup
make_loop 96M
STRATA_STORE=$LOOP_DEV
scenario device --device "$LOOP_DEV"
say ok
