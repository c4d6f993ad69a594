#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The file system under a (sparse) store file fills up during an import:
# the import fails with a clear ENOSPC error and adds no image, the store
# stays writable (no "read-only until reopened", a clean close), what was
# stored before is intact, and `strata gc` can run on the full file system,
# reclaim the failed import's chunks and give their space back to it; then
# imports work again.
. "$(dirname "$0")/lib.sh"
. "$STRATA_SRCDIR/tests/lib/images.sh"
need_root
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"
T=$TEST_TMP

mkdir "$T/fs"
mount -t tmpfs -o size=40M tmpfs "$T/fs" || skip "cannot mount a tmpfs here"
track_mount "$T/fs"
# A 1 GiB store file on a 40 MiB file system.
STRATA_STORE="$T/fs/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 1G
expect_ok strata import --quiet --tar --name tiny:1 "$TINY"

say "an import larger than the file system"
mkdir -p "$T/big"
head -c 60000000 /dev/urandom >"$T/big/blob"
tar -C "$T/big" -cf "$T/big.tar" .
expect_fail strata import --quiet --tar --name big:1 "$T/big.tar"
assert_grep 'strata: import: .*No space left on device; no image was added' "$TEST_TMP/stderr"
assert_grep 'the file system holding the store is full' "$TEST_TMP/stderr"
if grep -q 'read-only until reopened\|closing the store\|write of .* failed' "$TEST_TMP/stderr"; then
	cat "$TEST_TMP/stderr" >&2
	fail "the import hit the full file system with a write, not before"
fi

say "nothing lost, nothing visible, the store opens without recovery"
expect_ok strata images -q
assert_eq "$(wc -l <"$TEST_TMP/stdout")" 1 "images after the failed import"
expect_ok strata verify tiny:1
expect_ok strata fsck
assert_grep ' 0 replayed' "$TEST_TMP/stdout"

say "gc on the full file system gives the space back"
before=$(du -k "$STRATA_STORE" | cut -f1)
expect_ok strata gc
assert_grep '^given back to the file system: ' "$TEST_TMP/stdout"
after=$(du -k "$STRATA_STORE" | cut -f1)
say "store file: $before KiB on disk before gc, $after KiB after"
[ $((before - after)) -ge 16384 ] || fail "gc gave back only $((before - after)) KiB"
expect_ok strata df --json
assert_eq "$(jq .garbage "$TEST_TMP/stdout")" 0 "garbage after gc"
expect_ok strata fsck
expect_ok strata verify tiny:1

say "imports work again"
head -c 8000000 /dev/urandom >"$T/big/blob"
tar -C "$T/big" -cf "$T/small.tar" .
expect_ok strata import --quiet --tar --name small:1 "$T/small.tar"
expect_ok strata verify small:1
expect_ok strata fsck
say ok
