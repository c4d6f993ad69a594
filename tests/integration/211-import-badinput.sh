#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Bad input for strata import: truncated gzip, wrong digest, a manifest
# pointing at a missing blob, ../ and absolute names, a symlink-then-file
# escape, a huge header, zero-length and empty layers, duplicate entries.
# Each is a clear error (nothing visible left, store passes fsck) or gets
# the defined layer semantics (imported, and rebuilds to its DiffID).
. "$(dirname "$0")/lib.sh"
need_cmd umoci python3 jq gzip
. "$STRATA_SRCDIR/tests/lib/images.sh"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"

STRATA_STORE="$TEST_TMP/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 1G

fsck_ok() {
	expect_ok strata fsck
	assert_grep ': clean' "$TEST_TMP/stdout"
}
# no_image: the catalog holds exactly the images it held before ($1: count).
images_count() { strata images -q | wc -l; }
# rejected WHAT PATTERN CMD...: the import fails, says PATTERN, leaves nothing.
rejected() {
	_what=$1 _pat=$2
	shift 2
	_n=$(images_count)
	expect_fail "$@"
	assert_grep "$_pat" "$TEST_TMP/stderr"
	assert_grep 'strata: import: ' "$TEST_TMP/stderr"
	say "$_what: rejected: $(grep 'strata: ' "$TEST_TMP/stderr" | head -n 1)"
	assert_eq "$(images_count)" "$_n" "$_what: images after a failed import"
	fsck_ok
}

# mktar OUT SPEC...: python tarfile writer; SPEC is type:name[:arg]
#   f:NAME:DATA  regular file    d:NAME  directory    l:NAME:TARGET symlink
#   h:NAME:TARGET hardlink       p:NAME:SIZE pax file whose path is SIZE bytes
mktar() {
	python3 - "$@" <<'EOF'
import io, sys, tarfile
out = sys.argv[1]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(":", 2)
        arg = rest[0] if rest else ""
        ti = tarfile.TarInfo(name)
        ti.mtime = 1700000000
        data = None
        if kind == "f":
            data = arg.encode()
            ti.size = len(data)
        elif kind == "d":
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
        elif kind == "l":
            ti.type = tarfile.SYMTYPE
            ti.linkname = arg
        elif kind == "h":
            ti.type = tarfile.LNKTYPE
            ti.linkname = arg
        elif kind == "p":
            ti.name = "a" * int(arg)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
EOF
}

say "a good small image first, so failures must leave it alone"
L="$TEST_TMP/layout"
expect_ok umoci init --layout "$L"
expect_ok umoci new --image "$L:t"
gzip -c "$TINY" > /dev/null # gzip works
expect_ok umoci raw add-layer --image "$L:t" "$TINY"
expect_ok strata import --name good:1 "$L"
fsck_ok

say "truncated gzip layer (rootfs tar)"
gzip -c "$TINY" > "$TEST_TMP/t.tar.gz"
head -c $(( $(stat -c %s "$TEST_TMP/t.tar.gz") / 2 )) "$TEST_TMP/t.tar.gz" > "$TEST_TMP/trunc.tar.gz"
rejected "truncated gzip" 'truncated\|corrupt\|unexpected end\|premature' \
	strata import --tar --name trunc:1 "$TEST_TMP/trunc.tar.gz"

say "wrong digest: one byte of the layer blob changed"
B="$TEST_TMP/bad-digest"
cp -a "$L" "$B"
layer=$(jq -r '.manifests[0].digest' "$B/index.json" | cut -d: -f2)
layer=$(jq -r '.layers[0].digest' "$B/blobs/sha256/$layer" | cut -d: -f2)
python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0xff
open(p, 'wb').write(bytes(b))" "$B/blobs/sha256/$layer"
rejected "wrong digest" 'digest\|mismatch\|corrupt' strata import --name bad:1 "$B"

say "manifest pointing at a missing blob"
M="$TEST_TMP/missing-blob"
cp -a "$L" "$M"
rm "$M/blobs/sha256/$layer"
rejected "missing blob" 'missing\|No such file\|not found' strata import --name missing:1 "$M"

say "../ in a name"
mktar "$TEST_TMP/dotdot.tar" "d:etc" "f:etc/../../evil:x"
rejected "../ name" '\.\.' strata import --tar --name dotdot:1 "$TEST_TMP/dotdot.tar"
[ ! -e "$TEST_TMP/evil" ] && [ ! -e /evil ] || fail "something was written on the host"

say "absolute names are stored as names under the layer root"
mktar "$TEST_TMP/abs.tar" "f:/etc/strata-abs-test:x" "l:/lnk:/etc/shadow"
expect_ok strata import --tar --name abs:1 "$TEST_TMP/abs.tar"
[ ! -e /etc/strata-abs-test ] || fail "an absolute name was written on the host"
expect_ok strata verify abs:1
fsck_ok

