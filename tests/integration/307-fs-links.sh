#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Hardlinks, directory renames and rmdir across layers, inode numbers:
# lower hardlinks are one inode and stay one after copy-up of any name;
# st_nlink follows link/unlink; directories move across layers without
# EXDEV; merged directories can be emptied and removed; st_ino is unique in
# the mount and the same after a remount (copied-up files included); the
# resulting upper mounts under kernel overlayfs with the same tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd python3
T=$TEST_TMP
mkdir -p "$T/l1" "$T/l2" "$T/u" "$T/w" "$T/m" "$T/kw" "$T/km"
mkdir -p "$T/l2/hl/a" "$T/l2/hl/b" "$T/l2/ren/deep" "$T/l2/mrg/sub" "$T/l1/mrg" \
	"$T/l2/emp" "$T/l1/emp" "$T/l2/full" "$T/l2/into"
echo one > "$T/l2/hl/a/h1"
ln "$T/l2/hl/a/h1" "$T/l2/hl/b/h2"
ln "$T/l2/hl/a/h1" "$T/l2/hl/h3"
echo two > "$T/l2/hl/x1"
ln "$T/l2/hl/x1" "$T/l2/hl/x2"
echo three > "$T/l2/hl/t1"
ln "$T/l2/hl/t1" "$T/l2/hl/b/t2"
echo solo > "$T/l2/solo"
echo deep > "$T/l2/ren/deep/f"
echo l2 > "$T/l2/mrg/sub/f"; echo l2 > "$T/l2/mrg/a"; echo l1 > "$T/l1/mrg/b"
echo x > "$T/l2/emp/x"; echo y > "$T/l1/emp/y"
echo f > "$T/l2/full/f"
mkdir "$T/l2/many"
for i in $(seq 200); do echo "$i" > "$T/l2/many/f$i"; done
M=$T/m
OPTS="lowerdir=$T/l1:$T/l2,upperdir=$T/u,workdir=$T/w"
strata_mount "$OPTS" "$M"

errno_of() { # python3 os call as text: prints the errno name or OK
	python3 -c "
import errno, os, sys
try:
    $1
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])
"
}

say "lower hardlinks: one inode, link count"
i1=$(stat -c %i "$M/hl/a/h1")
assert_eq "$(stat -c '%i %h' "$M/hl/b/h2")" "$i1 3" "lower hardlink h2"
assert_eq "$(stat -c '%i %h' "$M/hl/h3")" "$i1 3" "lower hardlink h3"

say "copy-up of one name keeps the other names linked"
echo more >> "$M/hl/b/h2"
assert_eq "$(cat "$M/hl/a/h1")" "one
more" "h1 after writing h2"
assert_eq "$(cat "$M/hl/h3")" "one
more" "h3 after writing h2"
assert_eq "$(stat -c '%i %h' "$M/hl/a/h1")" "$i1 3" "h1 inode and count after copy-up"
assert_eq "$(stat -c '%i %h' "$M/hl/h3")" "$i1 3" "h3 inode and count after copy-up"
assert_eq "$(stat -c %h "$T/u/hl/a/h1")" 3 "upper copies are one inode"
assert_eq "$(cat "$T/l2/hl/a/h1")" one "lower changed"

: > "$M/hl/b/t2"          # O_TRUNC copy-up of a lower hardlink
assert_eq "$(stat -c '%s %h' "$M/hl/t1")" "0 2" "other name after O_TRUNC of a hardlink"
assert_eq "$(stat -c %i "$M/hl/t1")" "$(stat -c %i "$M/hl/b/t2")" "O_TRUNC kept the hardlink"

