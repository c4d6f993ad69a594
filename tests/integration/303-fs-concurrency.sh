#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Concurrency: parallel readers, writers, creators, renamers and copy-ups
# of the same lower files; no error, no lost update, no daemon crash
# (the sanitizer build aborts on races that corrupt memory).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
T=$TEST_TMP
mkdir -p "$T/l/d" "$T/u" "$T/w" "$T/m"
for i in $(seq 50); do echo "f$i" > "$T/l/d/f$i"; done
strata_mount "lowerdir=$T/l,upperdir=$T/u,workdir=$T/w" "$T/m"
M=$T/m

worker() { # N
	for i in $(seq 50); do
		echo "w$1" >> "$M/d/f$i" || echo "append $i" >> "$T/err.$1"
		cat "$M/d/f$i" > /dev/null || echo "read $i" >> "$T/err.$1"
		mkdir -p "$M/w$1/x/y" && echo "$i" > "$M/w$1/x/y/n$i" || echo "create $i" >> "$T/err.$1"
		mv "$M/w$1/x/y/n$i" "$M/w$1/m$i" || echo "rename $i" >> "$T/err.$1"
		ls -la "$M/d" > /dev/null || echo "ls $i" >> "$T/err.$1"
	done
	rm -r "$M/w$1" || echo "rm" >> "$T/err.$1"
}
pids=""
for n in 1 2 3 4 5 6; do worker "$n" & pids="$pids $!"; done
for p in $pids; do wait "$p"; done
cat "$T"/err.* 2>/dev/null && fail "errors in workers" || true
for i in $(seq 50); do
	[ "$(wc -l < "$M/d/f$i")" = 7 ] || fail "lost appends in f$i: $(cat "$M/d/f$i")"
done
[ -z "$(ls "$M" | grep '^w')" ] || fail "worker dirs left"
strata_umount "$M"
say ok
