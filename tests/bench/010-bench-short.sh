#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `strata bench --short`: the harness runs end to end on the tiny image and
# produces every output, complete: the terminal table, report.md (naming the
# machine), results.csv/json and plot.svg/png, with a figure for every
# workload metric and every backend (strata: figures when strata-fuse is
# built, else the reason), ratios to kernel overlayfs, progress lines, and
# backends that alternate from run to run.  Never judges the figures.
# Interrupting a run is 011-bench-interrupt.sh.
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
for f in table.txt report.md results.csv results.json summary.csv machine.txt plot.svg plot.png \
	plot.dat plot-rss.dat; do
	[ -s "$out/$f" ] || fail "$f is missing or empty"
done
head -c 8 "$out/plot.png" | od -An -c | grep -q 'P   N   G' || fail "plot.png is not a PNG"
grep -q '<svg' "$out/plot.svg" || fail "plot.svg is not an SVG"
cmp -s "$TEST_TMP/table" "$out/table.txt" || fail "table.txt differs from the terminal table"
# Progress: one "[step/total ...]" line per measurement (13 workloads x 4
# backends: kernel, fuse-overlayfs, strata, strata-store).
[ "$(grep -c '^\[ *[0-9]*/52 ' "$TEST_TMP/progress")" = 52 ] || {
	cat "$TEST_TMP/progress" >&2
	fail "expected 52 progress lines"
}

# Which backends must have figures: strata only when strata-fuse is built.
bes="kernel fuse-overlayfs"
if command -v strata-fuse >/dev/null 2>&1; then
	bes="$bes strata strata-store"
else
	assert_grep 'not available: strata-fuse not built' "$TEST_TMP/table"
	assert_grep 'not available: strata-fuse not built' "$out/report.md"
fi
nbe=$(echo "$bes" | wc -w)

# The terminal table: a header naming the backends, kernel first, strata
# labelled with what it reads; one row per metric (16).
assert_grep '^metric  *unit  *better  *kernel  *fuse-overlayfs  *strata (dir lowers)  *strata (store)' "$TEST_TMP/table"
[ "$(tail -n +3 "$TEST_TMP/table" | wc -l)" = 16 ] || fail "the table does not have 16 metric rows"

# summary.csv: every metric x backend has a median (daemon RSS: n/a for the
# kernel) from a successful run, and every non-kernel backend a ratio.
awk -F, -v bes="$bes" '
	BEGIN { n = split(bes, b, " "); for (i = 1; i <= n; i++) want[b[i]] = 1 }
	NR == 1 || !($2 in want) { next }
	{ seen++ }
	$1 == "rss" && $2 == "kernel" { if ($9 !~ /^na: /) { print "kernel rss not n/a: " $0; bad = 1 } next }
	$3 < 1 || $7 != 0 || $4 !~ /^[0-9.e+-]+$/ { print "no figure: " $0; bad = 1 }
	$2 != "kernel" && $1 != "rss" && $8 !~ /^[0-9.]+$/ { print "no ratio: " $0; bad = 1 }
	END { if (seen != 16 * n) { print "rows: " seen ", expected " 16 * n; bad = 1 } exit bad }' \
	"$out/summary.csv" >&2 || fail "missing figures in summary.csv"
awk -F, '$2 ~ /^strata/ && $3 < 1 && $9 == "" { bad = 1 } END { exit bad }' "$out/summary.csv" ||
	fail "strata rows without figures and without a reason"

# results.csv: every workload x backend has an ok row for each of its metrics.
for be in $bes; do
	for w in mount start walk-warm walk-cold read-warm read-cold fio-seqread fio-randread \
		fio-randwrite untar copyup smallfiles build; do
		grep -q "^$be,$w,[^,]*,1,[^,]*,ok," "$out/results.csv" ||
			fail "results.csv: no result for $w on $be"
	done
done

# The plots: one bar group per metric with a kernel figure (15), a number
# for every backend in each; the RSS panel has every FUSE backend.
[ "$(tail -n +2 "$out/plot.dat" | wc -l)" = 15 ] || { cat "$out/plot.dat" >&2; fail "plot.dat: expected 15 bar groups"; }
awk -v nbe="$nbe" 'NR > 1 { l = $0; sub(/^"[^"]*" /, ""); if (NF != nbe || $0 ~ /(^| )-( |$)/) { print "incomplete: " l; bad = 1 } }
	END { exit bad }' "$out/plot.dat" >&2 || fail "plot.dat has bars without a figure"
[ "$(tail -n +2 "$out/plot-rss.dat" | wc -l)" = $((nbe - 1)) ] || { cat "$out/plot-rss.dat" >&2; fail "plot-rss.dat incomplete"; }
grep -q 'strata (dir lowers)' "$out/plot.svg" || [ "$nbe" = 2 ] || fail "plot.svg does not name the strata backend"
grep -q 'strata (store)' "$out/plot.svg" || [ "$nbe" = 2 ] || fail "plot.svg does not name the strata-store backend"

# report.md names the machine and the backends; results.json holds the raw runs.
for k in cpu cores memory kernel store image; do assert_grep "^- \*\*$k\*\*: ." "$out/report.md"; done
assert_grep '^| mount | s | lower |' "$out/report.md"
assert_grep 'strata (dir lowers)' "$out/report.md"
assert_grep 'strata (store)' "$out/report.md"
assert_grep 'imported with strata import' "$out/report.md"
assert_grep '!\[.*\](plot.svg)' "$out/report.md"
[ "$(grep -c '^|' "$out/report.md")" = 18 ] || fail "report.md table is incomplete"
jq -e --argjson n "$nbe" '.machine.cpu and .machine.store and (.summary | length >= 16 * $n)
	and (.raw | map(select(.status == "ok")) | length >= 16 * $n - 1)' \
	"$out/results.json" >/dev/null || fail "results.json is incomplete"

# Backends alternate: run r starts with the backend after run r-1's first.
say "alternation of backends"
strata bench --short --runs 3 --workloads mount --out "$TEST_TMP/alt" >/dev/null 2>"$TEST_TMP/progress-alt" ||
	{ cat "$TEST_TMP/progress-alt" >&2; fail "strata bench --workloads mount --runs 3 failed"; }
firsts=$(awk -F, '$3 == "mount" && !($4 in f) { f[$4] = $1 } END { for (r = 1; r <= 3; r++) printf "%s ", f[r] }' \
	"$TEST_TMP/alt/results.csv")
# shellcheck disable=SC2086 # one word per backend
set -- $bes
assert_eq "$firsts" "$1 $2 ${3:-$1} " "first backend of runs 1, 2, 3"
say "ok"
