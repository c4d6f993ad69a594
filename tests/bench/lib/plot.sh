# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: plot.svg and plot.png with gnuplot.  Left: one bar group per
# workload metric, one bar per backend, height = cost relative to kernel
# overlayfs (1 = kernel, higher = worse; log scale).  Right: daemon RSS
# after the walk in MiB, the one figure without a kernel counterpart.
# plot.dat and plot-rss.dat keep the plotted numbers ("-" = no figure).
plot_write() { # SUMMARY OUTDIR
	local dat=$2/plot.dat rss=$2/plot-rss.dat gp=$2/plot.gp be cols=() labels="" ncol ymin nrss
	for be in "${B_BACKENDS[@]}"; do
		awk -F, -v b="$be" '$2 == b && $3 > 0 { f = 1 } END { exit !f }' "$1" || continue
		cols+=("$be")
		labels+="$(be_label "$be")|"
	done
	[ "${#cols[@]}" -gt 0 ] || return 1
	awk -F, -v info="$B_METRIC_INFO" -v bes="${cols[*]}" -v labels="$labels" -v rss="$rss" '
	BEGIN {
		nb = split(bes, be, " "); split(labels, lab_be, "|"); nm = split(info, il, "\n")
		for (i = 1; i <= nm; i++) { split(il[i], f, "|"); mid[i] = f[1]; lab[i] = f[3] }
	}
	NR > 1 && $3 > 0 { r[$1 "," $2] = ($2 == "kernel") ? 1 : $8; med[$1 "," $2] = $4 }
	END {
		printf "metric"; for (b = 1; b <= nb; b++) printf " \"%s\"", lab_be[b]; print ""
		for (i = 1; i <= nm; i++) {
			if (!((mid[i] ",kernel") in r)) continue
			printf "\"%s\"", lab[i]
			for (b = 1; b <= nb; b++) { k = mid[i] "," be[b]; printf " %s", (k in r && r[k] != "") ? r[k] : "-" }
			print ""
		}
		# Daemon RSS: absolute MiB, only the backends that have a daemon.
		n = 0
		for (b = 1; b <= nb; b++) if (("rss," be[b]) in med) { n++; rb[n] = b }
		printf "backend MiB\n" >rss
		for (j = 1; j <= n; j++) printf "\"%s\" %s\n", lab_be[rb[j]], med["rss," be[rb[j]]] >rss
	}' "$1" >"$dat"
	ncol=$((${#cols[@]} + 1))
	nrss=$(($(wc -l <"$rss") - 1))
	# Same colours as on the left: line type = column of the backend there.
	rss_lt0=2
	[ "${cols[0]}" = kernel ] || rss_lt0=1
	# Log scale from a power of two below the smallest ratio (at most 0.5).
	ymin=$(awk -v nb="${#cols[@]}" 'NR > 1 { for (i = NF - nb + 1; i <= NF; i++) if ($i != "-" && $i + 0 > 0 && $i + 0 < m) m = $i + 0 }
		BEGIN { m = 0.5 } END { y = 1; while (y > m) y /= 2; print y }' "$dat")
	{
		cat <<GP
set datafile missing "-"
set style fill solid 0.85 border -1
set grid ytics
set multiplot title "strata bench ($B_MODE): $(uname -r), $(nproc) cores, store: ${B_STORE_KIND}, image: ${B_IMAGE}, ${B_RUNS} run(s), medians" noenhanced
set size 0.8,1
set origin 0,0
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set logscale y 2
set yrange [$ymin:*]
set key top left noenhanced
set xtics rotate by -30 left nomirror font ",9" noenhanced
set bmargin 9
set ylabel "cost relative to kernel overlayfs (1 = kernel, higher = worse)"
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1 front
plot for [i=2:$ncol] "$dat" using i:xtic(1) title columnheader(i) noenhanced
GP
		if [ "$nrss" -gt 0 ]; then
			cat <<GP
unset arrow 1
unset logscale y
unset key
set size 0.2,1
set origin 0.8,0
set yrange [0:*]
set ylabel "daemon RSS after the walk (MiB)"
set xrange [-0.6:$nrss - 0.4]
set boxwidth 0.6
plot "$rss" skip 1 using 0:2:(\$0 + $rss_lt0):xtic(1) with boxes linecolor variable notitle
GP
		fi
		echo "unset multiplot"
	} >"$gp"
	gnuplot -e "set terminal svg size 1400,700 dynamic font 'sans,11'; set output '$2/plot.svg'" "$gp" &&
		gnuplot -e "set terminal pngcairo size 1400,700 font 'sans,10'; set output '$2/plot.png'" "$gp"
}
