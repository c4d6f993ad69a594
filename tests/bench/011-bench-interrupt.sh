#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Interrupting `strata bench` mid-run: SIGINT or SIGTERM sent to its PID
# alone while a workload runs on a FUSE mount (the harness must not wait for
# the workload to finish on its own), and SIGINT to its whole process group
# as a terminal's Ctrl-C does.  Afterwards nothing it mounted is mounted, no
# process it started is left (workload processes, FUSE daemons, runc
# containers), its loop device is detached and its work directory is gone.
. "$(dirname "$0")/../integration/lib.sh"

need_root
need_cmd strata fio runc gnuplot jq gcc make fuse-overlayfs fusermount3 mkfs.ext4 setfattr losetup
[ -c /dev/fuse ] || skip "no /dev/fuse"
grep -qw overlay /proc/filesystems || skip "no kernel overlayfs"

# PIDs of processes whose command line mentions STRING (but this search).
pids_mentioning() {
	ps -e -o pid=,args= | awk -v w="$1" -v me="$$" 'index($0, w) && $1 != me && $2 != "awk" { print $1 }'
}
# PIDs in session SID (everything the run started that did not setsid).
pids_in_session() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }
# PIDs in session SID running COMM with STRING on the command line.
pids_busy() { # SID COMM STRING
	ps -e -o pid=,sid=,comm=,args= | awk -v s="$1" -v c="$2" -v w="$3" '$2 == s && $3 == c && index($0, w) { print $1 }'
}

# stop_run PID: end a run that is still going (only the one we started and
# have not waited for yet: $running), giving it 30 s to clean up.
running=""
stop_run() {
	[ -n "$running" ] && [ "$running" = "$1" ] || return 0
	kill -s TERM "$1" 2>/dev/null || return 0
	n=0
	while kill -0 "$1" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
	kill -s KILL "$1" 2>/dev/null
	return 0
}

# interrupt NAME SIGNAL TARGET(pid|group) WORKLOAD BACKENDS STORE
# With wl_comm set, signal while a process named wl_comm works on the
# mount; with wl_comm empty, $delay seconds after the third measurement.
interrupt() {
	name=$1 sig=$2 target=$3 wl=$4 backends=$5 store=$6
	o=$TEST_TMP/$name
	say "$name: SIG$sig to the $target during $wl ($backends, store on $store)"
	# setsid: a session of its own (its PID is the session and group id);
	# default signal dispositions, as a command started from a terminal has.
	setsid env --default-signal=INT,TERM strata bench --short --runs 50 --workloads "$wl" \
		--backends "$backends" --store-on "$store" --out "$o" >/dev/null 2>"$o.progress" &
	pid=$!
	running=$pid
	# If this test fails half-way: SIGTERM, with time to clean up.
	on_cleanup "stop_run $pid"
	# Wait until a workload process runs on a live mount under the work dir.
	i=0 work="" busy=""
	while :; do
		i=$((i + 1))
		[ "$i" -lt 1200 ] || { cat "$o.progress" >&2; fail "$name: no workload seen running"; }
		kill -0 "$pid" 2>/dev/null || { cat "$o.progress" >&2; fail "$name: the run ended early"; }
		[ -n "$work" ] || work=$(sed -n 's/.*work dir \([^ ,]*\).*/\1/p' "$o.progress" | head -n1)
		if [ -z "$wl_comm" ]; then
			# Any moment after a few mount cycles (DELAY: sleep first).
			if [ -n "$work" ] && grep -q '^\[ *3/' "$o.progress"; then
				sleep "$delay"
				break
			fi
		elif [ -n "$work" ] && grep -q " $work/mnt fuse" /proc/mounts; then
			busy=$(pids_busy "$pid" "$wl_comm" "$work/mnt")
			[ -n "$busy" ] && break
		fi
		sleep 0.02
	done
	# Everything it started that we can see now: its session, the FUSE
	# daemons (they leave the session when they daemonize) and the workload.
	started="$(pids_in_session "$pid") $(pids_mentioning "$work") $busy"
	t0=$(date +%s)
	if [ "$target" = group ]; then kill -s "$sig" -- "-$pid"; else kill -s "$sig" "$pid"; fi
	rc=0
	wait "$pid" || rc=$?
	running=""
	t=$(($(date +%s) - t0))
	if [ "$rc" != 130 ]; then
		tail -n 20 "$o.progress" >&2
		tail -n 20 "$o/bench.log" >&2 2>/dev/null
		fail "$name: exit status $rc, expected 130"
	fi
	# The workload (up to 1 s of fio here) is ended, not waited for.
	[ "$t" -le 10 ] || fail "$name: took ${t}s to stop"
	grep -q "interrupted, cleaning up" "$o.progress" || fail "$name: no 'interrupted' message"
	if grep -qF "$work" /proc/mounts; then grep -F "$work" /proc/mounts >&2; fail "$name: mounts left under $work"; fi
	[ ! -e "$work" ] || fail "$name: $work was not removed"
	left=""
	for p in $started; do
		[ "$p" = "$pid" ] && continue
		kill -0 "$p" 2>/dev/null && left="$left $p($(cat /proc/"$p"/comm 2>/dev/null))"
	done
	[ -z "$left" ] || fail "$name: processes it started are still running:$left"
	left=$(pids_mentioning "$work")
	[ -z "$left" ] || fail "$name: processes still use $work: $left"
	[ -z "$(pids_in_session "$pid")" ] || fail "$name: processes left in its session"
	if runc list -q 2>/dev/null | grep -q "^strata-bench-$pid-"; then fail "$name: runc containers left"; fi
	# The daemon PIDs it logged are gone too.
	for p in $(sed -n 's/^bench: .* daemon pid(s): //p' "$o/bench.log"); do
		kill -0 "$p" 2>/dev/null && grep -qF "$work" "/proc/$p/cmdline" 2>/dev/null &&
			fail "$name: daemon $p is still running"
	done
	if [ "$store" = tmpfs-loop ]; then
		img=$(sed -n 's/.* over \(\/dev\/shm\/[^ ,]*\) on tmpfs.*/\1/p' "$o.progress" | head -n1)
		[ -n "$img" ] || fail "$name: the harness did not name its loop image"
		[ -z "$(losetup -j "$img" 2>/dev/null)" ] || fail "$name: loop device over $img still attached"
		[ ! -e "$img" ] || fail "$name: $img was not removed"
	fi
	return 0
}

wl_comm="fio"
interrupt sigint-strata INT pid fio-randread strata tmpfs-loop
interrupt sigterm-fuse-overlayfs TERM pid fio-randwrite fuse-overlayfs,kernel file
wl_comm="find"
interrupt ctrl-c-group INT group walk-cold kernel,fuse-overlayfs,strata file
# Ctrl-C at any moment of mount/unmount cycles, also while a FUSE daemon's
# helper process (which catches SIGINT itself) runs in the foreground.
wl_comm=""
for delay in 0 0.03; do
	interrupt "ctrl-c-mount-$delay" INT group mount strata,fuse-overlayfs file
done
say "ok"
