#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Image readers on real tools' output: a umoci layout with two images (the
# second has whiteouts from `umoci repack`), the same image converted by
# skopeo to oci-archive, docker-archive and a zstd layout, and a rootfs
# tarball.  image-dump walks every layer and rebuilds each tar from its
# skeleton: the rebuilt bytes must hash to the DiffID.  Then corrupted and
# incomplete copies must fail with a message naming the blob.
. "$(dirname "$0")/lib.sh"
need_cmd umoci skopeo tar gzip
DUMP="$STRATA_BUILDDIR/tests/integration/image-dump"
[ -x "$DUMP" ] || fail "image-dump is not built"
T=$TEST_TMP

# A small rootfs: the shared tiny image when the helper exists, else our own.
if [ -f "$STRATA_SRCDIR/tests/lib/images.sh" ]; then
	. "$STRATA_SRCDIR/tests/lib/images.sh"
	ROOTFS=$(image_tiny_tar) || skip "cannot build the tiny test image"
else
	mkdir -p "$T/r/etc" "$T/r/usr/bin" "$T/r/data"
	echo hello >"$T/r/etc/motd"
	head -c 100000 /dev/urandom >"$T/r/data/blob"
	ln -s /etc/motd "$T/r/usr/bin/motd-link"
	tar -C "$T/r" -cf "$T/rootfs.tar" .
	ROOTFS=$T/rootfs.tar
fi

say "umoci layout with two images"
L=$T/layout
umoci init --layout "$L"
umoci new --image "$L:base"
umoci raw add-layer --image "$L:base" "$ROOTFS"
umoci config --image "$L:base" --config.cmd /bin/sh --config.env A=1 \
	--config.label org.example=strata --config.exposedports 8080/tcp \
	--config.workingdir /etc --config.user 1000:1000
umoci unpack --image "$L:base" "$T/bundle" >/dev/null
R=$T/bundle/rootfs
rm -f "$R/etc/motd"
rm -rf "$R/var/lib/data/sub"
mkdir -p "$R/var/lib/data/sub"
echo replaced >"$R/var/lib/data/sub/new"
echo added >"$R/etc/added"
mkfifo "$R/fifo"
if command -v setfattr >/dev/null 2>&1; then
	setfattr -n user.strata -v test "$R/etc/added" 2>/dev/null || :
fi
umoci repack --image "$L:app" "$T/bundle" >/dev/null

expect_ok "$DUMP" -a "$L"
out=$T/layout.out
cp "$T/stdout" "$out"
assert_grep '^source: oci-layout images: 2' "$out"
assert_grep '^ref 1: app' "$out"
assert_grep '^cmd: "/bin/sh"' "$out"
assert_grep '^ports: "8080/tcp"' "$out"
assert_grep '^label: org.example=strata' "$out"
assert_grep '^user: 1000:1000' "$out"
assert_grep ' etc/motd \[whiteout\]' "$out"
assert_grep '^  fifo .* fifo$' "$out"
assert_grep '^  reg .* etc/added' "$out"
nl=$(grep -c '^layer [0-9]*: skeleton .* rebuild OK' "$out")
assert_eq "$nl" 3 "layers rebuilt (base: 1, app: 2)"
grep -q 'MISMATCH' "$out" && fail "a rebuilt layer differs"
grep '^layer [0-9]*: entries' "$out" | sed 's/ walk_ms.*//' >"$T/layout.ids"

# The rebuilt tar is the uncompressed blob, byte for byte.
blob=$(sed -n 's/^layer 1: application[^ ]* sha256:\([0-9a-f]*\) .*/\1/p' "$out" | tail -1)
expect_ok "$DUMP" -r app -q -t "$T/rebuilt.tar" "$L"
gzip -dc "$L/blobs/sha256/$blob" >"$T/orig.tar"
cmp "$T/orig.tar" "$T/rebuilt.tar" || fail "rebuilt layer tar differs from the original"

