#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Faults: an upper on a full filesystem gives ENOSPC and loses nothing
# already written; copy-up that does not fit fails cleanly; a killed daemon
# leaves a mount that reports ENOTCONN.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
T=$TEST_TMP
mkdir -p "$T/l" "$T/small" "$T/m"
head -c 3000000 /dev/urandom > "$T/l/big"
cp "$T/l/big" "$T/l/big2"
echo small > "$T/l/small-file"
mount -t tmpfs -o size=2m tmpfs "$T/small" || skip "cannot mount tmpfs"
track_mount "$T/small"
mkdir "$T/small/u" "$T/small/w"
strata_mount "lowerdir=$T/l,upperdir=$T/small/u,workdir=$T/small/w" "$T/m"

say "ENOSPC on write, earlier data intact"
head -c 1000000 /dev/urandom > "$T/keep"
cp "$T/keep" "$T/m/keep"
sync "$T/m/keep" 2>/dev/null || true
if dd if=/dev/zero of="$T/m/fill" bs=64k count=100 2>"$T/dd.err"; then
	fail "writing 6.4 MB to a 2 MB upper succeeded"
fi
assert_grep "No space left" "$T/dd.err"
cmp "$T/keep" "$T/m/keep" || fail "data written before ENOSPC changed"
rm "$T/m/fill"

say "copy-up that does not fit"
if sh -c 'echo x >> "$1"' sh "$T/m/big" 2>"$T/cu.err"; then
	fail "copy-up of 3 MB into the full upper succeeded"
fi
assert_grep "No space left" "$T/cu.err"
cmp "$T/l/big" "$T/m/big" || fail "lower file view changed after failed copy-up"
[ ! -e "$T/small/u/big" ] || fail "half copy-up visible in the upper"
ls "$T/small/w/work" > "$T/ls"; [ ! -s "$T/ls" ] || fail "work dir left dirty: $(cat "$T/ls")"
echo ok >> "$T/m/small-file" || fail "small copy-up after ENOSPC"

say "truncating a lower file to 0 copies no data"
: > "$T/m/big" || fail "O_TRUNC of a 3 MB lower file in a full upper (data copied?)"
assert_eq "$(stat -c %s "$T/m/big")" 0 "size after O_TRUNC"
assert_eq "$(stat -c %s "$T/l/big")" 3000000 "lower changed"
python3 -c 'import os, sys; os.truncate(sys.argv[1], 0)' "$T/m/big2" ||
	fail "truncate(2) to 0 of a lower file in a full upper"
assert_eq "$(stat -c %s "$T/m/big2")" 0 "size after truncate(2)"

say "daemon killed: ENOTCONN"
kill -9 "$_fs_pid"
wait "$_fs_pid" 2>/dev/null || true
if stat "$T/m/keep" 2>"$T/stat.err"; then fail "stat after kill succeeded"; fi
assert_grep "not connected" "$T/stat.err"
fusermount3 -u "$T/m" || umount -l "$T/m"
say ok
