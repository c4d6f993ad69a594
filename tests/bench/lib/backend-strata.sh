# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench backend: strata-fuse over the same host-directory lowers as
# the others (its fuse-overlayfs-compatible command line), labelled
# "strata (dir lowers)"; strata over its block store is backend-strata-store.sh.
be_strata_check() {
	command -v strata-fuse >/dev/null 2>&1 ||
		{ echo "not available: strata-fuse not built"; return 1; }
	[ -c /dev/fuse ] || { echo "not available: no /dev/fuse"; return 1; }
}
be_strata_label() { printf 'strata (dir lowers)'; }
be_strata_note() {
	echo "strata (dir lowers) is strata-fuse reading the same unpacked host-directory lowers as the other backends, through its fuse-overlayfs-compatible command line."
}
be_strata_version() { echo "$(strata-fuse -V 2>&1 | head -n1), host-directory lowers"; }
be_strata_mount() {
	strata-fuse -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" 3>&- && wait_mounted "$4"
}
be_strata_umount() { fuse_umount "$1"; }
be_strata_pids() { fuse_daemon_pids strata-fuse "$1"; }
