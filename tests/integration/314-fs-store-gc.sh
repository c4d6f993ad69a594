#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# gc and imports while a store-backed container runs: `strata gc` compacts
# the segments that hold the mounted image's chunks (they share segments
# with the chunks of a removed image) and a later import overwrites the
# freed segments.  The daemon, which opened the store before, must still
# read every file byte for byte (it reloads its index once, and says so in
# its log), and fsck must pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
T=$TEST_TMP

# A small store, so that the last import has to reuse the freed segments.
STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 96M

say "two images whose chunks interleave in the store"
# a: 200 files of 20-200 KiB; b: the same files, each followed by one of
# its own.  b is imported first, so a's chunks are b's, in b's segments.
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
expect_ok strata import --quiet --tar --name b:1 "$T/b.tar"
expect_ok strata import --quiet --tar --name a:1 "$T/a.tar"

say "mount a, read it once"
STRATA_LOG=info smount a:1 "$T/m" --name ca
LOG=$STRATA_STATE_DIR/containers/ca/daemon.log
cmp "$T/a/data/f7" "$T/m/data/f7" || fail "f7 differs before gc"

say "rmi b, gc (moves a's chunks), import c (reuses the freed segments)"
expect_ok strata rmi b:1
strata gc >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "strata gc failed"; }
moved=$(sed -n 's/^compacted: .* \([0-9][0-9]*\) records moved.*/\1/p' "$T/gc.out")
[ "${moved:-0}" -ge 100 ] || { cat "$T/gc.out" >&2; fail "gc moved ${moved:-no} records (want >= 100)"; }
head -c 40000000 /dev/urandom >"$T/c/blob"
tar -C "$T/c" -cf "$T/c.tar" .
expect_ok strata import --quiet --tar --name c:1 "$T/c.tar"

say "every file of a reads back through the running daemon"
echo 3 >/proc/sys/vm/drop_caches
bad=0
for f in "$T"/a/data/*; do
	cmp -s "$f" "$T/m/data/${f##*/}" || bad=$((bad + 1))
done
assert_eq "$bad" 0 "files of a that differ or fail after gc"
assert_grep "index reloaded" "$LOG"
assert_eq "$(grep -c 'index reloaded' "$LOG")" 1 "index reloads"
grep -q 'checksum mismatch\|read at' "$LOG" && {
	cat "$LOG" >&2
	fail "the daemon logged read errors"
}
sumount "$T/m"
expect_ok strata fsck

say "and after a remount"
smount a:1 "$T/m" --name ca
echo 3 >/proc/sys/vm/drop_caches
for f in "$T"/a/data/*; do
	cmp -s "$f" "$T/m/data/${f##*/}" || fail "${f##*/} differs after remount"
done
sumount "$T/m"
say ok
