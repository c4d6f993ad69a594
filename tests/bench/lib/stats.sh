# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: raw results and their summary, computed with sort and awk.
# results.csv: backend,workload,metric,run,value,status,note
#   status: ok | na (not applicable, e.g. daemon RSS of a kernel fs) |
#           failed | unavailable (backend cannot run: note says why)
# summary.csv: metric,backend,n,median,min,max,failed,ratio,note
#   ratio = cost relative to kernel overlayfs, >1 is worse: backend/kernel
#   median for "lower is better" metrics, kernel/backend for "higher".

results_init() { echo "backend,workload,metric,run,value,status,note" >"$B_RESULTS"; }

_row() { # METRIC VALUE STATUS NOTE (uses the runner's B_BE, B_WL, B_RUN)
	printf '%s,%s,%s,%s,%s,%s,%s\n' "$B_BE" "$B_WL" "$1" "$B_RUN" "$2" "$3" "${4//,/;}" >>"$B_RESULTS"
}
record() { _row "$1" "$2" ok ""; B_NOTE+="$1=$2 "; }
record_na() { _row "$1" "" na "$2"; }
record_failed() { _row "$1" "" failed "$2"; }
record_unavailable() { _row "$1" "" unavailable "$2"; }

# The median, min and max of the ok values, failure counts and the first note.
stats_summarize() { # RESULTS.csv METRIC-INFO -> summary.csv on stdout
	echo "metric,backend,n,median,min,max,failed,ratio,note"
	tail -n +2 "$1" | sort -t, -k3,3 -k1,1 -k6,6 -k5,5g |
		awk -F, -v info="$2" '
		function flush(   m) {
			if (key == "") return
			if (n > 0) {
				m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
				med[key] = m
				line[key] = sprintf("%s,%s,%d,%.6g,%.6g,%.6g,%d", met, be, n, m, v[1], v[n], nf)
			} else
				line[key] = sprintf("%s,%s,0,,,,%d", met, be, nf)
			keys[++nk] = key; kmet[key] = met; kbe[key] = be; knote[key] = note
		}
		BEGIN {
			ni = split(info, il, "\n")
			for (i = 1; i <= ni; i++) { split(il[i], f, "|"); better[f[1]] = f[5] }
		}
		{
			k = $3 "," $1
			if (k != key) { flush(); key = k; met = $3; be = $1; n = 0; nf = 0; note = "" }
			if ($6 == "ok") v[++n] = $5
			else { if ($6 == "failed") nf++; if (note == "") note = $6 ": " $7 }
		}
		END {
			flush()
			for (i = 1; i <= nk; i++) {
				k = keys[i]; r = ""; kk = kmet[k] ",kernel"
				if ((k in med) && (kk in med) && med[kk] > 0 && med[k] > 0)
					r = sprintf("%.3f", better[kmet[k]] == "higher" ? med[kk] / med[k] : med[k] / med[kk])
				print line[k] "," r "," knote[k]
			}
		}'
}
