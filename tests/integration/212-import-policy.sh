#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The per-store dedup policy and import's chunking options: store init
# --compress/--chunk-size/--whole-max, strata store set, store info; import
# follows the store unless STRATA_COMPRESS or its options say otherwise;
# bad values are usage errors naming the rule they break and change
# nothing; the policy survives gc and reopen.  Mixing chunkings in one
# store stays correct: the Debian minbase image imported under one
# chunking and a variant of it (same files plus one, another DiffID) under
# another both rebuild byte for byte, and share their small files.
. "$(dirname "$0")/lib.sh"
need_cmd jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
MINTAR=$(image_minbase_tar) || skip "cannot build the minbase rootfs tar (no Debian mirror?)"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"

STRATA_STORE="$TEST_TMP/store.img"
export STRATA_STORE
unset STRATA_COMPRESS || :

# expect_status N CMD...: the command must exit with status N.
expect_status() {
	_want=$1
	shift
	_st=0
	"$@" >"$TEST_TMP/stdout" 2>"$TEST_TMP/stderr" || _st=$?
	[ "$_st" = "$_want" ] || {
		cat "$TEST_TMP/stderr" >&2
		fail "exit status $_st, expected $_want: $*"
	}
}
fsck_ok() {
	expect_ok strata fsck
	assert_grep ': clean' "$TEST_TMP/stdout"
}
info() { strata store info --json | jq -r "$1"; }

say "bad policy values at init are usage errors and create nothing"
for bad in "--compress lz4" "--compress zstd:99" "--chunk-size 16K:60K:256K" \
	"--chunk-size 64K:64K:256K" "--chunk-size 16K:64K:2M" "--chunk-size 32:128:1K" \
	"--chunk-size 16K:64K" "--chunk-size a:b:c" "--whole-max 512K" "--whole-max 4M"; do
	# shellcheck disable=SC2086
	expect_status 2 strata store init --file "$STRATA_STORE" --size 1G $bad
	[ ! -e "$STRATA_STORE" ] || fail "store created despite $bad"
done
expect_status 2 strata store init --file "$STRATA_STORE" --size 1G --chunk-size 16K:60K:256K
assert_grep 'power of two' "$TEST_TMP/stderr"
expect_status 2 strata store init --file "$STRATA_STORE" --size 1G --chunk-size 64K:64K:256K
assert_grep 'minimum chunk size must be below the average' "$TEST_TMP/stderr"
expect_status 2 strata store init --file "$STRATA_STORE" --size 1G --chunk-size 16K:64K:2M
assert_grep 'at most 1 MiB' "$TEST_TMP/stderr"
expect_status 2 strata store init --file "$STRATA_STORE" --size 1G --whole-max 512K
assert_grep 'whole-max 512.0 KiB is above the maximum chunk size 256.0 KiB' "$TEST_TMP/stderr"

say "store init with a policy; store info shows it"
expect_ok strata store init --file "$STRATA_STORE" --size 2G --compress none \
	--chunk-size 4K:16K:64K
assert_eq "$(info .compress)" none "compress after init"
assert_eq "$(info .compress_set)" true "compress_set"
assert_eq "$(info '[.chunk_min,.chunk_avg,.chunk_max,.whole_max] | @csv')" \
	"4096,16384,65536,16384" "chunking after init"
expect_ok strata store info
assert_grep '^compress: *none (store policy)' "$TEST_TMP/stdout"
assert_grep '^chunking: *min 4.0 KiB, avg 16.0 KiB, max 64.0 KiB; whole files up to 16.0 KiB (store policy)' \
	"$TEST_TMP/stdout"
fsck_ok

say "import follows the store policy (no compression, small chunks)"
expect_ok strata import --tar --name mb:a "$MINTAR"
STORED_A=$(sed -n 's/.*, \(.*\) new stored.*/\1/p' "$TEST_TMP/stdout")
expect_ok strata df --json
assert_eq "$(jq -r '.total.compression_ratio < 1.01' "$TEST_TMP/stdout")" true \
	"compression ratio under policy none"
