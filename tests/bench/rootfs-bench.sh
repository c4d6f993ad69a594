#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: compare rootfs backends (kernel overlayfs, fuse-overlayfs,
# strata) on the same image and store.  Run as `strata bench` or directly;
# see strata-bench(1).  Needs root, fio, runc, gnuplot, jq, gcc, make.
set -eu -o pipefail

B_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
B_COMMAND="strata bench $*"

usage() {
	cat <<'USAGE'
usage: strata bench [--short|--full] [--image IMAGE] [--backends LIST]
                    [--store-on file|tmpfs-loop|zram|DEVICE] [--store-size SIZE]
                    [--runs N] [--workloads LIST] [--out DIR] [--force]
  --short            seconds-long smoke run on a tiny image (for CI)
  --full             the real benchmark (default)
  --image IMAGE      tiny, minbase, ROOTFS.tar or OCI-LAYOUT[:TAG]
  --backends LIST    comma-separated: kernel,fuse-overlayfs,strata,strata-store
                     (default all)
  --store-on KIND    where the lower, upper and work dirs of every backend live
                     (default file; strata reads the same dirs, strata-store
                     its store, a file there)
  --store-size SIZE  size of the store device (default 512M short, 6G full)
  --runs N           runs per workload and backend (default 1 short, 3 full)
  --workloads LIST   comma-separated subset of the workloads
  --out DIR          report directory (default ./strata-bench-DATE)
  --force            erase DEVICE without asking
USAGE
}

B_MODE=full B_IMAGE="" B_BACKEND_LIST=kernel,fuse-overlayfs,strata,strata-store B_STORE_KIND=file
B_STORE_SIZE="" B_RUNS="" B_OUT="" B_FORCE=0 B_WL_LIST=""
while [ $# -gt 0 ]; do
	case $1 in
	--short) B_MODE=short ;;
	--full) B_MODE=full ;;
	--image) B_IMAGE=${2:?--image needs a value}; shift ;;
	--backends) B_BACKEND_LIST=${2:?--backends needs a value}; shift ;;
	--store-on) B_STORE_KIND=${2:?--store-on needs a value}; shift ;;
	--store-size) B_STORE_SIZE=${2:?--store-size needs a value}; shift ;;
	--runs) B_RUNS=${2:?--runs needs a value}; shift ;;
	--workloads) B_WL_LIST=${2:?--workloads needs a value}; shift ;;
	--out) B_OUT=${2:?--out needs a value}; shift ;;
	--force) B_FORCE=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

for f in common store backends image cproj workloads stats machine report plot; do
	# shellcheck source=/dev/null
	. "$B_LIB/$f.sh"
done
# tests/lib/images.sh: next to tests/bench in the source tree, or installed in lib/.
for f in "$B_LIB/images.sh" "$B_LIB/../../lib/images.sh"; do
	[ -f "$f" ] && { . "$f"; break; }
done
command -v image_tiny_tar >/dev/null || die "cannot find images.sh"

[ "$(id -u)" = 0 ] || die "must run as root (mounts, drop_caches, runc)"
for c in fio runc gnuplot jq gcc make mkfs.ext4 fusermount3 setfattr; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed (scripts/setup-deps.sh installs it)"
done
case $B_RUNS in '' | *[!0-9]*) [ -z "$B_RUNS" ] || die "--runs: not a number: $B_RUNS" ;; esac

# Sizes per mode: P_* are read by the workloads and the data layer.
if [ "$B_MODE" = short ]; then
	: "${B_IMAGE:=tiny}" "${B_RUNS:=1}" "${B_STORE_SIZE:=512M}"
	P_FIO_SIZE=16M P_FIO_WSIZE=8M P_FIO_RUNTIME=1 P_SMALL_N=300 P_CPROJ_N=6 P_COPYUP_N=50 P_START_K=1
	P_REAP_WAIT=0
else
	: "${B_IMAGE:=minbase}" "${B_RUNS:=3}" "${B_STORE_SIZE:=6G}"
	P_FIO_SIZE=1G P_FIO_WSIZE=256M P_FIO_RUNTIME=10 P_SMALL_N=10000 P_CPROJ_N=100 P_COPYUP_N=2000 P_START_K=3
	P_REAP_WAIT=100
