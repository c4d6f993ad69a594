#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Image import benchmark and dedup corpus report: prints figures and
# ratios, never passes or fails on them.
#
#   tests/bench/import-bench.sh [--runs N] [--dir DIR | --loop] [--ci]
#
# Images: three related real Debian bookworm images built with mmdebstrap
# (cached in $STRATA_TEST_CACHE, see tests/lib/images.sh) and packed as
# one-layer OCI layouts (gzip layer) with umoci:
#   minbase       --variant=minbase (the tests' image)
#   minbase+curl  minbase + curl ca-certificates less procps
#   minbase+py    minbase + python3-minimal iproute2, built with another
#                 SOURCE_DATE_EPOCH (a rebuild on another day)
# 1. Import speed, per image, medians of --runs runs (default 3), all on
#    the same filesystem (--dir, default /var/tmp), each timed up to and
#    including `sync -f` of that filesystem, starting from nothing (new
#    store, empty directory):
#      strata import   of the OCI layout into a new store (gzip layer)
#      strata --tar    strata import --tar of the uncompressed layer tar
#                      (the same input as tar -xf)
#      umoci unpack    of the same layout
#      tar -xf         of the uncompressed layer tar (what the issue asks)
#      tar -xzf        of the gzip layer blob (the same input as the others)
# 2. Dedup corpus: the three images imported into one store (default
#    policy), `strata df` figures against (a) the distinct gzip layer blobs
#    (what a registry holds), (b) `du` of each unpacked layer (what
#    overlay-based storage holds), (c) distinct file contents (file-level
#    dedup, as a content-addressed file store would keep them).
# --loop: work on a fresh ext4 on a loop device over a file in /dev/shm (a
#    RAM disk, needs root): the figures show the software, not a disk, and
#    `sync -f` waits for this benchmark's writes only.
# --ci: the tiny test image only, one run: checks that the script works
#    (seconds); the figures mean nothing.
# Run from a build tree (STRATA_BUILDDIR, default: the tree the script is in).
set -eu

RUNS=3 DIR=/var/tmp CI=0 LOOP=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=${2:-}; shift 2 ;;
	--dir) DIR=${2:-}; shift 2 ;;
	--loop) LOOP=1; shift ;;
	--ci) CI=1; RUNS=1; shift ;;
	-h|--help) sed -n '3,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "import-bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $RUNS in ''|*[!0-9]*|0) echo "import-bench.sh: --runs '$RUNS' is not a positive number" >&2; exit 2 ;; esac
[ -d "$DIR" ] || { echo "import-bench.sh: --dir '$DIR' is not a directory" >&2; exit 2; }

: "${STRATA_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${STRATA_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
STRATA=$STRATA_BUILDDIR/tools/strata
die() { echo "import-bench.sh: $*" >&2; exit 1; }
[ -x "$STRATA" ] || die "$STRATA is not built"
for c in umoci jq tar sha256sum awk; do
	command -v $c >/dev/null 2>&1 || die "$c is not installed (scripts/setup-deps.sh)"
done
. "$STRATA_SRCDIR/tests/lib/images.sh"

LOOPIMG="" LOOPDEV="" MNT=""
cleanup() {
	[ -n "${W:-}" ] && rm -rf "$W"
	if [ -n "$MNT" ]; then
		umount "$MNT" 2>/dev/null
		rmdir "$MNT" 2>/dev/null
	fi
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null
	[ -n "$LOOPIMG" ] && rm -f "$LOOPIMG"
	return 0
}
trap cleanup EXIT
if [ $LOOP = 1 ]; then
	[ "$(id -u)" = 0 ] || die "--loop needs root"
	LOOPIMG=$(mktemp /dev/shm/strata-import-bench.XXXXXX)
	truncate -s 8G "$LOOPIMG"
	LOOPDEV=$(losetup --show -f --direct-io=on "$LOOPIMG") || die "no loop device"
	mkfs.ext4 -q "$LOOPDEV" || die "mkfs.ext4 $LOOPDEV failed"
	MNT=$(mktemp -d /tmp/strata-import-bench-mnt.XXXXXX)
	mount "$LOOPDEV" "$MNT" || die "cannot mount $LOOPDEV"
	DIR=$MNT
fi
W=$(mktemp -d "$DIR/strata-import-bench.XXXXXX")
trap 'exit 130' INT TERM
STORE=$W/store.img
unset STRATA_COMPRESS || :
: >"$W/runs"

# ---- images -------------------------------------------------------------