say "symlink, then a file through it"
mktar "$TEST_TMP/escape.tar" "l:esc:/tmp" "f:esc/strata-escape:pwned"
rejected "symlink escape" 'esc/strata-escape.*symlink' \
	strata import --tar --name escape:1 "$TEST_TMP/escape.tar"
[ ! -e /tmp/strata-escape ] || fail "the escape wrote on the host"

say "hardlink to a name outside the layer"
mktar "$TEST_TMP/hard.tar" "h:h:etc/passwd"
rejected "hardlink outside" 'not in this layer' strata import --tar --name hard:1 "$TEST_TMP/hard.tar"

say "huge header: a 100,000-byte path in a pax header"
mktar "$TEST_TMP/huge.tar" "p:x:100000"
rejected "huge header" 'too long\|long' strata import --tar --name huge:1 "$TEST_TMP/huge.tar"

say "zero-length layer file"
: > "$TEST_TMP/zero.tar"
n=$(images_count)
if strata import --tar --name zero:1 "$TEST_TMP/zero.tar" >"$TEST_TMP/stdout" 2>"$TEST_TMP/stderr"; then
	# Defined semantics: an empty layer.
	expect_ok strata verify zero:1
	say "zero-length layer: imported as an empty layer"
else
	assert_grep 'strata: import: ' "$TEST_TMP/stderr"
	assert_eq "$(images_count)" "$n" "zero-length layer"
	say "zero-length layer: rejected: $(head -n 1 "$TEST_TMP/stderr")"
fi
fsck_ok

say "a layer with no entries (only the end blocks) is an empty layer"
head -c 10240 /dev/zero > "$TEST_TMP/empty.tar"
expect_ok strata import --tar --name empty:1 "$TEST_TMP/empty.tar"
expect_ok strata verify empty:1
fsck_ok

say "duplicate entries: imported, the tar still rebuilds to its DiffID"
mktar "$TEST_TMP/dup.tar" "d:etc" "f:etc/x:first" "f:etc/x:second" "d:etc" "f:y:1" "d:y" "f:y/z:2"
expect_ok strata import --tar --name dup:1 "$TEST_TMP/dup.tar"
want=$(sha256sum "$TEST_TMP/dup.tar" | cut -d' ' -f1)
expect_ok strata inspect --format json dup:1
assert_eq "$(jq -r '.layers[0].diff_id' "$TEST_TMP/stdout")" "sha256:$want" "DiffID of dup.tar"
expect_ok strata verify dup:1
fsck_ok

say "bad names and usage"
expect_fail strata import --tar --name 'bad name' "$TEST_TMP/dup.tar"
assert_grep 'not a valid name' "$TEST_TMP/stderr"
expect_fail strata import --tar "$TEST_TMP/nonexistent.tar"
assert_grep 'strata: import: ' "$TEST_TMP/stderr"

say "a source with several images: name one, or --all"
mktar "$TEST_TMP/extra.tar" "f:extra:1"
expect_ok umoci raw add-layer --image "$L:t" --tag t2 "$TEST_TMP/extra.tar"
rejected "several images, none named" 'holds 2 images' strata import "$L"
expect_fail strata import --all --ref t "$L"
assert_grep 'exclude each other' "$TEST_TMP/stderr"
rejected "names for several images" 'names apply to one image' strata import --all --name x:1 "$L"
expect_ok strata import --all "$L"
assert_grep '(layout:t): 1 layer (0 new)' "$TEST_TMP/stdout"
assert_grep '(layout:t2): 2 layers (1 new)' "$TEST_TMP/stdout"
expect_ok strata inspect --format json layout:t
good=$(strata inspect --format json good:1 | jq -r .id)
[ "$(jq -r .id "$TEST_TMP/stdout")" = "$good" ] || fail "layout:t is not the image good:1 names"
fsck_ok

say "progress on a terminal, none otherwise"
if command -v script >/dev/null 2>&1; then
	script -qec "strata import --tar --name tty:1 '$TINY'" /dev/null > "$TEST_TMP/tty.out" 2>&1 ||
		fail "import under a terminal"
	assert_grep 'layer 1/1' "$TEST_TMP/tty.out"
fi
expect_ok strata import --tar --name tty:2 "$TINY"
if grep -q 'layer 1/1' "$TEST_TMP/stderr"; then fail "progress shown without a terminal"; fi
expect_ok strata import --quiet --tar "$TINY"
assert_grep '^sha256:[0-9a-f]\{64\}$' "$TEST_TMP/stdout"

say "after all that: the good image is intact; gc leaves a clean store"
expect_ok strata verify good:1
expect_ok strata gc
expect_ok strata verify --all
fsck_ok
say "ok"