fi
[ "$B_RUNS" -ge 1 ] || die "--runs must be at least 1"
: "${B_OUT:=$PWD/strata-bench-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$B_OUT"
B_OUT=$(cd "$B_OUT" && pwd)
B_LOG=$B_OUT/bench.log B_RESULTS=$B_OUT/results.csv
: >"$B_LOG"

IFS=, read -r -a B_BACKENDS <<<"$B_BACKEND_LIST"
# Kernel overlayfs first: it is the column every ratio refers to.
if [[ " ${B_BACKENDS[*]} " == *" kernel "* ]]; then
	others=()
	for be in "${B_BACKENDS[@]}"; do [ "$be" = kernel ] || others+=("$be"); done
	B_BACKENDS=(kernel "${others[@]}")
fi
IFS=, read -r -a WLS <<<"${B_WL_LIST:-${B_WORKLOADS// /,}}"
for w in "${WLS[@]}"; do
	[ -n "$(metrics_of "$w")" ] || die "unknown workload '$w' (known: $B_WORKLOADS)"
done
RUNNABLE=()
results_init
for be in "${B_BACKENDS[@]}"; do
	be_load "$be"
	if why=$(be_call check "$be"); then
		RUNNABLE+=("$be")
	else
		say "$be: $why"
		B_BE=$be B_RUN=0
		for w in "${WLS[@]}"; do
			B_WL=$w
			for m in $(metrics_of "$w"); do record_unavailable "$m" "$why"; done
		done
	fi
done

bench_traps
B_WORK=$(mktemp -d /var/tmp/strata-bench.XXXXXX)
B_FILES+=("$B_WORK")
say "mode $B_MODE, image $B_IMAGE, store on $B_STORE_KIND, $B_RUNS run(s), backends: ${RUNNABLE[*]:-none}"
say "setting up the store and the image (work dir $B_WORK, log $B_LOG)"
store_setup "$B_STORE_KIND" "$B_STORE_SIZE" "$B_WORK"
say "store: $B_STORE_DESC"
image_setup "$B_IMAGE" "$B_STORE"
data_layer_setup "$B_STORE"
B_LOWERS_DESC="$(tr ':' '\n' <<<"$B_LOWERS" | wc -l) directories (bench data layer on top of the image)"
# Backends with a setup of their own (untimed; strata-store imports the
# image into a strata store).  Run in this shell: it sets their state.
ready=()
for be in "${RUNNABLE[@]}"; do
	if declare -F "be_$(be_id "$be")_setup" >/dev/null; then
		say "$be: setting up"
		if ! be_call setup "$be" >"$B_WORK/setup.msg" 2>&1; then
			why="setup failed: $(tail -n1 "$B_WORK/setup.msg")"
			say "$be: $why"
			B_BE=$be B_RUN=0
			for w in "${WLS[@]}"; do
				B_WL=$w
				for m in $(metrics_of "$w"); do record_unavailable "$m" "$why"; done
			done
			continue
		fi
	fi
	ready+=("$be")
done
RUNNABLE=("${ready[@]}")
MNT=$B_WORK/mnt
mkdir -p "$MNT"
B_SCAN_MNTS+=("$MNT")
runc_bundle_setup "$MNT"
sync

# One measurement: fresh upper, mount (timed), workload, unmount (timed).
# Every measurement mounts afresh, so a FUSE backend also starts a new
# daemon: cold runs then drop caches, and neither the kernel's per-mount
# page cache of a FUSE filesystem nor the daemon's own caches survive.
# Daemons exit by themselves after the unmount (it takes a FUSE daemon a
# second or two here); the full mode waits for that before the next
# measurement, the short mode checks on them later (B_EXITING).
B_EXITING=()
reap_daemons() { # WAIT-TENTHS: forget daemons that exited, wait or end the others
	local p left=()
	for p in "${B_EXITING[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		if [ "$1" -gt 0 ] && ! wait_gone "$p" "$1"; then
			echo "bench: daemon $p did not exit after its unmount: ending it" >>"$B_LOG"
			kill "$p" 2>/dev/null
			wait_gone "$p" 20 || kill -9 "$p" 2>/dev/null
		elif [ "$1" = 0 ]; then
			left+=("$p")
		fi
	done
	B_EXITING=("${left[@]}")
}