_bench_build_curl() {
	SOURCE_DATE_EPOCH=1700000000 mmdebstrap -q --variant=minbase \
		--include=curl,ca-certificates,less,procps --format=tar bookworm "$1" </dev/null >&2
}
_bench_build_py() {
	SOURCE_DATE_EPOCH=1710000000 mmdebstrap -q --variant=minbase \
		--include=python3-minimal,iproute2 --format=tar bookworm "$1" </dev/null >&2
}
_bench_oci() { # TAR OUT
	umoci init --layout "$2" &&
		umoci new --image "$2:base" &&
		umoci raw add-layer --image "$2:base" "$1" &&
		umoci config --image "$2:base" --config.cmd /bin/sh
}
_bench_oci_curl() { _bench_oci "$(_img_cached minbase-curl-bookworm-v1.tar _bench_build_curl)" "$1"; }
_bench_oci_py() { _bench_oci "$(_img_cached minbase-py-bookworm-v1.tar _bench_build_py)" "$1"; }
_bench_oci_tiny() { _bench_oci "$(image_tiny_tar)" "$1"; }

# Lines "name tar layout".
if [ $CI = 1 ]; then
	echo "tiny $(image_tiny_tar) $(_img_cached bench-tiny-v1.oci _bench_oci_tiny)" >"$W/images"
else
	{
		echo "minbase $(image_minbase_tar) $(image_minbase_oci)"
		echo "minbase+curl $(_img_cached minbase-curl-bookworm-v1.tar _bench_build_curl)" \
			"$(_img_cached minbase-curl-bookworm-v1.oci _bench_oci_curl)"
		echo "minbase+py $(_img_cached minbase-py-bookworm-v1.tar _bench_build_py)" \
			"$(_img_cached minbase-py-bookworm-v1.oci _bench_oci_py)"
	} >"$W/images"
fi
grep -q ' $\|  ' "$W/images" && die "an image could not be built (see above)"

# The gzip layer blob of LAYOUT's image "base".
layer_blob() {
	_m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "base") | .digest' \
		"$1/index.json")
	_l=$(jq -r '.layers[0].digest' "$1/blobs/sha256/${_m#sha256:}")
	echo "$1/blobs/sha256/${_l#sha256:}"
}

