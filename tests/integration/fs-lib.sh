# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the strata-fuse scripts (3NN-fs-*.sh), after lib.sh.

need_root
need_cmd fusermount3 mountpoint
[ -e /dev/fuse ] || skip "/dev/fuse is missing"
command -v strata-fuse >/dev/null 2>&1 || fail "strata-fuse not built"

# strata_mount OPTIONS MNT: run strata-fuse in the foreground (so that its
# PID is known and cleanup can end it) and wait until the mount is up.
strata_mount() {
	strata-fuse -f -o "$1" "$2" 2>>"$TEST_TMP/strata-fuse.log" &
	_fs_pid=$!
	track_pid "$_fs_pid"
	track_mount "$2"
	for _ in $(seq 100); do
		grep -q " $2 fuse.strata " /proc/mounts && return 0
		kill -0 "$_fs_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$TEST_TMP/strata-fuse.log" >&2
	fail "strata-fuse did not mount $2"
}

# strata_umount MNT: unmount and wait for the daemon to exit cleanly.
strata_umount() {
	fusermount3 -u "$1" || fail "fusermount3 -u $1 failed"
	for _ in $(seq 100); do
		kill -0 "$_fs_pid" 2>/dev/null || break
		sleep 0.05
	done
	wait "$_fs_pid" || {
		_rc=$?
		tail -n 40 "$TEST_TMP/strata-fuse.log" >&2
		fail "strata-fuse exited with $_rc"
	}
}

# smount IMAGE MNT [ARGS...]: `strata mount` (a store-backed container),
# registering the mount and its daemon for cleanup.
smount() {
	_img=$1 _mnt=$2
	shift 2
	mkdir -p "$_mnt"
	track_mount "$_mnt"
	strata mount "$@" "$_img" "$_mnt" >"$TEST_TMP/mount.out" 2>"$TEST_TMP/mount.err" || {
		cat "$TEST_TMP/mount.err" >&2
		fail "strata mount $_img $_mnt failed"
	}
	assert_eq "$(cat "$TEST_TMP/mount.out")" "$_mnt" "strata mount output"
	grep -q " $_mnt fuse.strata " /proc/mounts || fail "$_mnt is not mounted"
	_dpid=$(daemon_pids "$_mnt")
	[ -n "$_dpid" ] || fail "no strata-fuse daemon for $_mnt"
	for _p in $_dpid; do track_pid "$_p"; done
}

# sumount MNT: strata umount and wait for the daemon to exit.
sumount() {
	_dpid=$(daemon_pids "$1")
	expect_ok strata umount "$1"
	grep -q " $1 " /proc/mounts && fail "$1 still mounted"
	for _p in $_dpid; do wait_gone "$_p" || fail "strata-fuse $_p did not exit"; done
}

# kernel_mount LOWERS UPPER WORK MNT
kernel_mount() {
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" ||
		skip "kernel overlayfs cannot mount here"
	track_mount "$4"
}

fsdiff_bin() {
	echo "$STRATA_BUILDDIR/tests/integration/fsdiff"
}

# daemon_pids MNT: PIDs of strata-fuse processes serving MNT (found by
# their command line, which names MNT: unique per test directory).  For
# daemons started by mount(8) or mount.strata, whose PID nobody returns.
daemon_pids() {
	for _p in /proc/[0-9]*; do
		_c=$(tr '\0' ' ' 2>/dev/null < "$_p/cmdline") || continue
		case $_c in
		strata-fuse*" $1 "*|*/strata-fuse*" $1 "*) echo "${_p#/proc/}" ;;
		esac
	done
}

# wait_gone PID: wait up to 5 s for a process to exit.
wait_gone() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}
