#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Differential test: the same seeded random operations (create, write,
# truncate, rename with flags, link, unlink, mkdir, rmdir, chmod, chown,
# xattrs, symlink, utimens, mkfifo; many over lower content, so whiteouts
# and copy-ups) on kernel overlayfs and on strata-fuse with the same lowers.
# Return codes, touched objects, the merged views and the upper directories
# must match; then each upper is mounted by the other implementation and
# must show the same tree.  FSDIFF_SEEDS / FSDIFF_OPS widen the run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
FSDIFF=$(fsdiff_bin)
[ -x "$FSDIFF" ] || fail "fsdiff helper not built"
T=$TEST_TMP

for seed in ${FSDIFF_SEEDS:-1 2 3}; do
	say "seed $seed"
	R=$T/s$seed
	mkdir -p "$R/l1" "$R/l2" "$R/ku" "$R/kw" "$R/su" "$R/sw" "$R/km" "$R/sm" "$R/x1" "$R/x2" "$R/xw" "$R/xw2"
	"$FSDIFF" populate $((seed * 7)) "$R/l2"
	"$FSDIFF" populate $((seed * 13)) "$R/l1" "$R/l2"
	kernel_mount "$R/l1:$R/l2" "$R/ku" "$R/kw" "$R/km"
	strata_mount "lowerdir=$R/l1:$R/l2,upperdir=$R/su,workdir=$R/sw" "$R/sm"
	"$FSDIFF" tree "$R/km" "$R/sm" || fail "seed $seed: initial views differ"
	"$FSDIFF" run "$seed" "${FSDIFF_OPS:-1000}" "$R/km" "$R/sm" ||
		fail "seed $seed: operations differ"
	"$FSDIFF" tree "$R/km" "$R/sm" || fail "seed $seed: final views differ"
	umount "$R/km"
	strata_umount "$R/sm"
	"$FSDIFF" upper "$R/ku" "$R/su" || fail "seed $seed: upper directories differ"

	# Cross-mount: kernel on strata's upper vs strata on the kernel's.
	kernel_mount "$R/l1:$R/l2" "$R/su" "$R/xw" "$R/x1"
	strata_mount "lowerdir=$R/l1:$R/l2,upperdir=$R/ku,workdir=$R/xw2" "$R/x2"
	"$FSDIFF" tree "$R/x1" "$R/x2" || fail "seed $seed: cross-mounted views differ"
	umount "$R/x1"
	strata_umount "$R/x2"
done
say ok