A_DATA=$(jq '.total.data' "$TEST_TMP/stdout")
A_CHUNKS=$(jq '.total.chunks' "$TEST_TMP/stdout")
say "minbase under 4K:16K:64K, no compression: $A_CHUNKS chunks, $STORED_A stored"

say "a second chunking in the same store: minbase plus one file, 32K:128K:512K, whole files to 256K"
cp "$MINTAR" "$TEST_TMP/variant.tar"
mkdir -p "$TEST_TMP/extra/etc"
echo "variant" > "$TEST_TMP/extra/etc/variant"
tar -C "$TEST_TMP/extra" --numeric-owner --owner=0 --group=0 -rf "$TEST_TMP/variant.tar" ./etc/variant
expect_ok strata import --tar --name mb:b --chunk-size 32K:128K:512K --whole-max 256K \
	"$TEST_TMP/variant.tar"
assert_grep '(mb:b): 1 layer (1 new)' "$TEST_TMP/stdout"
expect_ok strata df --json
B_CHUNKS=$(jq '.total.chunks' "$TEST_TMP/stdout")
B_DATA=$(jq '.total.data' "$TEST_TMP/stdout")
B_UNIQUE=$(jq '[.images[] | select(.name == "mb:b")][0].unique' "$TEST_TMP/stdout")
A_LOGICAL=$(jq '[.images[] | select(.name == "mb:a")][0].logical' "$TEST_TMP/stdout")
say "after the variant: $B_CHUNKS chunks, data $A_DATA -> $B_DATA, variant unique $B_UNIQUE"
# Small files are whole objects under both chunkings: the same ids, stored once.
[ "$B_UNIQUE" -lt "$A_LOGICAL" ] || fail "the variant shares nothing with minbase"
[ "$((B_DATA - A_DATA))" -lt "$A_DATA" ] || fail "the variant's new data is not below minbase's"
expect_ok strata verify mb:a mb:b
[ "$(grep -c '^ok ' "$TEST_TMP/stdout")" = 2 ] || fail "expected 2 verified layers"
fsck_ok

say "chunking given to import is checked as a whole, with the store's whole-max"
expect_status 2 strata import --tar --chunk-size 1K:3K:8K "$TINY"
assert_grep "bad --chunk-size '1K:3K:8K': the average chunk size must be a power of two" \
	"$TEST_TMP/stderr"
expect_status 2 strata import --tar --chunk-size 4K:16K:64K --whole-max 128K "$TINY"
assert_grep 'whole-file threshold must not exceed the maximum chunk size' "$TEST_TMP/stderr"
expect_status 2 strata import --tar --whole-max 2M "$TINY"
assert_grep "bad --whole-max '2M'" "$TEST_TMP/stderr"
expect_status 2 strata import --tar --compress zstd:x "$TINY"
expect_ok strata images -q
assert_eq "$(wc -l < "$TEST_TMP/stdout")" 2 "images after rejected imports"

