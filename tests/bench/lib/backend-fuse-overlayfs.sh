# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench backend: fuse-overlayfs, the FUSE peer.
be_fuse_overlayfs_check() {
	command -v fuse-overlayfs >/dev/null 2>&1 ||
		{ echo "not available: fuse-overlayfs not installed"; return 1; }
	[ -c /dev/fuse ] || { echo "not available: no /dev/fuse"; return 1; }
}
be_fuse_overlayfs_version() { fuse-overlayfs --version 2>/dev/null | grep -m1 '^fuse-overlayfs'; }
be_fuse_overlayfs_mount() {
	fuse-overlayfs -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" 3>&- && wait_mounted "$4"
}
be_fuse_overlayfs_umount() { fuse_umount "$1"; }
be_fuse_overlayfs_pids() { fuse_daemon_pids fuse-overlayfs "$1"; }
