# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: the terminal table, report.md and results.json.
# A cell is "median [min..max] xRATIO" (ratio: cost relative to kernel
# overlayfs, >1 is worse), or the reason there is no number.

# _cells SUMMARY: tab-separated, a header, one row per metric, a cell per backend.
_cells() {
	local be labels=""
	for be in "${B_BACKENDS[@]}"; do labels+="$(be_label "$be")|"; done
	awk -F, -v info="$B_METRIC_INFO" -v bes="${B_BACKENDS[*]}" -v labels="$labels" '
	BEGIN {
		nb = split(bes, be, " ")
		split(labels, lab_be, "|")
		nm = split(info, il, "\n")
		for (i = 1; i <= nm; i++) {
			split(il[i], f, "|"); mid[i] = f[1]; lab[i] = f[3]; unit[i] = f[4]; bet[i] = f[5]
		}
	}
	function num(x) { return (x >= 1000 || x <= -1000) ? sprintf("%.0f", x) : sprintf("%.4g", x) }
	NR > 1 {
		if ($3 > 0) {
			c = num($4) " [" num($5) ".." num($6) "]"
			if ($8 != "" && $2 != "kernel") c = c sprintf(" x%.2f", $8)
			if ($7 > 0) c = c sprintf(" (%d failed)", $7)
		} else {
			c = $9; sub(/^na: /, "n/a: ", c); sub(/^unavailable: /, "", c)
		}
		cell[$1 "," $2] = c
	}
	END {
		hdr = "metric\tunit\tbetter"
		for (b = 1; b <= nb; b++) hdr = hdr "\t" lab_be[b]
		print hdr
		for (i = 1; i <= nm; i++) {
			r = lab[i] "\t" unit[i] "\t" bet[i]; any = 0
			for (b = 1; b <= nb; b++) {
				k = mid[i] "," be[b]
				if (k in cell) any = 1
				r = r "\t" ((k in cell) ? cell[k] : "-")
			}
			if (any) print r
		}
	}' "$1"
}

report_table() { # SUMMARY -> aligned text table on stdout
	_cells "$1" | awk -F'\t' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
	END {
		for (r = 1; r <= NR; r++) {
			line = ""
			for (i = 1; i <= n; i++) line = line sprintf(i < n ? "%-" w[i] "s  " : "%s", c[r, i])
			print line
			if (r == 1) { line = ""; for (i = 1; i <= n; i++) line = line sprintf("%s", substr("----------------------------------------------------------------------------------------------------", 1, w[i])) (i < n ? "  " : ""); print line }
		}
	}'
}

_md_table() {
	_cells "$1" | awk -F'\t' '
	{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
	  if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line (i > 3 ? "---:|" : "---|"); print line } }'
}

report_md() { # SUMMARY MACHINE -> report.md on stdout
	local s=$1 m=$2 be
	echo "# strata bench: rootfs backends compared"
	echo
	echo "Command: \`$B_COMMAND\`"
	echo
	echo "## Machine"
	echo
	sed 's/^\([^=]*\)=\(.*\)$/- **\1**: \2/' "$m"
	echo
	echo "## Backends"
	echo
	for be in "${B_BACKENDS[@]}"; do
		echo "- **$(be_label "$be")**: $(be_call version "$be" 2>/dev/null || echo '?'). $(be_note "$be")"
	done
	echo
	echo "## Results"
	echo
	echo "Each cell: median [min..max] over $B_RUNS run(s), and xRATIO = cost relative to"
	echo "kernel overlayfs (backend/kernel for times, kernel/backend for throughput;"
	echo ">1 means worse than the kernel). Backends alternate within each run."
	echo
	_md_table "$s"
	echo
	echo "![ratios to kernel overlayfs, and daemon RSS](plot.svg)"
	echo
	echo "## Method"
	echo
	echo "- Mode $B_MODE; lower layers: $B_LOWERS_DESC; store: $B_STORE_DESC. Every measurement uses a fresh mount (for the FUSE backends a newly started daemon) with an empty upper directory on the same store; --store-on places the lower, upper and work directories of every backend."
	echo "- Order: for each workload, run r of every backend, backends rotated by one from run to run (run 1: ${RUNNABLE[*]:-}; run 2 starts with the second...)."
	echo "- Cold: fresh mount, then \`sync; echo 3 > /proc/sys/vm/drop_caches\`, then the timed operation; the fresh mount also means a FUSE filesystem starts without its per-mount page cache and its daemon without caches. Warm: the same operation once, untimed, before the timed one."
	echo "- fio: ioengine=io_uring, buffered; seq read bs=1M iodepth=8 over $P_FIO_SIZE; rand read bs=4k iodepth=16 ${P_FIO_RUNTIME}s; rand write bs=4k iodepth=16 on a new $P_FIO_WSIZE upper file, ${P_FIO_RUNTIME}s + fsync."
	echo "- untar: the image's rootfs tar into a new directory, then sync. copy-up: chmod g+w of $B_COPYUP_N lower files. small files: $P_SMALL_N x 1 KiB created (split) then rm -rf."
	echo "- build: make -j$(nproc) of a generated C project of $P_CPROJ_N modules on the mount. start: runc run of /bin/true, $P_START_K per mount. RSS: daemon VmRSS after the cold walk."
	for be in "${B_BACKENDS[@]}"; do
		[ -n "$(be_note "$be")" ] && echo "- $(be_note "$be")"
	done
	echo "- Raw values: results.csv, results.json; summary: summary.csv; plots: plot.svg, plot.png; log: bench.log."
}

report_json() { # RESULTS SUMMARY MACHINE -> results.json on stdout
	local be labels='{}'
	for be in "${B_BACKENDS[@]}"; do
		labels=$(jq -c --arg k "$be" --arg v "$(be_label "$be")" '. + {($k): $v}' <<<"$labels")
	done
	jq -n --rawfile raw "$1" --rawfile sum "$2" --rawfile mach "$3" --argjson labels "$labels" \
		--arg cmd "$B_COMMAND" --arg mode "$B_MODE" --argjson runs "$B_RUNS" '
	def rows($t): $t | split("\n") | map(select(length > 0) | split(",")) as $r
		| $r[0] as $h | $r[1:] | map([$h, .] | transpose | map({(.[0]): .[1]}) | add);
	def num: if . == "" or . == null then null else tonumber end;
	{ command: $cmd, mode: $mode, runs: $runs, backends: $labels,
	  machine: ($mach | split("\n") | map(select(length > 0) | capture("^(?<k>[^=]*)=(?<v>.*)$"))
		| map({(.k): .v}) | add),
	  summary: (rows($sum) | map(.n |= num | .median |= num | .min |= num | .max |= num
		| .failed |= num | .ratio |= num)),
	  raw: (rows($raw) | map(.run |= num | .value |= num)) }'
}
