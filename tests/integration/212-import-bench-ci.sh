#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/bench/import-bench.sh in its short CI mode (the tiny image, one
# run): checks only that the benchmark runs to the end and prints both of
# its tables, never the figures themselves.
. "$(dirname "$0")/lib.sh"
need_cmd umoci jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
image_tiny_tar >/dev/null || skip "cannot build the tiny image"

expect_ok sh "$STRATA_SRCDIR/tests/bench/import-bench.sh" --ci --dir "$TEST_TMP"
out="$TEST_TMP/stdout"
assert_grep '^| tiny | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |' "$out"
assert_grep '^tiny:bench  *8.4 MiB' "$out"
assert_grep '^| registry: distinct gzip layer blobs | [0-9.]* |' "$out"
assert_grep '^| strata: chunks after zstd + layer indexes (STORED) | [0-9.]* |' "$out"
assert_grep '^strata dedup ratio (LOGICAL/DATA) [0-9.]*, compression ratio' "$out"
# The benchmark cleaned up its work directory.
[ -z "$(ls "$TEST_TMP" | grep strata-import-bench)" ] || fail "work directory left behind"
expect_fail sh "$STRATA_SRCDIR/tests/bench/import-bench.sh" --runs 0
assert_grep "not a positive number" "$TEST_TMP/stderr"
say "ok"
