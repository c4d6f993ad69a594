# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: the workloads.  Each workload WL has a function wl_WL MNT BE
# that runs on a freshly mounted, empty-upper overlay and calls `record
# METRIC VALUE` for what it measured; it fails (non-zero) when a command
# fails.  Mounting and unmounting are timed by the runner (workload "mount").
# B_METRIC_INFO: metric|workload|label|unit|better (lower or higher).

B_WORKLOADS="mount start walk-warm walk-cold read-warm read-cold fio-seqread fio-randread fio-randwrite untar copyup smallfiles build"
B_METRIC_INFO="mount|mount|mount|s|lower
umount|mount|unmount|s|lower
start|start|runc run /bin/true|s|lower
walk_warm|walk-warm|tree walk+stat, warm|s|lower
walk_cold|walk-cold|tree walk+stat, cold|s|lower
rss|walk-cold|daemon RSS after walk|MiB|lower
read_warm|read-warm|read all files, warm|s|lower
read_cold|read-cold|read all files, cold|s|lower
fio_seqread|fio-seqread|fio seq read 1M, cold|MiB/s|higher
fio_randread|fio-randread|fio rand read 4k, cold|IOPS|higher
fio_randwrite|fio-randwrite|fio rand write 4k, upper|IOPS|higher
untar|untar|untar rootfs into mount|s|lower
copyup|copyup|chmod lower files (copy-up)|s|lower
create|smallfiles|create small files|s|lower
unlink|smallfiles|unlink small files|s|lower
build|build|build C project|s|lower"

metrics_of() { # WORKLOAD -> metric ids
	awk -F'|' -v w="$1" '$2 == w { print $1 }' <<<"$B_METRIC_INFO"
}

# timed CMD...: run CMD (output to the log), interruptibly (run_fg); sets T
# (seconds) on success.
timed() {
	local t0 t1
	t0=$(now)
	run_fg "$@" >>"$B_LOG" 2>&1 || return 1
	t1=$(now)
	T=$(elapsed "$t0" "$t1")
}

_walk() { find "$1" -xdev -printf '%i %s %m %U\n' >/dev/null; }
_read_all() { find "$1" -xdev -type f -print0 | xargs -0 -r cat >/dev/null; }

wl_walk_warm() { _walk "$1" && timed _walk "$1" && record walk_warm "$T"; }
wl_walk_cold() {
	local p kb=0
	drop_caches
	timed _walk "$1" && record walk_cold "$T" || return 1
	if [ -z "$B_CUR_PIDS" ]; then
		record_na rss "in kernel"
		return 0
	fi
	for p in $B_CUR_PIDS; do
		kb=$((kb + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
	done
	record rss "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
}
wl_read_warm() { _read_all "$1" && timed _read_all "$1" && record read_warm "$T"; }
wl_read_cold() { drop_caches && timed _read_all "$1" && record read_cold "$T"; }

_fio() { # OUTPUT.json FIO-ARGS...
	local out=$1
	shift
	run_fg fio --output-format=json --output="$out" --ioengine=io_uring "$@" >>"$B_LOG" 2>&1
}
wl_fio_seqread() {
	local j=$B_WORK/fio.json
	drop_caches
	_fio "$j" --name=seqread --filename="$1/bench/fio.dat" --readonly --rw=read \
		--bs=1M --iodepth=8 --size="$P_FIO_SIZE" || return 1
	record fio_seqread "$(jq '.jobs[0].read.bw_bytes / 1048576' "$j")"
}
wl_fio_randread() {
	local j=$B_WORK/fio.json
	drop_caches
	_fio "$j" --name=randread --filename="$1/bench/fio.dat" --readonly --rw=randread \
		--bs=4k --iodepth=16 --size="$P_FIO_SIZE" --runtime="$P_FIO_RUNTIME" --time_based || return 1
	record fio_randread "$(jq '.jobs[0].read.iops' "$j")"
}
wl_fio_randwrite() {
	local j=$B_WORK/fio.json
	_fio "$j" --name=randwrite --filename="$1/bench-randwrite.dat" --rw=randwrite \
		--bs=4k --iodepth=16 --size="$P_FIO_WSIZE" --runtime="$P_FIO_RUNTIME" --time_based \
		--fallocate=none --end_fsync=1 || return 1
	record fio_randwrite "$(jq '.jobs[0].write.iops' "$j")"
}

_untar() {
	mkdir "$1/bench-untar" &&
		tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$B_IMAGE_TAR" -C "$1/bench-untar" &&
		sync
}
wl_untar() { timed _untar "$1" && record untar "$T"; }

_chmod_list() { (cd "$1" && xargs -0 -r chmod g+w <"$B_STORE/copyup.list"); }
wl_copyup() { timed _chmod_list "$1" && record copyup "$T"; }

_create() {
	mkdir "$1/bench-small" &&
		head -c $((P_SMALL_N * 1024)) /dev/zero | (cd "$1/bench-small" && split -b 1024 -a 6 -d - f)
}
wl_smallfiles() {
	timed _create "$1" && record create "$T" &&
		timed rm -rf "$1/bench-small" && record unlink "$T"
}

wl_build() { timed make -s -C "$1/bench/cproj" -j"$(nproc)" CC=gcc && record build "$T"; }

wl_start() {
	local k id
	for ((k = 1; k <= P_START_K; k++)); do
		id=strata-bench-$$-$B_STEP-$k
		B_CONTAINERS+=("$id")
		timed runc run --bundle "$B_WORK/bundle" "$id" </dev/null && record start "$T" || return 1
	done
}

# The runc bundle: rootfs is the bench mountpoint, process /bin/true.
runc_bundle_setup() { # MNT
	local b=$B_WORK/bundle
	mkdir -p "$b"
	(cd "$b" && runc spec) || die "runc spec failed"
	jq --arg r "$1" '.process.terminal = false | .process.args = ["/bin/true"]
		| .root.path = $r | .root.readonly = false' "$b/config.json" >"$b/config.new" &&
		mv "$b/config.new" "$b/config.json"
}
