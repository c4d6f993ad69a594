# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench backend: strata with store-backed image layers.  Before the
# first measurement (be_strata_store_setup, untimed) the image and the bench
# data layer are imported with `strata import` into a strata store, a file
# on the --store-on target next to the other backends' directories; every
# measurement then mounts it with `strata mount` (strata-fuse reading the
# store's chunks, the upper and work directories as for the others).
#   rootfs tar images (tiny, minbase, ROOTFS.tar): one layer holding the
#     rootfs and /bench (the others see /bench as a separate lower on top);
#   OCI layouts: the image's layers plus /bench as one more layer (umoci).
B_SS_STORE="" B_SS_STATE="" B_SS_IMAGE=strata-bench:1 B_SS_SEQ=0

be_strata_store_check() {
	command -v strata >/dev/null 2>&1 ||
		{ echo "not available: strata not built"; return 1; }
	command -v strata-fuse >/dev/null 2>&1 ||
		{ echo "not available: strata-fuse not built"; return 1; }
	[ -c /dev/fuse ] || { echo "not available: no /dev/fuse"; return 1; }
}
be_strata_store_label() { printf 'strata (store)'; }
be_strata_store_note() {
	echo "strata (store) is the image imported with strata import into a strata store (a file on the same store filesystem) and mounted with strata mount: its lowers are store-backed layers, read as chunks from the store."
}
be_strata_store_version() {
	echo "$(strata-fuse -V 2>&1 | head -n1), store-backed layers ($(_ss_desc))"
}
_ss_desc() {
	[ -n "$B_SS_STORE" ] || { echo "no store"; return 0; }
	echo "store file $(du -h --apparent-size "$B_SS_STORE" | cut -f1), $(du -h "$B_SS_STORE" | cut -f1) used"
}

# _ss_lowers_count: how many lower directories the other backends use.
_ss_lowers_count() { tr ':' '\n' <<<"$B_LOWERS" | wc -l; }

be_strata_store_setup() {
	local data=$B_STORE/lower/data size tmp bytes
	B_SS_STORE=$B_STORE/strata-store.img
	B_SS_STATE=$B_STORE/strata-state
	mkdir -p "$B_SS_STATE"
	bytes=$(du -sb "$B_IMAGE_LOWER" "$data" | awk '{ s += $1 } END { print s }')
	size=$(((bytes * 3 / 2 + (256 << 20)) >> 20))M
	run_fg strata --store "$B_SS_STORE" store init --file "$B_SS_STORE" --size "$size" >>"$B_LOG" 2>&1 ||
		{ echo "strata store init failed"; return 1; }
	tmp=$B_STORE/strata-import
	mkdir -p "$tmp"
	if [ "$(_ss_lowers_count)" = 2 ]; then
		# A rootfs tar: the rootfs with /bench added, one layer.
		run_fg tar --numeric-owner --xattrs --xattrs-include='*' -cf "$tmp/image.tar" \
			-C "$B_IMAGE_LOWER" . -C "$data" ./bench >>"$B_LOG" 2>&1 &&
			run_fg strata --store "$B_SS_STORE" import --quiet --tar --name "$B_SS_IMAGE" "$tmp/image.tar" >>"$B_LOG" 2>&1 ||
			{ rm -rf "$tmp"; echo "strata import of the image failed"; return 1; }
	else
		# An OCI layout: its layers, then /bench as one more (umoci).
		local layout=${B_IMAGE%:*} tag=${B_IMAGE##*:}
		[ "$layout" = "$B_IMAGE" ] && tag=latest
		command -v umoci >/dev/null 2>&1 ||
			{ rm -rf "$tmp"; echo "umoci is needed to add the bench layer to an OCI image"; return 1; }
		cp -a "$layout" "$tmp/layout" &&
			run_fg tar --numeric-owner -cf "$tmp/bench.tar" -C "$data" ./bench >>"$B_LOG" 2>&1 &&
			run_fg umoci raw add-layer --image "$tmp/layout:$tag" --tag strata-bench \
				"$tmp/bench.tar" >>"$B_LOG" 2>&1 &&
			run_fg strata --store "$B_SS_STORE" import --quiet --ref strata-bench --name "$B_SS_IMAGE" \
				"$tmp/layout" >>"$B_LOG" 2>&1 ||
			{ rm -rf "$tmp"; echo "strata import of the OCI layout failed"; return 1; }
	fi
	rm -rf "$tmp"
	echo "bench: strata store: $(_ss_desc)" >>"$B_LOG"
}

be_strata_store_mount() { # LOWERS(unused: the store holds them) UPPER WORK MNT
	B_SS_SEQ=$((B_SS_SEQ + 1))
	STRATA_STORE=$B_SS_STORE STRATA_STATE_DIR=$B_SS_STATE \
		strata mount --upper "$2" --work "$3" --name "bench-$$-$B_SS_SEQ" \
		"$B_SS_IMAGE" "$4" 3>&- >/dev/null && wait_mounted "$4"
}
be_strata_store_umount() {
	STRATA_STORE=$B_SS_STORE STRATA_STATE_DIR=$B_SS_STATE strata umount "$1"
}
be_strata_store_pids() { fuse_daemon_pids strata-fuse "$1"; }