say "link and unlink keep st_nlink right"
rm "$M/hl/h3"
assert_eq "$(stat -c %h "$M/hl/a/h1")" 2 "count after unlink"
ln "$M/hl/a/h1" "$M/hl/new"
assert_eq "$(stat -c '%i %h' "$M/hl/new")" "$i1 3" "count after link"
rm "$M/hl/x1"                         # lower hardlink, not copied up yet
assert_eq "$(stat -c %h "$M/hl/x2")" 1 "count of the other name after unlink of a lower hardlink"
assert_eq "$(cat "$M/hl/x2")" two "x2 content"
ln "$M/solo" "$M/solo2"               # link to a lower file
assert_eq "$(stat -c %h "$M/solo")" 2 "count after link to a lower file"
assert_eq "$(stat -c %i "$M/solo")" "$(stat -c %i "$M/solo2")" "link to a lower file: one inode"
mv "$M/hl/new" "$M/hl/renamed"          # rename keeps the inode
assert_eq "$(stat -c '%i %h' "$M/hl/renamed")" "$i1 3" "renamed hardlink"

say "directories move across layers"
assert_eq "$(errno_of "os.rename('$M/ren', '$M/mrg/sub/ren')")" OK "rename of a lower dir into a merged dir"
assert_eq "$(cat "$M/mrg/sub/ren/deep/f")" deep "moved dir content"
[ ! -e "$M/ren" ] || fail "old name visible"
rm "$M/emp/x" "$M/emp/y"
assert_eq "$(errno_of "os.rename('$M/mrg/sub/ren', '$M/emp')")" OK "rename over an empty merged dir"
assert_eq "$(ls "$M/emp")" deep "content after replacing an empty merged dir"
assert_eq "$(errno_of "os.rename('$M/emp', '$M/full')")" ENOTEMPTY "rename over a non-empty dir"
assert_eq "$(errno_of "os.rename('$M/into', '$M/into/x')")" EINVAL "rename of a dir into itself"

say "rmdir of merged directories"
assert_eq "$(errno_of "os.rmdir('$M/mrg')")" ENOTEMPTY "rmdir of a non-empty merged dir"
rm -r "$M/mrg" || fail "rm -r of a merged dir"
[ ! -e "$M/mrg" ] || fail "merged dir still visible"
mkdir "$M/mrg"
assert_eq "$(ls -A "$M/mrg")" "" "recreated merged dir shows old entries"

say "st_ino unique and stable across a remount"
for i in $(seq 150); do chmod 600 "$M/many/f$i"; done # copied up
find "$M" -printf '%i %y %n %p\n' | sort -k4 > "$T/ino.1"
awk '{ n[$1]++; t[$1]=$2; l[$1]=$3 } END { for (i in n) if (n[i] > 1 && (t[i] == "d" || n[i] != l[i])) print "duplicate inode " i }' \
	"$T/ino.1" > "$T/dups"
[ ! -s "$T/dups" ] || { cat "$T/ino.1" >&2; fail "$(cat "$T/dups")"; }
python3 - "$M" <<'PY' || fail "readdir d_ino differs from st_ino"
import os, sys
bad = []
# This kernel fetches a listing of a few thousand entries with one
# READDIRPLUS; plain READDIR (fs/dir.c entry_ino) needs bigger directories.
for _ in range(2):
    for root, dirs, files in os.walk(sys.argv[1]):
        for e in os.scandir(root):
            st = os.lstat(e.path)
            if e.inode() != st.st_ino:
                bad.append("%s: d_ino %d st_ino %d" % (e.path, e.inode(), st.st_ino))
for b in sorted(set(bad)):
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
strata_umount "$M"
strata_mount "$OPTS" "$M"
find "$M" -printf '%i %y %n %p\n' | sort -k4 > "$T/ino.2"
diff -u "$T/ino.1" "$T/ino.2" >&2 || fail "inode numbers or link counts changed across a remount"
assert_eq "$(stat -c '%i %h' "$M/hl/a/h1")" "$i1 3" "hardlink after remount"
find "$M" -printf '%P %y %m %s %n %l\n' | sort > "$T/strata.view"
strata_umount "$M"

say "kernel overlayfs shows the same tree on this upper"
kernel_mount "$T/l1:$T/l2" "$T/u" "$T/kw" "$T/km"
find "$T/km" -printf '%P %y %m %s %n %l\n' | sort > "$T/kernel.view"
umount "$T/km"
diff -u "$T/kernel.view" "$T/strata.view" >&2 || fail "views differ"
say ok
