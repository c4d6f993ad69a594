#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the libFuzzer targets with clang (Debian: apt-get install clang; the
# libFuzzer runtime comes with it).  Independent of configure: it compiles
# the few sources each target needs straight from the tree.
#   tests/fuzz/build.sh OUTDIR
#   OUTDIR/fuzz_chunker -max_total_time=60 -max_len=300000 CORPUSDIR
# CC and FUZZ_CFLAGS override the compiler and its flags.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build.sh OUTDIR}
cc=${CC:-clang}
flags=${FUZZ_CFLAGS:--g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined}
mkdir -p "$out"
cflags="-std=gnu11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -DXXH_INLINE_ALL \
	-I$top/include -I$top $flags"

# shellcheck disable=SC2086
$cc $cflags -o "$out/fuzz_chunker" "$top/tests/fuzz/fuzz_chunker.c" \
	"$top/dedup/chunker.c" "$top/dedup/gear.c"
# shellcheck disable=SC2086
$cc $cflags $(pkg-config --cflags libzstd) -o "$out/fuzz_decompress" \
	"$top/tests/fuzz/fuzz_decompress.c" "$top/dedup/compress.c" "$top/common/log.c" \
	$(pkg-config --libs libzstd)
echo "built: $out/fuzz_chunker $out/fuzz_decompress"
