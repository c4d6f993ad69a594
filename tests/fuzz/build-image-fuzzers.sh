#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the image-format fuzz targets with libFuzzer + ASan + UBSan.
#   tests/fuzz/build-image-fuzzers.sh OUTDIR
#   OUTDIR/fuzz_tarwalk -max_total_time=60 OUTDIR/corpus-tarwalk
#   OUTDIR/fuzz_oci_json -max_total_time=60 OUTDIR/corpus-json
# Seeds: a few tars (plain, gzip, zstd, pax, GNU, sparse) and JSON documents
# are generated into the corpus directories when tar/gzip/zstd are present.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build-image-fuzzers.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/config.h"
CC=${CC:-clang}
CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
-I$top/include -I$top -include $out/config.h -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DXXH_INLINE_ALL"
PKGS="libarchive libcrypto json-c zlib libzstd"
# shellcheck disable=SC2046
CFLAGS="$CFLAGS $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread"
srcs="store/digest.c store/json.c store/oci.c store/archive.c store/tarwalk.c store/tarstream.c store/tarbuild.c
common/log.c common/util.c common/bigbuf.c"
objs=""
for s in $srcs; do
	o="$out/$(basename "$s" .c).o"
	# shellcheck disable=SC2086
	$CC $CFLAGS -c "$top/$s" -o "$o"
	objs="$objs $o"
done
for t in fuzz_tarwalk fuzz_oci_json; do
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer "$top/tests/fuzz/$t.c" $objs $LIBS -o "$out/$t"
done

# Seed corpora.
c=$out/corpus-tarwalk
mkdir -p "$c" "$out/corpus-json"
if command -v tar >/dev/null; then
	d=$(mktemp -d)
	mkdir -p "$d/r/dir/sub"
	echo hello >"$d/r/dir/f"
	ln -s /etc "$d/r/lnk"
	ln "$d/r/dir/f" "$d/r/hard"
	: >"$d/r/dir/.wh.gone"
	: >"$d/r/dir/sub/.wh..wh..opq"
	mkfifo "$d/r/fifo"
	truncate -s 1M "$d/r/sparse" && printf x | dd of="$d/r/sparse" bs=1 seek=500000 conv=notrunc 2>/dev/null
	long=$(printf '%0200d' 0)
	echo long >"$d/r/dir/$long" 2>/dev/null || :
	tar -C "$d/r" --format=pax -cf "$c/pax.tar" .
	tar -C "$d/r" --format=gnu -S -cf "$c/gnu-sparse.tar" .
	tar -C "$d/r" --format=ustar -cf "$c/ustar.tar" dir/f lnk 2>/dev/null || :
	gzip -c "$c/pax.tar" >"$c/pax.tar.gz"
	command -v zstd >/dev/null && zstd -q -c "$c/gnu-sparse.tar" >"$c/gnu.tar.zst"
	rm -rf "$d"
fi
D=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
printf '\000{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":10}]}' $D $D >"$out/corpus-json/manifest"
printf '\001{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' $D >"$out/corpus-json/index"
printf '\002{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"],"ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"}},"history":[{"empty_layer":true}],"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $D >"$out/corpus-json/config"
printf '\003sha256:%s' $D >"$out/corpus-json/digest"
echo "built $out/fuzz_tarwalk and $out/fuzz_oci_json"
