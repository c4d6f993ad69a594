# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: logging, progress, timing and the cleanup registry.
# Everything the harness mounts, attaches or starts is registered here and
# undone by bench_cleanup (EXIT, INT, TERM), newest mount first.  Processes
# are ended by PID only.

B_MOUNTS=()     # mountpoints, newest last
B_PIDS=()       # daemon PIDs found for our own (unique) mountpoints
B_LOOPS=()      # loop devices we attached
B_ZRAMS=()      # zram devices we configured ("dev:hot" when we hot-added it)
B_FILES=()      # files/dirs to remove last
B_CONTAINERS=() # runc container ids that may still exist

say() { printf 'bench: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Progress line on stderr: "[step/total] text".
B_STEP=0
B_TOTAL=0
progress() {
	printf '[%*d/%d %3ds] %s\n' "${#B_TOTAL}" "$B_STEP" "$B_TOTAL" "$SECONDS" "$*" >&2
}

# Seconds since the epoch with microseconds, without forking.
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# elapsed T0 T1 -> seconds, 6 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

track_mount() { B_MOUNTS+=("$1"); }
untrack_mount() {
	local i
	for i in "${!B_MOUNTS[@]}"; do
		[ "${B_MOUNTS[$i]}" = "$1" ] && unset 'B_MOUNTS[i]'
	done
	B_MOUNTS=("${B_MOUNTS[@]}")
}
track_pid() { B_PIDS+=("$1"); }
is_mounted() { findmnt -rn --mountpoint "$1" >/dev/null 2>&1; }

# wait_gone PID [TENTHS]: wait until PID has exited.
wait_gone() {
	local n=${2:-100}
	while [ "$n" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	! kill -0 "$1" 2>/dev/null
}

_b_unmount() {
	fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}

bench_cleanup() {
	local rc=$? m i p l z dev
	set +e
	trap - EXIT INT TERM
	for c in "${B_CONTAINERS[@]}"; do runc delete -f "$c" >/dev/null 2>&1; done
	for ((i = ${#B_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${B_MOUNTS[$i]}
		is_mounted "$m" && { say "unmounting $m"; _b_unmount "$m"; }
	done
	for p in "${B_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null
			wait_gone "$p" 20 || kill -9 "$p" 2>/dev/null
		fi
	done
	for l in "${B_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	for z in "${B_ZRAMS[@]}"; do
		dev=${z%%:*}
		echo 1 >"/sys/block/$dev/reset" 2>/dev/null
		[ "${z#*:}" = hot ] && echo "${dev#zram}" >/sys/class/zram-control/hot_remove 2>/dev/null
	done
	for f in "${B_FILES[@]}"; do rm -rf --one-file-system "$f"; done
	exit "$rc"
}

bench_traps() {
	trap bench_cleanup EXIT
	trap 'say "interrupted, cleaning up"; exit 130' INT TERM
}
