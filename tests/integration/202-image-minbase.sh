#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Debian minbase rootfs (~8,700 entries: device nodes, hardlinks,
# long names, setuid files) as a rootfs tarball and as a umoci layout:
# every entry walked, the tar rebuilt from the skeleton with the DiffID
# matching.  Needs mmdebstrap and a Debian mirror the first time (cached in
# /var/cache/strata-test by tests/lib/images.sh).
. "$(dirname "$0")/lib.sh"
need_cmd mmdebstrap umoci
DUMP="$STRATA_BUILDDIR/tests/integration/image-dump"
[ -x "$DUMP" ] || fail "image-dump is not built"
[ -f "$STRATA_SRCDIR/tests/lib/images.sh" ] || skip "tests/lib/images.sh is missing"
. "$STRATA_SRCDIR/tests/lib/images.sh"
TAR=$(image_minbase_tar) || skip "cannot build the minbase image (no Debian mirror?)"
OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout"

say "minbase rootfs tar"
expect_ok "$DUMP" "$TAR"
out=$TEST_TMP/dump
cp "$TEST_TMP/stdout" "$out"
entries=$(sed -n 's/^layer 0: entries \([0-9]*\) .*/\1/p' "$out")
[ "$entries" -gt 8000 ] || fail "only $entries entries"
assert_grep '^  chr 0666 0:0 0 dev/null dev=1,3' "$out"
assert_grep '^  hard ' "$out"
assert_grep '^layer 0: skeleton .* rebuild OK' "$out"
want=$(sha256sum "$TAR" | cut -d' ' -f1)
assert_grep "diff_id sha256:$want" "$out"
say "$(grep '^layer 0: entries' "$out" | sed 's/ blob .*walk_ms/, walk_ms/')"
say "$(grep '^layer 0: skeleton' "$out")"

say "minbase OCI layout (gzip layer, DiffID from the config)"
expect_ok "$DUMP" -q -r base "$OCI"
assert_grep 'tar+gzip' "$TEST_TMP/stdout"
assert_grep "diff_id sha256:$want" "$TEST_TMP/stdout"
assert_grep '^layer 0: skeleton .* rebuild OK' "$TEST_TMP/stdout"
say "$(grep '^layer 0: entries' "$TEST_TMP/stdout" | sed 's/ diff_id.*walk_ms/, walk_ms/')"
say "ok"
