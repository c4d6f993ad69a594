# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: what the results were measured on, as key=value lines, so
# that results from different machines are never mixed up.
machine_info() {
	local cpu hv mem os
	cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
	hv=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | head -n1)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	echo "host=$(uname -n)"
	echo "cpu=${cpu:-unknown}${hv:+ (virtualized: $hv)}"
	echo "cores=$(nproc)"
	echo "memory=$mem"
	echo "kernel=$(uname -r) $(uname -m)"
	echo "os=$os"
	echo "store=$B_STORE_DESC"
	echo "image=$B_IMAGE_DESC"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	local be
	for be in "${B_BACKENDS[@]}"; do
		echo "backend.$be=$(be_call version "$be" 2>/dev/null || echo '?')"
	done
	echo "fio=$(fio --version 2>/dev/null)"
	echo "runc=$(runc --version 2>/dev/null | head -n1)"
	echo "gcc=$(gcc -dumpfullversion 2>/dev/null)"
}
