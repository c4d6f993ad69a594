# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench backend: kernel overlayfs, the ceiling every ratio is taken to.
be_kernel_check() {
	grep -qw overlay /proc/filesystems || modprobe -q overlay 2>/dev/null ||
		{ echo "not available: kernel has no overlayfs"; return 1; }
}
be_kernel_version() { echo "overlayfs in Linux $(uname -r)"; }
be_kernel_mount() {
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
}
be_kernel_umount() { umount "$1"; }
be_kernel_pids() { :; }
