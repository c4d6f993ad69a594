# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the integration scripts: `. "$(dirname "$0")/lib.sh"`.
# Everything a script mounts, starts or attaches is registered here and torn
# down by the EXIT trap, also when the script fails half-way.  Processes are
# ended by PID only.
set -eu

TEST_NAME=$(basename "$0" .sh)
: "${STRATA_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${STRATA_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
PATH="$STRATA_BUILDDIR/tools:$STRATA_BUILDDIR:$PATH"
export PATH STRATA_BUILDDIR STRATA_SRCDIR

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-$TEST_NAME.XXXXXX")
# Each test gets a private state directory so that nothing touches /var/lib/strata.
STRATA_STATE_DIR="$TEST_TMP/state"
export STRATA_STATE_DIR
mkdir -p "$STRATA_STATE_DIR"

_lib_mounts=""
_lib_pids=""
_lib_loops=""
_lib_zrams=""
_lib_netns=""
_lib_cleanups=""

# Register things to undo.  Mounts are undone newest first.
track_mount() { _lib_mounts="$1 $_lib_mounts"; }
track_pid() { _lib_pids="$_lib_pids $1"; }
track_loop() { _lib_loops="$_lib_loops $1"; }
track_zram() { _lib_zrams="$_lib_zrams $1"; }
track_netns() { _lib_netns="$_lib_netns $1"; }
# Run an arbitrary command at cleanup (quoted as one string).
on_cleanup() { _lib_cleanups="$1;$_lib_cleanups"; }

_lib_cleanup() {
	rc=$?
	set +e
	[ -n "$_lib_cleanups" ] && eval "$_lib_cleanups" >/dev/null 2>&1
	for m in $_lib_mounts; do
		if mountpoint -q "$m" 2>/dev/null || grep -q " $m " /proc/mounts 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		fi
	done
	for p in $_lib_pids; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null
			for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
			kill -9 "$p" 2>/dev/null
		fi
	done
	for l in $_lib_loops; do losetup -d "$l" 2>/dev/null; done
	for z in $_lib_zrams; do
		echo 1 > "/sys/block/$(basename "$z")/reset" 2>/dev/null
		[ -w /sys/class/zram-control/hot_remove ] &&
			echo "${z#/dev/zram}" > /sys/class/zram-control/hot_remove 2>/dev/null
	done
	for n in $_lib_netns; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TEST_TMP"
	exit $rc
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
fail() { printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
# Exit 77 (automake SKIP) with the reason; only for a truly missing prerequisite.
skip() { printf '%s: SKIP: %s\n' "$TEST_NAME" "$*"; exit 77; }
need_cmd() { for c; do command -v "$c" >/dev/null 2>&1 || skip "$c is not installed (run scripts/setup-deps.sh)"; done; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# expect_fail CMD...: the command must exit non-zero; its stderr is kept in $TEST_TMP/stderr.
expect_fail() {
	if "$@" >"$TEST_TMP/stdout" 2>"$TEST_TMP/stderr"; then
		fail "expected failure: $*"
	fi
	return 0
}
# expect_ok CMD...: the command must succeed; output in $TEST_TMP/stdout and stderr.
expect_ok() {
	"$@" >"$TEST_TMP/stdout" 2>"$TEST_TMP/stderr" || {
		cat "$TEST_TMP/stderr" >&2
		fail "command failed ($?): $*"
	}
}
# assert_grep PATTERN FILE
assert_grep() { grep -q -- "$1" "$2" || { sed 's/^/  | /' "$2" >&2; fail "'$1' not found in $2"; }; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"; }

# make_loop SIZE: a loop device over a file in $TEST_TMP with direct I/O,
# in $LOOP_DEV, detached at cleanup (not in a subshell: the cleanup list
# lives in this shell).
make_loop() {
	_f="$TEST_TMP/loop-$$-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ').img"
	truncate -s "$1" "$_f" || fail "truncate $_f"
	LOOP_DEV=$(losetup --show -f --direct-io=on "$_f") || skip "no loop device available"
	track_loop "$LOOP_DEV"
}
