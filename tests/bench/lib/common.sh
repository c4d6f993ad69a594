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
B_CHILD=""      # the workload command running now (see run_fg)
B_SCAN_MNTS=()  # mountpoints a backend daemon may serve (PIDs looked up at cleanup)

# The harness's own stderr (the terminal) is kept as fd 3 so that messages
# from a trap reach it even while a command's output goes to bench.log.
# Backends start their daemons with fd 3 closed (they outlive the harness),
# on the daemon's command only: the harness itself, and a trap that runs
# while a command waits, always have it.
exec 3>&2
say() { printf 'bench: [%3ds] %s\n' "$SECONDS" "$*" >&3; }
B_DIED=0
die() { printf 'bench: error: %s\n' "$*" >&3; B_DIED=1; exit 1; }

# Progress line on stderr: "[step/total] text".
B_STEP=0
B_TOTAL=0
progress() {
	printf '[%*d/%d %3ds] %s\n' "${#B_TOTAL}" "$B_STEP" "$B_TOTAL" "$SECONDS" "$*" >&3
}

# eta: "eta Ns" from the average time per step so far, or nothing.
B_T0=$SECONDS
eta() {
	local done=$1 total=$2 spent=$((SECONDS - B_T0))
	[ "$done" -gt 0 ] && [ "$done" -lt "$total" ] || return 0
	printf ' (eta %dm%02ds)' $((spent * (total - done) / done / 60)) $((spent * (total - done) / done % 60))
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
# PIDs are kept as PID:STARTTIME so that cleanup never signals a process
# that merely reuses the number of one of ours that has exited.
_starttime() { { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat"; } 2>/dev/null; }
track_pid() { B_PIDS+=("$1:$(_starttime "$1")"); }
# ours_alive PID:STARTTIME: that very process still exists.
ours_alive() { [ -n "${1#*:}" ] && [ "$(_starttime "${1%%:*}")" = "${1#*:}" ]; }
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

# run_fg CMD...: run CMD as if in the foreground, but interruptibly.  Bash
# runs a trap only once a foreground command has finished; a command waited
# for with `wait` is interrupted at once, and bench_cleanup then ends it
# (B_CHILD and its descendants), so Ctrl-C never waits for a 10 s fio run.
run_fg() {
	local rc=0
	"$@" &
	B_CHILD=$!
	wait "$B_CHILD" || rc=$?
	B_CHILD=""
	return "$rc"
}

# descendants PID: PID's children, grandchildren..., deepest last.
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# kill_tree PID: end PID and everything it started that is still its
# descendant (SIGTERM, then SIGKILL after 2 s).
kill_tree() {
	local p all
	all="$1 $(descendants "$1")"
	for p in $all; do kill -STOP "$p" 2>/dev/null; done
	for p in $all; do kill -TERM "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
	for p in $all; do wait_gone "$p" 20 || kill -KILL "$p" 2>/dev/null; done
	wait "$1" 2>/dev/null
	return 0
}

_b_unmount() {
	fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}

bench_cleanup() {
	local rc=$? m i p l z dev c be
	set +e
	trap - EXIT INT TERM
	trap '' INT TERM
	exec 2>&3
	# A command that failed under set -e, without a message of ours.
	if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ "$B_DIED" = 0 ]; then
		say "error: a command failed (status $rc); see ${B_LOG:-the log}"
	fi
	# The workload that was running, and whatever it started (fio, make, runc).
	[ -n "$B_CHILD" ] && kill_tree "$B_CHILD"
	for c in "${B_CONTAINERS[@]}"; do runc delete -f "$c" >/dev/null 2>&1; done
	# Daemons that may not be registered yet (interrupted right after a mount).
	for m in "${B_SCAN_MNTS[@]}"; do
		for be in "${RUNNABLE[@]}"; do
			for p in $(be_call pids "$be" "$m" 2>/dev/null); do track_pid "$p"; done
		done
	done
	for ((i = ${#B_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${B_MOUNTS[$i]}
		is_mounted "$m" && { say "unmounting $m"; _b_unmount "$m"; }
	done
	# Anything else still mounted under the work dir, deepest first.
	if [ -n "${B_WORK:-}" ]; then
		findmnt -rn -o TARGET | grep -F "$B_WORK/" | sort -r | while read -r m; do
			say "unmounting $m"
			_b_unmount "$m"
		done
	fi
	for p in "${B_PIDS[@]}"; do
		if ours_alive "$p"; then
			kill "${p%%:*}" 2>/dev/null
			wait_gone "${p%%:*}" 20 || { ours_alive "$p" && kill -9 "${p%%:*}" 2>/dev/null; }
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
	trap 'say "interrupted, cleaning up" || :; exit 130' INT TERM
}
