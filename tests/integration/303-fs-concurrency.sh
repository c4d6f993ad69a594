#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Concurrency: parallel readers, writers, creators, renamers and copy-ups
# of the same lower files, then metadata and data copy-ups of hardlinked
# lower files with metacopy=on, then many large reads at once (the read
# threads); no error, no lost update, no broken link, no wrong byte, no
# daemon crash (the sanitizer build aborts on races that corrupt memory).
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

say "metacopy=on, hardlinks: parallel chmod, append, read, link copy-ups"
mkdir -p "$T/l2/h" "$T/l2/d2" "$T/u2" "$T/w2"
for i in $(seq 30); do
	head -c 200000 /dev/zero | tr '\0' 'x' > "$T/l2/d2/f$i"
	ln "$T/l2/d2/f$i" "$T/l2/h/g$i"
	cp "$T/l2/d2/f$i" "$T/l2/d2/m$i"     # no links: metacopy first
done
strata_mount "lowerdir=$T/l2,upperdir=$T/u2,workdir=$T/w2,metacopy=on" "$M"
worker2() { # N
	for i in $(seq 30); do
		chmod 644 "$M/d2/f$i" || echo "chmod $i" >> "$T/err2.$1"
		echo "w$1" >> "$M/h/g$i" || echo "append $i" >> "$T/err2.$1"
		head -c 10 "$M/d2/f$i" > /dev/null || echo "read $i" >> "$T/err2.$1"
		touch -h "$M/h/g$i" || echo "touch $i" >> "$T/err2.$1"
		chmod 600 "$M/d2/m$i" || echo "chmod m$i" >> "$T/err2.$1"
		head -c 10 "$M/d2/m$i" > /dev/null || echo "read m$i" >> "$T/err2.$1"
		echo "w$1" >> "$M/d2/m$i" || echo "append m$i" >> "$T/err2.$1"
	done
}
pids=""
for n in 1 2 3 4; do worker2 "$n" & pids="$pids $!"; done
for p in $pids; do wait "$p"; done
cat "$T"/err2.* 2>/dev/null && fail "errors in workers" || true
for i in $(seq 30); do
	[ "$(stat -c '%i %h %s' "$M/d2/f$i")" = "$(stat -c '%i %h %s' "$M/h/g$i")" ] ||
		fail "f$i and g$i are no longer one inode"
	[ "$(grep -c "w[1-4]$" "$M/d2/f$i")" = 4 ] || fail "lost appends in f$i: $(grep -o "w[1-4]$" "$M/d2/f$i" | tr "\n" " ")"
	[ "$(head -c 200000 "$M/d2/f$i" | tr -d x | wc -c)" = 0 ] || fail "data of f$i damaged"
	[ "$(grep -c "w[1-4]$" "$M/d2/m$i")" = 4 ] || fail "lost appends in m$i"
	[ "$(head -c 200000 "$M/d2/m$i" | tr -d x | wc -c)" = 0 ] || fail "data of m$i damaged"
done
strata_umount "$M"

# Reads of 64 KiB or more go to the read threads (fs/readpool.c): many
# at once, interleaved with small reads and metadata requests, from the
# same and different files; every byte as in the lower.
for opts in "" ",read_threads=0" ",read_threads=7"; do
	say "parallel large reads (options '$opts')"
	rm -rf "$T/l3" "$T/u3" "$T/w3"
	mkdir -p "$T/l3" "$T/u3" "$T/w3"
	for i in 1 2 3 4; do head -c $((6 * 1048576 + i * 4097)) /dev/urandom > "$T/l3/big$i"; done
	strata_mount "lowerdir=$T/l3,upperdir=$T/u3,workdir=$T/w3$opts" "$M"
	python3 - "$T/l3" "$M" <<'PY' || fail "parallel reads ('$opts')"
import os, random, sys, threading
low, mnt = sys.argv[1], sys.argv[2]
want = {f: open(os.path.join(low, f), "rb").read() for f in os.listdir(low)}
errs = []
def reader(seed):
    rnd = random.Random(seed)
    for _ in range(60):
        f = rnd.choice(sorted(want))
        data = want[f]
        fd = os.open(os.path.join(mnt, f), os.O_RDONLY)
        try:
            for _ in range(4):
                size = rnd.choice([4096, 65536, 131072, 1 << 20, 3 << 20])
                off = rnd.randrange(0, len(data))
                got = os.pread(fd, size, off)
                if got != data[off:off + size]:
                    errs.append(f"{f} at {off} size {size}")
            os.stat(os.path.join(mnt, f))
        finally:
            os.close(fd)
ts = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
for t in ts: t.start()
for t in ts: t.join()
if errs:
    sys.exit("wrong data: " + "; ".join(errs[:5]))
PY
	for i in 1 2 3 4; do
		cmp "$T/l3/big$i" "$M/big$i" || fail "big$i read whole ('$opts')"
	done
	strata_umount "$M"
done
say ok
