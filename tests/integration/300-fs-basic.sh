#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata-fuse over host-directory lowers: the merged view (whiteouts in both
# formats, opaque directories, readdir merging), copy-up of data and
# metadata, hardlinks and st_ino, directory rename, read-only mounts and
# options; the upper it writes mounts under kernel overlayfs with the same
# view.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd getfattr setfattr
T=$TEST_TMP
mkdir -p "$T/l1" "$T/l2" "$T/u" "$T/w" "$T/m" "$T/km" "$T/kw"

# Lower 2 (bottom)
mkdir -p "$T/l2/d/sub" "$T/l2/opq" "$T/l2/opq2" "$T/l2/ren/deep"
echo base > "$T/l2/file"
echo gone > "$T/l2/wh-char"
echo gone > "$T/l2/wh-dot"
echo hidden > "$T/l2/opq/hidden"
echo hidden > "$T/l2/opq2/hidden"
echo x > "$T/l2/d/x"
echo deep > "$T/l2/ren/deep/f"
echo hl > "$T/l2/hl1"
ln "$T/l2/hl1" "$T/l2/hl2"
ln -s file "$T/l2/link"
mkfifo "$T/l2/fifo"
mknod "$T/l2/chr" c 1 3
printf 'A' | dd of="$T/l2/sparse" bs=1 seek=10485760 conv=notrunc 2>/dev/null
echo suid > "$T/l2/suid"; chown 1000:1000 "$T/l2/suid"; chmod 4755 "$T/l2/suid"
setfattr -n user.k -v v "$T/l2/file"
setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$T/l2/suid" 2>/dev/null || true

# Lower 1 (top): whiteouts, opaque markers, a merged directory
mknod "$T/l1/wh-char" c 0 0
: > "$T/l1/.wh.wh-dot"
mkdir "$T/l1/opq" "$T/l1/opq2" "$T/l1/d"
setfattr -n trusted.overlay.opaque -v y "$T/l1/opq"
: > "$T/l1/opq2/.wh..wh..opq"
echo top > "$T/l1/d/top"

strata_mount "lowerdir=$T/l1:$T/l2,upperdir=$T/u,workdir=$T/w" "$T/m"
M=$T/m

say "merged view"
[ "$(cat "$M/file")" = base ] || fail "lower file content"
[ ! -e "$M/wh-char" ] || fail "char 0/0 whiteout visible"
[ ! -e "$M/wh-dot" ] || fail ".wh. whiteout visible"
[ ! -e "$M/.wh.wh-dot" ] || fail ".wh. file itself visible"
[ ! -e "$M/opq/hidden" ] || fail "opaque xattr ignored"
[ ! -e "$M/opq2/hidden" ] || fail ".wh..wh..opq ignored"
ls -A "$M/opq2" > "$T/ls"; [ ! -s "$T/ls" ] || fail "opq2 not empty: $(cat "$T/ls")"
assert_eq "$(ls "$M/d" | tr '\n' ' ')" "sub top x " "merged readdir"
assert_eq "$(readlink "$M/link")" file "symlink"
[ -p "$M/fifo" ] && [ -c "$M/chr" ] || fail "fifo/device"
assert_eq "$(stat -c %i "$M/hl1")" "$(stat -c %i "$M/hl2")" "lower hardlinks are one inode"
assert_eq "$(stat -c %h "$M/hl1")" 2 "lower hardlink st_nlink"
assert_eq "$(getfattr --only-values -n user.k "$M/file")" v "lower xattr"
ino_file=$(stat -c %i "$M/file")
ino_d=$(stat -c %i "$M/d")
[ "$(find "$M" | wc -l)" -gt 15 ] || fail "find"

say "copy-up keeps metadata, data and holes"
ls -la "$M/" > /dev/null
echo more >> "$M/file"
assert_eq "$(cat "$T/u/file")" "base
more" "upper data"
assert_eq "$(cat "$T/l2/file")" base "lower untouched"
assert_eq "$(getfattr --only-values -n user.k "$T/u/file")" v "xattr copied up"
touch -d @1000000000.123456789 "$M/sparse"
assert_eq "$(stat -c %s "$T/u/sparse")" 10485761 "sparse size"
[ "$(du -k "$T/u/sparse" | cut -f1)" -lt 1024 ] || fail "holes not kept: $(du -k "$T/u/sparse")"
assert_eq "$(stat -c %y "$M/sparse")" "$(stat -c %y "$T/u/sparse")" "utimens ns"
case "$(stat -c %y "$T/u/sparse")" in *.123456789*) ;; *) fail "ns lost";; esac
setfattr -n user.new -v 1 "$M/suid"
assert_eq "$(stat -c '%a %u %g' "$T/u/suid")" "4755 1000 1000" "owner and set-id mode copied up"
if getfattr -n security.capability "$T/l2/suid" >/dev/null 2>&1; then
	getfattr -n security.capability "$T/u/suid" >/dev/null 2>&1 ||
		fail "security.capability lost in copy-up"
fi
truncate -s 2 "$M/hl1"
assert_eq "$(stat -c %s "$T/l2/hl1")" 3 "truncate changed the lower"
assert_eq "$(stat -c %s "$M/hl1")" 2 "truncate of a lower file"
ls "$T/w/work" > "$T/ls"; [ ! -s "$T/ls" ] || fail "work dir not empty"

