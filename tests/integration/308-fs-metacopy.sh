#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# metacopy=on: chmod/chown/utimes/xattr changes of lower files copy no
# data (kernel overlayfs's metacopy format); the data is copied on the
# first write, truncate or rename; the upper mounts under kernel overlayfs
# (metacopy=on) with the same tree and data, and strata serves metacopy
# files that kernel overlayfs wrote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd getfattr setfattr md5sum
T=$TEST_TMP
mkdir -p "$T/l" "$T/u" "$T/w" "$T/m" "$T/kw" "$T/km" "$T/ku" "$T/kw2" "$T/x"
for f in a b c d e g; do head -c 8000000 /dev/urandom > "$T/l/$f"; done
echo small > "$T/l/small"
M=$T/m
OPTS="lowerdir=$T/l,upperdir=$T/u,workdir=$T/w,metacopy=on"
strata_mount "$OPTS" "$M"

upper_kb() { du -sk "$T/u" | cut -f1; }

say "metadata changes copy no data"
ino_a=$(stat -c %i "$M/a")
blocks_a=$(stat -c %b "$M/a")
chmod 600 "$M/a"
chown 5:6 "$M/b"
touch -h -d @1000000000.5 "$M/c" # -h: utimensat, no open for writing
setfattr -n user.x -v 1 "$M/d"
chmod 600 "$M/e" "$M/g"
[ "$(upper_kb)" -lt 200 ] || fail "metadata changes copied data: $(upper_kb) KiB in the upper"
for f in a b c d e g; do
	getfattr --absolute-names -n trusted.overlay.metacopy "$T/u/$f" >/dev/null 2>&1 ||
		fail "$f: no metacopy marker in the upper"
	cmp "$T/l/$f" "$M/$f" || fail "$f: data differs after a metadata change"
done
assert_eq "$(stat -c '%a %i %b' "$M/a")" "600 $ino_a $blocks_a" "mode, inode and blocks of a metacopy"
assert_eq "$(stat -c %u:%g "$M/b")" 5:6 "owner of a metacopy"
assert_eq "$(stat -c %Y "$M/c")" 1000000000 "mtime of a metacopy"
assert_eq "$(getfattr --absolute-names --only-values -n user.x "$M/d")" 1 "xattr of a metacopy"
getfattr --absolute-names -d -m - "$M/a" 2>/dev/null | grep -q overlay && fail "overlay xattrs visible"

say "data is copied on write, truncate and rename"
echo tail >> "$M/a"
{ cat "$T/l/a"; echo tail; } | cmp - "$M/a" || fail "append to a metacopy"
{ cat "$T/l/a"; echo tail; } | cmp - "$T/u/a" || fail "upper data after append"
getfattr --absolute-names -n trusted.overlay.metacopy "$T/u/a" >/dev/null 2>&1 &&
	fail "metacopy marker left after the data copy"
assert_eq "$(stat -c %i "$M/a")" "$ino_a" "inode after the data copy"
truncate -s 100 "$M/b"
head -c 100 "$T/l/b" | cmp - "$M/b" || fail "truncate of a metacopy"
mv "$M/c" "$M/c2"
cmp "$T/l/c" "$M/c2" || fail "rename of a metacopy"
cmp "$T/l/c" "$T/u/c2" || fail "renamed metacopy without its data in the upper"
: > "$M/g"              # O_TRUNC of a metacopy: nothing to copy
assert_eq "$(stat -c '%s %a' "$M/g") $(stat -c %s "$T/u/g")" "0 600 0" "O_TRUNC of a metacopy"
getfattr --absolute-names -n trusted.overlay.metacopy "$T/u/g" >/dev/null 2>&1 &&
	fail "metacopy marker left after O_TRUNC"
exec 3< "$M/e"          # a reader opened before the data copy
echo more >> "$M/e"
head -c 100 <&3 | cmp - "$T/l/e" -n 100 || fail "reader of a metacopy"
exec 3<&-
find "$M" -printf '%P %m %s %u %g %i\n' | sort > "$T/view.1"
md5sum "$M"/* | sed "s|$M/||" > "$T/sums.1"
strata_umount "$M"

say "remount: same tree, data and inode numbers"
strata_mount "$OPTS" "$M"
find "$M" -printf '%P %m %s %u %g %i\n' | sort > "$T/view.2"
diff -u "$T/view.1" "$T/view.2" >&2 || fail "tree changed across a remount"
md5sum "$M"/* | sed "s|$M/||" | diff -u "$T/sums.1" - >&2 || fail "data changed across a remount"
strata_umount "$M"

say "kernel overlayfs (metacopy=on) on strata's upper"
mount -t overlay overlay -o "lowerdir=$T/l,upperdir=$T/u,workdir=$T/kw,metacopy=on" "$T/km" ||
	skip "kernel overlayfs cannot mount with metacopy=on"
track_mount "$T/km"
find "$T/km" -printf '%P %m %s %u %g\n' | sort > "$T/kview"
md5sum "$T/km"/* | sed "s|$T/km/||" > "$T/ksums"
umount "$T/km"
cut -d' ' -f1-5 "$T/view.1" | diff -u "$T/kview" - >&2 || fail "kernel view differs"
diff -u "$T/ksums" "$T/sums.1" >&2 || fail "kernel reads other data"

say "strata on an upper with kernel-written metacopy files"
mount -t overlay overlay -o "lowerdir=$T/l,upperdir=$T/ku,workdir=$T/kw2,metacopy=on" "$T/km"
track_mount "$T/km"
chmod 640 "$T/km/a" "$T/km/b"
chown 7:7 "$T/km/d"
umount "$T/km"
getfattr --absolute-names -n trusted.overlay.metacopy "$T/ku/a" >/dev/null 2>&1 ||
	skip "kernel overlayfs wrote no metacopy file"
strata_mount "lowerdir=$T/l,upperdir=$T/ku,workdir=$T/kw2" "$T/x"
assert_eq "$(stat -c '%a %s' "$T/x/a")" "640 8000000" "kernel metacopy attributes"
cmp "$T/l/a" "$T/x/a" || fail "kernel metacopy data"
assert_eq "$(stat -c %u "$T/x/d")" 7 "kernel metacopy owner"
echo x >> "$T/x/b"
{ cat "$T/l/b"; echo x; } | cmp - "$T/x/b" || fail "write to a kernel metacopy"
strata_umount "$T/x"
say ok