say "store set: compression, then STRATA_COMPRESS and --compress override it"
# Compressible data that no image in the store holds yet (gc removes it
# between the imports, so each import writes it anew).
mkdir -p "$TEST_TMP/text/data"
seq 1 1000000 > "$TEST_TMP/text/data/numbers"
seq 1000000 -1 1 | sed 's/$/ strata/' > "$TEST_TMP/text/data/words"
tar -C "$TEST_TMP/text" --numeric-owner --owner=0 --group=0 -cf "$TEST_TMP/text.tar" .
TEXT="$TEST_TMP/text.tar"
expect_ok strata store set compress=zstd:5
assert_grep '^compress: *zstd:5$' "$TEST_TMP/stdout"
assert_eq "$(info .compress)" zstd:5 "compress after set"
# The chunking was not touched.
assert_eq "$(info '.chunk_avg')" 16384 "chunking kept by a compress-only set"
expect_ok strata import --tar --name text:store "$TEXT"
expect_ok strata df --json
T1=$(jq '[.images[] | select(.name == "text:store")][0] | .data / .stored' "$TEST_TMP/stdout")
expect_ok strata rmi text:store
expect_ok strata gc -q
STRATA_COMPRESS=none expect_ok strata import --tar --name text:env "$TEXT"
expect_ok strata df --json
T2=$(jq '[.images[] | select(.name == "text:env")][0] | .data / .stored' "$TEST_TMP/stdout")
expect_ok strata rmi text:env
expect_ok strata gc -q
STRATA_COMPRESS=none expect_ok strata import --tar --name text:opt --compress zstd "$TEXT"
expect_ok strata df --json
T3=$(jq '[.images[] | select(.name == "text:opt")][0] | .data / .stored' "$TEST_TMP/stdout")
say "text data/stored: store zstd:5 $T1, STRATA_COMPRESS=none $T2, --compress zstd $T3"
assert_eq "$(awk "BEGIN{print ($T1 > 1.05)}")" 1 "store policy zstd:5 compresses"
assert_eq "$(awk "BEGIN{print ($T2 < 1.01)}")" 1 "STRATA_COMPRESS=none overrides the store"
assert_eq "$(awk "BEGIN{print ($T3 > 1.05)}")" 1 "--compress overrides STRATA_COMPRESS"

say "store set: chunking, whole-max, defaults, bad values"
gen0=$(info .policy_generation)
expect_ok strata store set chunk-size=8K:32K:128K whole-max=128K
assert_eq "$(info '[.chunk_min,.chunk_avg,.chunk_max,.whole_max] | @csv')" \
	"8192,32768,131072,131072" "chunking after set"
assert_eq "$(info .policy_generation)" "$((gen0 + 1))" "generation after set"
# chunk-size alone resets whole-max to the average.
expect_ok strata store set chunk-size=16K:64K:1M
assert_eq "$(info .whole_max)" 65536 "whole-max after chunk-size alone"
for bad in "chunk-size=8K:32K:16K" "whole-max=2M" "compress=gzip" "nosuch=1" "compress" \
	"chunk-size=16K:64K:256K whole-max=512K"; do
	# shellcheck disable=SC2086
	expect_status 2 strata store set $bad
done
assert_grep 'whole-max 512.0 KiB is above the maximum chunk size 256.0 KiB' "$TEST_TMP/stderr"
assert_eq "$(info '[.compress,.chunk_max,.whole_max] | @csv')" '"zstd:5",1048576,65536' \
	"policy after rejected sets"
expect_status 2 strata store set
expect_ok strata store set compress=default chunk-size=default
assert_eq "$(info '[.compress,.compress_set,.chunking_set,.chunk_avg] | @csv')" \
	'"zstd:1",false,false,65536' "policy after reset"

say "the policy survives gc, compaction and reopen; records are crash-safe slots"
expect_ok strata store set compress=none whole-max=32K
for i in 1 2 3 4 5; do
	expect_ok strata store set "compress=zstd:$i"
done
expect_ok strata rmi mb:a
expect_ok strata gc
expect_ok strata store info --json
assert_eq "$(jq -r '[.compress,.whole_max,.policy_ok] | @csv' "$TEST_TMP/stdout")" \
	'"zstd:5",32768,true' "policy after gc"
fsck_ok
expect_ok strata verify mb:b
expect_ok strata store set --store "$STRATA_STORE" compress=none
assert_eq "$(STRATA_STORE=/nonexistent strata store info --json "$STRATA_STORE" | jq -r .compress)" \
	none "store info with the store as argument"
expect_status 1 strata store set --store "$TEST_TMP/nosuch.img" compress=none
assert_grep 'no such store' "$TEST_TMP/stderr"
say "ok"