run_cycle() { # WORKLOAD RUN BACKEND
	local w=$1 up=$B_STORE/cycle/upper wk=$B_STORE/cycle/work t0 t1 pid m rc=0
	B_WL=$w B_RUN=$2 B_BE=$3 B_NOTE=""
	reap_daemons "$P_REAP_WAIT"
	rm -rf "$B_STORE/cycle"
	mkdir -p "$up" "$wk"
	echo "== $w run $2 $3" >>"$B_LOG"
	track_mount "$MNT"
	t0=$(now)
	# run_fg: a FUSE daemon's helper process catches SIGINT (libfuse) and
	# exits normally, and bash then ignores a Ctrl-C it received while
	# waiting for a foreground command; `wait` is interrupted instead.
	if ! run_fg be_call mount "$3" "$B_LOWERS" "$up" "$wk" "$MNT" >>"$B_LOG" 2>&1; then
		for m in $(metrics_of "$w"); do record_failed "$m" "mount failed (see bench.log)"; done
		is_mounted "$MNT" && _b_unmount "$MNT"
		untrack_mount "$MNT"
		progress "$w run $2 $3: mount FAILED"
		return 0
	fi
	t1=$(now)
	B_CUR_PIDS=$(be_call pids "$3" "$MNT") || B_CUR_PIDS=""
	for pid in $B_CUR_PIDS; do track_pid "$pid"; done
	[ -z "$B_CUR_PIDS" ] || echo "bench: $3 daemon pid(s): $B_CUR_PIDS" >>"$B_LOG"
	if [ "$w" = mount ]; then
		record mount "$(elapsed "$t0" "$t1")"
	else
		"wl_${w//-/_}" "$MNT" "$3" || rc=$?
	fi
	cd /
	t0=$(now)
	if run_fg be_call umount "$3" "$MNT" >>"$B_LOG" 2>&1; then
		t1=$(now)
		[ "$w" = mount ] && record umount "$(elapsed "$t0" "$t1")"
	else
		_b_unmount "$MNT"
		rc=1
	fi
	untrack_mount "$MNT"
	for pid in $B_CUR_PIDS; do B_EXITING+=("$pid"); done
	[ "$P_REAP_WAIT" = 0 ] || reap_daemons "$P_REAP_WAIT"
	if [ "$rc" != 0 ]; then
		for m in $(metrics_of "$w"); do
			grep -q "^$3,$w,$m,$2,[^,]*,ok," "$B_RESULTS" || record_failed "$m" "workload failed (see bench.log)"
		done
		progress "$w run $2 $3: FAILED"
	else
		progress "$w run $2/$B_RUNS $3: $B_NOTE$(eta "$B_STEP" "$B_TOTAL")"
	fi
}

B_TOTAL=$((${#WLS[@]} * B_RUNS * ${#RUNNABLE[@]}))
B_T0=$SECONDS
nb=${#RUNNABLE[@]}
for w in "${WLS[@]}"; do
	for ((r = 1; r <= B_RUNS; r++)); do
		# Alternate: run r starts with backend r-1 (mod the number of backends),
		# so no backend always runs first (or right after another) on a workload.
		for ((i = 0; i < nb; i++)); do
			B_STEP=$((B_STEP + 1))
			run_cycle "$w" "$r" "${RUNNABLE[$(((i + r - 1) % nb))]}"
		done
	done
done
reap_daemons 100

machine_info >"$B_OUT/machine.txt"
stats_summarize "$B_RESULTS" "$B_METRIC_INFO" >"$B_OUT/summary.csv"
report_table "$B_OUT/summary.csv" | tee "$B_OUT/table.txt"
report_md "$B_OUT/summary.csv" "$B_OUT/machine.txt" >"$B_OUT/report.md"
report_json "$B_RESULTS" "$B_OUT/summary.csv" "$B_OUT/machine.txt" >"$B_OUT/results.json"
plot_write "$B_OUT/summary.csv" "$B_OUT" >>"$B_LOG" 2>&1 || say "plotting failed (see $B_LOG)"
say "report: $B_OUT/report.md"
