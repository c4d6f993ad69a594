#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `strata bench --short`: the harness runs end to end on the tiny image and
# produces every output (table rows with numbers for kernel overlayfs and
# fuse-overlayfs, report.md, results.csv/json, plot.svg/png); the strata
# column has numbers or an explicit reason; Ctrl-C during a run leaves no
# mount, loop device or work directory behind.  Never judges the figures.
. "$(dirname "$0")/../integration/lib.sh"

need_root
need_cmd strata fio runc gnuplot jq gcc make fuse-overlayfs fusermount3 mkfs.ext4 setfattr
[ -c /dev/fuse ] || skip "no /dev/fuse"
grep -qw overlay /proc/filesystems || skip "no kernel overlayfs"

out=$TEST_TMP/out
say "strata bench --short"
strata bench --short --runs 1 --out "$out" >"$TEST_TMP/table" 2>"$TEST_TMP/progress" || {
	tail -n 30 "$TEST_TMP/progress" >&2
	fail "strata bench --short failed"
}
for f in table.txt report.md results.csv results.json summary.csv machine.txt plot.svg plot.png; do
	[ -s "$out/$f" ] || fail "$f is missing or empty"
done
head -c 8 "$out/plot.png" | od -An -c | grep -q 'P   N   G' || fail "plot.png is not a PNG"
grep -q '<svg' "$out/plot.svg" || fail "plot.svg is not an SVG"
assert_grep '^\[ *[0-9]*/[0-9]* ' "$TEST_TMP/progress"

# The terminal table: a header naming the backends, kernel first.
assert_grep '^metric  *unit  *better  *kernel  *fuse-overlayfs  *strata' "$TEST_TMP/table"
# Every metric (16 of them) has numbers for kernel and fuse-overlayfs (daemon RSS: n/a for
# the kernel), and fuse-overlayfs a ratio to kernel.
n=$(awk -F, '$2 == "kernel" || $2 == "fuse-overlayfs"' "$out/summary.csv" | wc -l)
[ "$n" -ge 32 ] || fail "summary.csv has $n kernel/fuse-overlayfs rows, expected 32"
awk -F, '
	NR == 1 || ($2 != "kernel" && $2 != "fuse-overlayfs") { next }
	$1 == "rss" && $2 == "kernel" { if ($9 !~ /^na: /) { print "kernel rss not n/a: " $0; bad = 1 } next }
	$3 < 1 || $7 != 0 || $4 !~ /^[0-9.e+-]+$/ { print "no figure: " $0; bad = 1 }
	$2 == "fuse-overlayfs" && $1 != "rss" && $8 !~ /^[0-9.]+$/ { print "no ratio: " $0; bad = 1 }
	END { exit bad }' "$out/summary.csv" >&2 || fail "missing figures in summary.csv"
# The same figures reach the terminal table: "mount" row, two numbers first.
grep '^mount ' "$TEST_TMP/table" | grep -Eq '^mount +s +lower +[0-9][0-9.e+-]* \[[^]]*\] +[0-9][0-9.e+-]* \[' ||
	fail "the mount row of the table has no numbers for kernel and fuse-overlayfs"
# strata: numbers, or a reason in the table and the report, never blanks.
if ! command -v strata-fuse >/dev/null 2>&1; then
	assert_grep 'not available: strata-fuse not built' "$TEST_TMP/table"
	assert_grep 'not available: strata-fuse not built' "$out/report.md"
fi
awk -F, '$2 == "strata" && $3 < 1 && $9 == "" { bad = 1 } END { exit bad }' "$out/summary.csv" ||
	fail "strata rows without figures and without a reason"

# report.md names the machine; results.json and results.csv hold the raw runs.
for k in cpu cores memory kernel store image; do assert_grep "^- \*\*$k\*\*: ." "$out/report.md"; done
assert_grep '^| mount | s | lower |' "$out/report.md"
jq -e '.machine.cpu and (.summary | length >= 32) and (.raw | map(select(.status == "ok")) | length >= 31)' \
	"$out/results.json" >/dev/null || fail "results.json is incomplete"
[ "$(grep -c ",ok," "$out/results.csv")" -ge 31 ] || fail "results.csv has too few results"

# Ctrl-C: interrupt a run on a loop-device store; nothing may remain.
say "interrupting a run"
# Like a terminal's Ctrl-C: SIGINT (not ignored, as it would be for a plain
# background job) to the whole process group of the run.
setsid env --default-signal=INT strata bench --short --runs 20 --store-on tmpfs-loop \
	--workloads walk-warm --backends kernel,fuse-overlayfs --out "$TEST_TMP/out2" \
	>/dev/null 2>"$TEST_TMP/progress2" &
pid=$!
track_pid "$pid"
i=0
until grep -q '^\[ *2/' "$TEST_TMP/progress2"; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the interrupted run made no progress"
	kill -0 "$pid" 2>/dev/null || { cat "$TEST_TMP/progress2" >&2; fail "the run ended early"; }
	sleep 0.1
done
work=$(sed -n 's/.*work dir \([^ ,]*\).*/\1/p' "$TEST_TMP/progress2" | head -n1)
[ -n "$work" ] || fail "the harness did not name its work dir"
kill -INT -- "-$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 130 "exit status after Ctrl-C"
if grep -qF "$work" /proc/mounts; then fail "mounts left under $work"; fi
[ ! -e "$work" ] || fail "$work was not removed"
img=$(sed -n 's/.* over \(\/dev\/shm\/[^ ,]*\) on tmpfs.*/\1/p' "$TEST_TMP/progress2" | head -n1)
[ -n "$img" ] || fail "the harness did not name its loop image"
[ -z "$(losetup -j "$img" 2>/dev/null)" ] || fail "loop device over $img still attached"
[ ! -e "$img" ] || fail "$img was not removed"
say "ok"