say "writes: create, mkdir, unlink/rmdir whiteouts, link, rename"
echo new > "$M/d/new"; mkdir "$M/newdir"; ln -s target "$M/newlink"
rm "$M/d/x"; rm -r "$M/opq2"; rm "$M/link"
[ -c "$T/u/d/x" ] || fail "unlink of a lower file must leave a char 0/0 whiteout"
[ -c "$T/u/opq2" ] || fail "rmdir of a lower dir must leave a whiteout"
assert_eq "$(ls "$M/d" | tr '\n' ' ')" "new sub top " "after unlink"
ln "$M/d/new" "$M/d/new2"
assert_eq "$(stat -c %h "$M/d/new")" 2 "link count"
assert_eq "$(stat -c %i "$M/d/new")" "$(stat -c %i "$M/d/new2")" "link inode"
mv "$M/file" "$M/d/file-moved"
[ -c "$T/u/file" ] || fail "rename of a lower file must leave a whiteout"
mv "$M/ren" "$M/renamed"   # a lower directory: copied up, not EXDEV
assert_eq "$(cat "$M/renamed/deep/f")" deep "renamed lower dir content"
[ ! -e "$M/ren" ] || fail "old dir name still visible"
mkdir "$M/opq2"; [ -z "$(ls -A "$M/opq2")" ] || fail "dir over whiteout not empty"
assert_eq "$(getfattr --only-values -n trusted.overlay.opaque "$T/u/opq2")" y "opaque on recreated dir"
python3 - "$M" <<'PY' || fail "renameat2 flags"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
m = sys.argv[1]
def rn(a, b, fl):
    r = libc.renameat2(-100, (m + "/" + a).encode(), -100, (m + "/" + b).encode(), fl)
    return 0 if r == 0 else ctypes.get_errno()
assert rn("d/new", "d/top", 1) == 17, "NOREPLACE"
assert rn("d/new", "d/top", 2) == 0, "EXCHANGE"
assert open(m + "/d/top").read() == "new\n"
assert open(m + "/d/new").read() == "top\n"
assert rn("d/nonexist", "d/top", 2) == 2
PY

say "inode numbers stable across a remount"
ino_d2=$(stat -c %i "$M/d")
strata_umount "$M"
strata_mount "lowerdir=$T/l1:$T/l2,upperdir=$T/u,workdir=$T/w" "$M"
assert_eq "$(stat -c %i "$M/d")" "$ino_d2" "st_ino of a directory after remount"
assert_eq "$(stat -c %i "$M/hl2")" "$(stat -c %i "$M/hl2")" "st_ino"
[ "$(stat -c %i "$M/wh-char" 2>/dev/null || echo none)" = none ] || fail "whiteout after remount"
# ".wh." whiteouts are a fuse-overlayfs/OCI-tar convention kernel
# overlayfs does not read: leave them out of the comparison.
find "$M" -printf '%P %y %m %s %l\n' | grep -v 'wh-dot' | sort > "$T/strata.view"
strata_umount "$M"

say "kernel overlayfs shows the same tree on strata's upper"
kernel_mount "$T/l1:$T/l2" "$T/u" "$T/kw" "$T/km"
find "$T/km" -printf '%P %y %m %s %l\n' | grep -v 'wh-dot' | sort > "$T/kernel.view"
diff -u "$T/kernel.view" "$T/strata.view" >&2 || fail "views differ"
umount "$T/km"

say "read-only mount, options"
strata_mount "lowerdir=$T/l1:$T/l2,squash_to_root,fsync=0,noacl" "$M"
expect_fail touch "$M/x"
assert_grep "Read-only" "$TEST_TMP/stderr"
assert_eq "$(stat -c %u "$M/suid")" 0 "squash_to_root"
strata_umount "$M"
expect_fail strata-fuse -o "lowerdir=$T/nonexistent" "$M"
assert_grep "nonexistent" "$TEST_TMP/stderr"
expect_fail strata-fuse -o "lowerdir=$T/l1,upperdir=$T/u" "$M"
assert_grep "workdir" "$TEST_TMP/stderr"
expect_fail strata-fuse -o "lowerdir=$T/l1,log=rel.log" "$M"
assert_grep "log: expected an absolute path" "$TEST_TMP/stderr"
expect_fail strata-fuse -o "lowerdir=$T/l1,log=$T/nodir/d.log" "$M"
assert_grep "$T/nodir/d.log: No such file" "$TEST_TMP/stderr"
grep -q " $M " /proc/mounts && fail "mounted despite a bad log="

say "log=: a daemon in the background logs to the file, with times"
mkdir -p "$T/lu" "$T/lw"
track_mount "$M"
STRATA_LOG=debug expect_ok strata-fuse \
	-o "lowerdir=$T/l1,upperdir=$T/lu,workdir=$T/lw,log=$T/d.log" "$M"
for _p in $(daemon_pids "$M"); do track_pid "$_p"; done
echo hi >"$M/logged"
cat "$M/logged" >/dev/null
_dpid=$(daemon_pids "$M")
fusermount3 -u "$M" || fail "fusermount3 -u $M failed"
for _p in $_dpid; do wait_gone "$_p" || fail "strata-fuse $_p did not exit"; done
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z strata-fuse: ' "$T/d.log" || {
	cat "$T/d.log" >&2
	fail "no timestamped strata-fuse line in the log"
}
say ok
