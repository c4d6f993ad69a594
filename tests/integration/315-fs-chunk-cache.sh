#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The chunk cache of store-backed mounts (strata-fuse chunk_cache=, strata
# mount --chunk-cache): random and sequential reads of a compressed and a
# raw file return the file's bytes with a cache far smaller than the files
# (evicting), the default one and none; the daemon's log says how many
# reads the cache served (none without a cache); bad sizes are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
T=$TEST_TMP

STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 1G

say "an image with a compressible 6 MiB file and a random 2 MiB one"
mkdir -p "$T/src/data"
python3 - "$T/src/data/text" <<'PY'
import random, sys
r = random.Random(5)
words = [''.join(r.choice('abcdefghijklmnop') for _ in range(r.randint(2, 9)))
         for _ in range(400)]
out, n = [], 0
while n < 6 << 20:
    line = ' '.join(r.choice(words) for _ in range(12)) + '\n'
    out.append(line)
    n += len(line)
open(sys.argv[1], 'w').write(''.join(out)[:6 << 20])
PY
head -c 2M /dev/urandom >"$T/src/data/rand"
tar -C "$T/src" --numeric-owner -cf "$T/img.tar" .
expect_ok strata import --tar --name cc:1 "$T/img.tar"
# readcheck MNT: 3000 random ranges (1 byte to 40 KB) of both files, then
# both files whole, against the source.
readcheck() {
	python3 - "$T/src/data" "$1/data" <<'PY' || fail "read through $1 differs from the source"
import os, random, sys
src, mnt = sys.argv[1], sys.argv[2]
r = random.Random(11)
for name in ('text', 'rand'):
    want = open(os.path.join(src, name), 'rb').read()
    fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
    for _ in range(1500):
        off = r.randrange(len(want))
        n = r.randint(1, 40000)
        got = os.pread(fd, n, off)
        if got != want[off:off + n]:
            sys.exit('%s: %d bytes at %d differ' % (name, n, off))
    os.close(fd)
    if open(os.path.join(mnt, name), 'rb').read() != want:
        sys.exit('%s: whole file differs' % name)
PY
}

# cache_line CONTAINER: the daemon's chunk cache summary (at unmount).
cache_line() {
	grep 'chunk cache:' "$STRATA_STATE_DIR/containers/$1/daemon.log" || :
}

# STRATA_LOG=info: the daemon logs its cache counters when it unmounts.
STRATA_LOG=info
export STRATA_LOG
n=0
for cc in 1M default 0; do
	n=$((n + 1))
	say "chunk cache $cc: random and whole reads"
	if [ "$cc" = default ]; then
		smount cc:1 "$T/m$n" --name c$n
	else
		smount cc:1 "$T/m$n" --name c$n --chunk-cache "$cc"
	fi
	# A fresh page cache: every read below reaches the daemon once.
	sync
	echo 3 >/proc/sys/vm/drop_caches
	readcheck "$T/m$n"
	sumount "$T/m$n"
	line=$(cache_line c$n)
	say "  daemon: ${line:-no chunk cache line}"
	if [ "$cc" = 0 ]; then
		[ -z "$line" ] || fail "chunk_cache=0 still has a cache: $line"
		continue
	fi
	hits=$(echo "$line" | sed -n 's/.*chunk cache: \([0-9]*\) hits.*/\1/p')
	[ -n "$hits" ] && [ "$hits" -gt 20 ] || fail "the chunk cache served few reads: $line"
	if [ "$cc" = 1M ]; then
		ev=$(echo "$line" | sed -n 's/.*, \([0-9]*\) evicted.*/\1/p')
		[ -n "$ev" ] && [ "$ev" -gt 0 ] || fail "a 1 MiB cache evicted nothing: $line"
	fi
done

say "bad sizes are refused"
mkdir -p "$T/mb"
expect_fail strata mount --chunk-cache lots cc:1 "$T/mb"
assert_grep "invalid --chunk-cache 'lots'" "$TEST_TMP/stderr"
expect_fail strata mount --chunk-cache -5 cc:1 "$T/mb"
grep -q " $T/mb " /proc/mounts && fail "mounted despite a bad --chunk-cache"
mkdir -p "$T/hl"
expect_fail strata-fuse -o "lowerdir=$T/hl,chunk_cache=12Q" "$T/mb"
assert_grep "chunk_cache: expected BYTES" "$TEST_TMP/stderr"
grep -q " $T/mb " /proc/mounts && fail "mounted despite a bad chunk_cache="
say ok
