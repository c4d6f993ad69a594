#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the layer index fuzz target with libFuzzer + ASan + UBSan.
#   [CONFIG_H=BUILDDIR/config.h] tests/fuzz/build-layer-fuzzers.sh OUTDIR
#   OUTDIR/fuzz_layer -max_total_time=60 OUTDIR/corpus-layer
# Seeds: a few tars (first byte 0: import path) and the index of one of them
# (first byte 1: a stored index handed to the reader as it is).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build-layer-fuzzers.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The store code needs the configure results: CONFIG_H, else any build dir's.
cfg=${CONFIG_H:-$(ls "$top"/_build/*/config.h 2>/dev/null | head -n 1)}
[ -n "$cfg" ] && [ -f "$cfg" ] || { echo "set CONFIG_H to a configured build's config.h" >&2; exit 1; }
cp "$cfg" "$out/config.h"
CC=${CC:-clang}
PKGS="libarchive libcrypto json-c zlib libzstd liburing blkid libxxhash"
# shellcheck disable=SC2046
CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
-I$top/include -I$top -include $out/config.h -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DXXH_INLINE_ALL \
$(pkg-config --cflags $PKGS 2>/dev/null)"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null) -lpthread"
objs=""
for s in "$top"/store/*.c "$top"/dedup/*.c "$top"/common/*.c; do
	o="$out/$(basename "$(dirname "$s")")-$(basename "$s" .c).o"
	# shellcheck disable=SC2086
	$CC $CFLAGS -c "$s" -o "$o"
	objs="$objs $o"
done
# shellcheck disable=SC2086
$CC $CFLAGS -fsanitize=fuzzer "$top/tests/fuzz/fuzz_layer.c" $objs $LIBS -o "$out/fuzz_layer"

c=$out/corpus-layer
mkdir -p "$c"
d=$(mktemp -d)
mkdir -p "$d/r/etc" "$d/r/a/b"
echo hello > "$d/r/etc/f"
ln -s ../etc/f "$d/r/a/l"
ln "$d/r/etc/f" "$d/r/a/h"
head -c 200000 /dev/urandom > "$d/r/a/b/big"
: > "$d/r/a/.wh.gone"
for fmt in gnu pax; do
	tar -C "$d/r" --format=$fmt -cf "$d/t.tar" .
	{ printf '\000'; cat "$d/t.tar"; } > "$c/tar-$fmt"
done
rm -rf "$d"
printf '\001AAAA' > "$c/patch-seed" # odd first byte: patches of a valid index
