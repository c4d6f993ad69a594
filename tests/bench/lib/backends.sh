# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: backend plug-ins.  Each backend NAME lives in backend-NAME.sh
# and defines, with ID = NAME with '-' turned into '_':
#   be_ID_check                  print why it cannot run and fail, or succeed
#   be_ID_version                one line for the report
#   be_ID_mount LOWERS UPPER WORK MNT   LOWERS = top:...:bottom; mounted on return
#   be_ID_umount MNT             unmounted on return (the runner then waits,
#                                untimed, for the daemon PIDs to exit)
#   be_ID_pids MNT               PIDs of the daemon serving MNT (none: in kernel)
# and may define
#   be_ID_setup                  once, untimed, after the image and the data
#                                layer are in place (in the harness's shell);
#                                fails with the reason as the last line
#   be_ID_label                  column title in tables, report and plots
#                                (default NAME), e.g. to say what it reads
#   be_ID_note                   one sentence for the report's method section
# Lowers, upper and work dirs are host directories on the bench store.

B_ALL_BACKENDS="kernel fuse-overlayfs strata strata-store"

be_id() { printf '%s' "${1//-/_}"; }
be_call() { # OP BACKEND ARGS...
	local op=$1 be=$2
	shift 2
	"be_$(be_id "$be")_$op" "$@"
}

be_label() { # BACKEND -> column title
	if declare -F "be_$(be_id "$1")_label" >/dev/null; then
		be_call label "$1"
	else
		printf '%s' "$1"
	fi
}
be_note() { # BACKEND -> a sentence, or nothing
	declare -F "be_$(be_id "$1")_note" >/dev/null && be_call note "$1"
	return 0
}

be_load() { # BACKEND
	local f="$B_LIB/backend-$1.sh"
	[ -f "$f" ] || die "unknown backend '$1' (known: $B_ALL_BACKENDS)"
	# shellcheck source=/dev/null
	. "$f"
}

# Daemons fork into the background, so we find them by their (unique,
# per-run) mountpoint on the command line and their executable name.
fuse_daemon_pids() { # COMM MNT
	local d comm args a
	for d in /proc/[0-9]*; do
		{ read -r comm <"$d/comm"; } 2>/dev/null || continue
		[ "$comm" = "$1" ] || continue
		{ mapfile -d '' args <"$d/cmdline"; } 2>/dev/null || continue
		for a in "${args[@]}"; do
			[ "$a" = "$2" ] && { echo "${d#/proc/}"; break; }
		done
	done
	# (Not the status of the last comparison: other daemons of the same
	# name, with higher PIDs, are no failure.)
	return 0
}

# wait_mounted MNT [TENTHS]: for daemons that may return before the mount.
wait_mounted() {
	local n=${2:-100}
	until is_mounted "$1"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.01
	done
}

fuse_umount() { fusermount3 -u "$1"; }
