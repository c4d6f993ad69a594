#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# gc racing concurrent imports into one store: in each round three imports
# run in parallel (the Debian minbase OCI layout with its gzip layer, and a
# rootfs tar) while gc and df run in a loop, with garbage from an import
# killed half-way lying in the store.  gc must never take what an import
# in progress has written (each import and each gc holds the store's
# exclusive lock, so they run one after the other): afterwards every image rebuilds byte for byte
# (strata verify), fsck is clean, and one more gc leaves no garbage.
. "$(dirname "$0")/lib.sh"
need_cmd umoci jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout (no Debian mirror?)"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"

STRATA_STORE="$TEST_TMP/store.img"
export STRATA_STORE
fsck_ok() {
	expect_ok strata fsck
	assert_grep ': clean' "$TEST_TMP/stdout"
}

expect_ok strata store init --file "$STRATA_STORE" --size 3G
# own_tar: a rootfs tar no other import shares data with (new random files).
own_tar() {
	rm -rf "$TEST_TMP/own"
	mkdir -p "$TEST_TMP/own/data"
	head -c 20000000 /dev/urandom > "$TEST_TMP/own/data/r1"
	head -c 3000000 /dev/urandom > "$TEST_TMP/own/data/r2"
	tar -C "$TEST_TMP/own" --numeric-owner --owner=0 --group=0 -cf "$TEST_TMP/own.tar" .
}
own_tar

say "garbage first: an import killed half-way"
strata import --tar --name killed:1 "$TEST_TMP/own.tar" >/dev/null 2>&1 &
kp=$!
track_pid $kp
sleep 0.3
kill -9 $kp 2>/dev/null || :
wait $kp 2>/dev/null || :

# gc_loop FLAGFILE: gc and df over and over until FLAGFILE disappears.
gc_loop() {
	n=0
	while [ -e "$1" ]; do
		strata gc -q >>"$TEST_TMP/gc.log" 2>&1 || { echo "gc failed" >>"$TEST_TMP/gc.err"; }
		strata df --json >/dev/null 2>>"$TEST_TMP/gc.log" || echo "df failed" >>"$TEST_TMP/gc.err"
		n=$((n + 1))
	done
	echo "$n" >"$TEST_TMP/gc.count"
}

for round in 1 2 3; do
	say "round $round: three imports in parallel, gc and df in a loop"
	# New data every round, also in round 1: the "killed" import above may
	# have finished before its kill, and own:r1 must not share its image.
	own_tar
	: >"$TEST_TMP/running"
	strata import --quiet --ref base --name "base:r$round" "$OCI" >"$TEST_TMP/i1.out" 2>&1 &
	p1=$!
	track_pid $p1
	gc_loop "$TEST_TMP/running" &
	gp=$!
	track_pid $gp
	sleep 0.2
	strata import --quiet --tar --name "own:r$round" --chunk-size 8K:32K:128K \
		"$TEST_TMP/own.tar" >"$TEST_TMP/i2.out" 2>&1 &
	p2=$!
	track_pid $p2
	sleep 0.2
	strata import --quiet --tar --name "tiny:r$round" "$TINY" >"$TEST_TMP/i3.out" 2>&1 &
	p3=$!
	track_pid $p3
	st=0
	wait $p1 || { st=1; cat "$TEST_TMP/i1.out" >&2; }
	wait $p2 || { st=1; cat "$TEST_TMP/i2.out" >&2; }
	wait $p3 || { st=1; cat "$TEST_TMP/i3.out" >&2; }
	rm -f "$TEST_TMP/running"
	wait $gp || :
	[ "$st" = 0 ] || fail "an import failed in round $round"
	[ ! -e "$TEST_TMP/gc.err" ] || { cat "$TEST_TMP/gc.log" >&2; fail "gc or df failed"; }
	say "round $round: gc ran $(cat "$TEST_TMP/gc.count") times alongside"
	expect_ok strata verify --all
	nimg=$(strata images -q | wc -l)
	[ "$(grep -c '^ok ' "$TEST_TMP/stdout")" -ge 3 ] || fail "verify checked too few layers"
	fsck_ok
	# Drop the previous round's own image, so gc has real work in the next one.
	if [ "$round" -gt 1 ]; then
		expect_ok strata rmi "own:r$((round - 1))" "base:r$((round - 1))"
		assert_grep "^deleted " "$TEST_TMP/stdout"
	fi
done
say "$nimg images after the rounds"
expect_ok strata images
for n in base:r3 own:r3 tiny:r3 tiny:r1; do
	assert_grep "^$n " "$TEST_TMP/stdout"
done
expect_ok strata gc
expect_ok strata df --json
assert_eq "$(jq .garbage "$TEST_TMP/stdout")" 0 "garbage after the final gc"
expect_ok strata verify --all
fsck_ok
say "ok"