now() { date +%s.%N; }
# timed CMD...: run CMD (output discarded) then `sync -f` of the work
# directory; prints the seconds taken.
timed() {
	_t0=$(now)
	"$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; die "failed: $*"; }
	sync -f "$W"
	_t1=$(now)
	awk "BEGIN { printf \"%.3f\n\", $_t1 - $_t0 }"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
mib() { awk "BEGIN { printf \"%.1f\", $1 / 1048576 }"; }

tar_x() { tar --xattrs '--xattrs-include=*' --numeric-owner -xpf "$1" -C "$2"; }
tar_xz() { tar --xattrs '--xattrs-include=*' --numeric-owner -xzpf "$1" -C "$2"; }

echo "# strata import benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg); work dir $DIR ($(df -PT "$DIR" | awk 'NR == 2 { print $2 }')$([ $LOOP = 1 ] && echo " on $LOOPDEV over $LOOPIMG, RAM"))"
echo "strata $("$STRATA" --version | cut -d' ' -f2), umoci $(umoci --version | awk '{ print $NF }')," \
	"$(tar --version | head -1)"
echo

# ---- 1. import speed ----------------------------------------------------

echo "## Import speed (median of $RUNS run(s), seconds, each including sync -f)"
echo
echo "gzip layer: strata import of the OCI layout, umoci unpack of it, tar -xzf of its layer blob;"
echo "uncompressed: strata import --tar and tar -xf of the layer tar."
echo
echo "| image | gzip blob MiB | tar MiB | strata import (gzip) | umoci unpack | tar -xzf | strata import --tar | tar -xf | umoci / strata | strata / tar -xzf | strata --tar / tar -xf |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r name tar layout; do
	blob=$(layer_blob "$layout")
	: >"$W/t.strata"; : >"$W/t.stratatar"; : >"$W/t.umoci"; : >"$W/t.tarx"; : >"$W/t.tarxz"
	i=0
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		rm -f "$STORE"
		"$STRATA" --store "$STORE" store init --file "$STORE" --size 4G >/dev/null
		timed "$STRATA" --store "$STORE" import --quiet --ref base "$layout" >>"$W/t.strata"
		rm -f "$STORE"
		"$STRATA" --store "$STORE" store init --file "$STORE" --size 4G >/dev/null
		timed "$STRATA" --store "$STORE" import --quiet --tar "$tar" >>"$W/t.stratatar"
		rm -f "$STORE"
		rm -rf "$W/bundle"
		timed umoci unpack --image "$layout:base" "$W/bundle" >>"$W/t.umoci"
		rm -rf "$W/bundle"
		mkdir "$W/rootfs"
		timed tar_x "$tar" "$W/rootfs" >>"$W/t.tarx"
		rm -rf "$W/rootfs"
		mkdir "$W/rootfs"
		timed tar_xz "$blob" "$W/rootfs" >>"$W/t.tarxz"
		rm -rf "$W/rootfs"
	done
	for t in strata stratatar umoci tarx tarxz; do
		echo "$name $t: $(tr '\n' ' ' <"$W/t.$t")" >>"$W/runs"
	done
	s=$(median <"$W/t.strata") st=$(median <"$W/t.stratatar") u=$(median <"$W/t.umoci")
	x=$(median <"$W/t.tarx") z=$(median <"$W/t.tarxz")
	echo "| $name | $(mib "$(stat -c %s "$blob")") | $(mib "$(stat -c %s "$tar")") | $s | $u | $z | $st | $x |" \
		"$(ratio "$u" "$s") | $(ratio "$s" "$z") | $(ratio "$st" "$x") |"
done <"$W/images"
echo
echo "Every run (s, in run order; stratatar = strata import --tar, tarx = tar -xf, tarxz = tar -xzf):"
echo
sed 's/^/    /' "$W/runs"
echo

# ---- 2. dedup corpus ----------------------------------------------------

echo "## Dedup corpus: $(awk '{ printf "%s%s", sep, $1; sep = ", " }' "$W/images") in one store"
echo
rm -f "$STORE"
"$STRATA" --store "$STORE" store init --file "$STORE" --size 4G >/dev/null
reg=0 ovl=0 ovl_app=0 n=0
: >"$W/digests"
: >"$W/files"
while read -r name tar layout; do
	n=$((n + 1))
	"$STRATA" --store "$STORE" import --quiet --ref base --name "$name:bench" "$layout" >/dev/null
	blob=$(layer_blob "$layout")
	# A registry stores each distinct blob once.
	if ! grep -qx "$blob" "$W/digests"; then
		echo "$blob" >>"$W/digests"
		reg=$((reg + $(stat -c %s "$blob")))
	fi
	# Overlay-based storage: each layer unpacked on its own.
	mkdir "$W/ovl$n"
	tar_x "$tar" "$W/ovl$n"
	ovl=$((ovl + $(du -sB1 "$W/ovl$n" | cut -f1)))
	ovl_app=$((ovl_app + $(du -sB1 --apparent-size "$W/ovl$n" | cut -f1)))
	# File-level dedup: regular files by content.
	(
		cd "$W/ovl$n"
		find . -type f -print0 >"$W/list"
		# sha256sum prefixes a line with \ for names it has to escape.
		xargs -0 -r sha256sum <"$W/list" | sed 's/^\\//' | cut -c1-64 >"$W/h"
		xargs -0 -r stat -c %s <"$W/list" >"$W/s"
		paste -d' ' "$W/h" "$W/s"
	) >>"$W/files"
done <"$W/images"
"$STRATA" --store "$STORE" df --json >"$W/df.json"
"$STRATA" --store "$STORE" df >"$W/df.txt"
files_all=$(awk '{ s += $2 } END { print s + 0 }' "$W/files")
nfiles=$(wc -l <"$W/files")
sort -u -k1,1 "$W/files" >"$W/files.u"
files_u=$(awk '{ s += $2 } END { print s + 0 }' "$W/files.u")
nfiles_u=$(wc -l <"$W/files.u")
logical=$(jq .total.logical "$W/df.json")
data=$(jq .total.data "$W/df.json")
stored=$(jq .total.stored "$W/df.json")
used=$(jq .store_used "$W/df.json")

echo '```'
cat "$W/df.txt"
echo '```'
echo
echo "| storage | MiB | logical / this |"
echo "|---|---:|---:|"
row() { echo "| $1 | $(mib "$2") | $(ratio "$logical" "$2") |"; }
row "sum of the uncompressed layer tars (logical)" "$logical"
row "overlay: du of the unpacked layers" "$ovl"
row "overlay: apparent size of the unpacked layers" "$ovl_app"
row "file-level dedup: distinct file contents ($nfiles_u of $nfiles files)" "$files_u"
row "registry: distinct gzip layer blobs" "$reg"
row "strata: distinct chunks, uncompressed (DATA)" "$data"
row "strata: chunks after zstd + layer indexes (STORED)" "$stored"
row "strata: store space used (all records with headers)" "$used"
echo
echo "strata dedup ratio (LOGICAL/DATA) $(ratio "$logical" "$data")," \
	"compression ratio (DATA/STORED) $(ratio "$data" "$stored");" \
	"strata STORED / registry blobs $(ratio "$stored" "$reg"), / overlay du $(ratio "$stored" "$ovl")," \
	"/ file-level dedup $(ratio "$stored" "$files_u"); all regular file bytes $(mib "$files_all") MiB."