say "skopeo: oci-archive, docker-archive, zstd layout"
skopeo copy -q oci:"$L":app oci-archive:"$T/x.tar"
skopeo copy -q oci:"$L":app docker-archive:"$T/y.tar":strata/app:v1
expect_ok "$DUMP" -q "$T/x.tar"
assert_grep '^source: oci-archive images: 1' "$T/stdout"
assert_eq "$(grep -c 'rebuild OK' "$T/stdout")" 2 "oci-archive layers rebuilt"
grep '^layer [0-9]*: entries' "$T/stdout" | sed 's/ walk_ms.*//' >"$T/x.ids"
tail -2 "$T/layout.ids" | cmp - "$T/x.ids" || fail "oci-archive layers differ from the layout's"

expect_ok "$DUMP" -q -r docker.io/strata/app:v1 "$T/y.tar"
assert_grep '^source: docker-archive images: 1' "$T/stdout"
assert_grep '^ref 0: docker.io/strata/app:v1' "$T/stdout"
assert_eq "$(grep -c 'rebuild OK' "$T/stdout")" 2 "docker-archive layers rebuilt"
# Same DiffIDs as the layout (docker-archive layers are uncompressed).
for id in $(sed -n 's/.* diff_id \(sha256:[0-9a-f]*\) .*/\1/p' "$T/x.ids"); do
	assert_grep "diff_id $id" "$T/stdout"
done

if skopeo copy -q --dest-compress-format zstd oci:"$L":app oci:"$T/z":app 2>"$T/skopeo.err"; then
	expect_ok "$DUMP" -q "$T/z"
	if grep -q 'tar+zstd' "$T/stdout"; then
		assert_eq "$(grep -c 'rebuild OK' "$T/stdout")" 2 "zstd layers rebuilt"
	else
		say "skopeo kept gzip layers; zstd covered by the unit tests"
	fi
else
	say "skopeo cannot write zstd layers here: $(head -1 "$T/skopeo.err")"
fi

say "rootfs tarballs (plain and gzip)"
expect_ok "$DUMP" -q "$ROOTFS"
assert_grep '^source: rootfs-tar' "$T/stdout"
assert_grep 'rebuild OK' "$T/stdout"
gzip -c "$ROOTFS" >"$T/rootfs.tar.gz"
expect_ok "$DUMP" -q "$T/rootfs.tar.gz"
assert_grep 'rebuild OK' "$T/stdout"

say "bad input: corrupted, truncated and missing blobs"
cp -a "$L" "$T/bad"
blob0=$(sed -n 's/^layer 0: application[^ ]* sha256:\([0-9a-f]*\) .*/\1/p' "$out" | head -1)
[ -n "$blob0" ] || fail "no layer digest in image-dump output"
f=$T/bad/blobs/sha256/$blob0
chmod u+w "$f"
printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
expect_fail "$DUMP" -r base -q "$T/bad"
assert_grep "sha256:$blob0" "$T/stderr"
assert_grep 'mismatch\|corrupt' "$T/stderr"
head -c 100 "$L/blobs/sha256/$blob0" >"$f"
expect_fail "$DUMP" -r base -q "$T/bad"
assert_grep 'size\|truncated' "$T/stderr"
rm -f "$f"
expect_fail "$DUMP" -r base -q "$T/bad"
assert_grep "blobs/sha256/$blob0" "$T/stderr"

say "bad input: path escapes in archives"
mkdir -p "$T/evil/sub"
cp "$L/oci-layout" "$L/index.json" "$T/evil/"
echo boom >"$T/evil/sub/x"
tar -C "$T/evil" -cf "$T/evil.tar" oci-layout index.json --transform='s,^sub/x$,../escape,' sub/x
expect_fail "$DUMP" -q "$T/evil.tar"
assert_grep '"../escape"' "$T/stderr"
[ -e "$T/escape" ] && fail "archive member escaped"
ls -d "${TMPDIR:-/var/tmp}"/strata-import.* 2>/dev/null && fail "temporary extraction left behind"
say "ok"
