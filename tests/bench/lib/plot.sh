# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: plot.svg and plot.png with gnuplot: one bar group per
# metric, one bar per backend, height = cost relative to kernel overlayfs
# (1 = kernel, higher = worse; log scale).  Metrics without a kernel figure
# (daemon RSS) are in the tables only.
plot_write() { # SUMMARY OUTDIR
	local dat=$2/plot.dat gp=$2/plot.gp be cols=() ncol ymin
	for be in "${B_BACKENDS[@]}"; do
		awk -F, -v b="$be" '$2 == b && $3 > 0 { f = 1 } END { exit !f }' "$1" && cols+=("$be")
	done
	[ "${#cols[@]}" -gt 0 ] || return 1
	awk -F, -v info="$B_METRIC_INFO" -v bes="${cols[*]}" '
	BEGIN {
		nb = split(bes, be, " "); nm = split(info, il, "\n")
		for (i = 1; i <= nm; i++) { split(il[i], f, "|"); mid[i] = f[1]; lab[i] = f[3] }
	}
	NR > 1 && $3 > 0 { r[$1 "," $2] = ($2 == "kernel") ? 1 : $8 }
	END {
		printf "metric"; for (b = 1; b <= nb; b++) printf " \"%s\"", be[b]; print ""
		for (i = 1; i <= nm; i++) {
			if (!((mid[i] ",kernel") in r)) continue
			printf "\"%s\"", lab[i]
			for (b = 1; b <= nb; b++) { k = mid[i] "," be[b]; printf " %s", (k in r && r[k] != "") ? r[k] : "-" }
			print ""
		}
	}' "$1" >"$dat"
	ncol=$((${#cols[@]} + 1))
	# Log scale from a power of two below the smallest ratio (at most 0.5).
	ymin=$(awk -v nb="${#cols[@]}" 'NR > 1 { for (i = NF - nb + 1; i <= NF; i++) if ($i != "-" && $i + 0 > 0 && $i + 0 < m) m = $i + 0 }
		BEGIN { m = 0.5 } END { y = 1; while (y > m) y /= 2; print y }' "$dat")
	cat >"$gp" <<GP
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [$ymin:*]
set grid ytics
set key top left
set xtics rotate by -30 left nomirror font ",9"
set bmargin 9
set ylabel "cost relative to kernel overlayfs (1 = kernel, higher = worse)"
set title "strata bench: $(uname -r), $(nproc) cores, store: ${B_STORE_KIND}, image: ${B_IMAGE}" noenhanced
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1 front
plot for [i=2:$ncol] "$dat" using i:xtic(1) title columnheader(i) noenhanced
GP
	gnuplot -e "set terminal svg size 1200,650 dynamic font 'sans,11'; set output '$2/plot.svg'" "$gp" &&
		gnuplot -e "set terminal pngcairo size 1200,650 font 'sans,10'; set output '$2/plot.png'" "$gp"
}
