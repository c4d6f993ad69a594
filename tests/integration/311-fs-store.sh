#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Store-backed lowers: images imported into a store and mounted with
# `strata mount` (lowerdir=store:STORE@DIFFID).  The merged tree must equal
# the image's tar unpacked (content, modes, owners, times, symlinks,
# hardlinks) and kernel overlayfs over that copy; a chroot into minbase runs
# a command; writes and copy-ups of store files land in the upper and come
# back after `strata umount` and a remount; whiteouts and opaque
# directories of an upper image layer hide what they should.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
. "$STRATA_SRCDIR/tests/lib/images.sh"
FSDIFF=$(fsdiff_bin)
[ -x "$FSDIFF" ] || fail "fsdiff helper not built"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"
T=$TEST_TMP

STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 2G

# manifest DIR: one line per entry (not the root): path, type, mode, owner,
# size (not for directories), nlink (not for directories), mtime, symlink
# target, and the first name of its hardlink group.
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%U|%G|%s|%n|%T@|%l|%i\n') |
		sort | awk -F'|' '{
			if ($2 == "d") { $6 = "-"; $7 = "-" }
			if (!($10 in grp)) grp[$10] = $1
			$10 = grp[$10]; print }' OFS='|'
}

say "import the tiny image"
expect_ok strata import --tar --name tiny:1 "$TINY"
mkdir -p "$T/tiny.ref"
tar -C "$T/tiny.ref" --numeric-owner --xattrs --xattrs-include='*' -xpf "$TINY"

say "mount it and compare with the unpacked tar"
smount tiny:1 "$T/m1" --name c1
UP="$STRATA_STATE_DIR/containers/c1/upper"
[ -d "$UP" ] && [ -d "$STRATA_STATE_DIR/containers/c1/work" ] ||
	fail "default upper/work not under the state directory"
manifest "$T/tiny.ref" >"$T/ref.man"
manifest "$T/m1" >"$T/m1.man"
diff -u "$T/ref.man" "$T/m1.man" || fail "merged tree differs from the tar"
"$FSDIFF" tree "$T/tiny.ref" "$T/m1" || fail "merged tree differs from the tar (fsdiff)"
cmp "$T/tiny.ref/var/lib/data/sub/big4m" "$T/m1/var/lib/data/sub/big4m" ||
	fail "big file content"
[ "$(stat -c %i "$T/m1/var/lib/data/f65536")" = \
  "$(stat -c %i "$T/m1/var/lib/data/hardlink-f65536")" ] ||
	fail "hardlinked names are not one inode"
assert_eq "$(readlink "$T/m1/var/lib/link-f4096")" ../lib/data/f4096 "symlink"

say "compare with kernel overlayfs over the unpacked copy"
mkdir -p "$T/ku" "$T/kw" "$T/km"
kernel_mount "$T/tiny.ref" "$T/ku" "$T/kw" "$T/km"
"$FSDIFF" tree "$T/km" "$T/m1" || fail "differs from kernel overlayfs"
umount "$T/km"

say "writes land in the upper; copy-up of store files"
echo new >"$T/m1/newfile"
[ "$(cat "$UP/newfile")" = new ] || fail "new file not in the upper"
echo appended >>"$T/m1/var/lib/data/f4096"
[ -f "$UP/var/lib/data/f4096" ] || fail "f4096 not copied up"
{ cat "$T/tiny.ref/var/lib/data/f4096"; echo appended; } >"$T/f4096.exp"
cmp "$T/f4096.exp" "$T/m1/var/lib/data/f4096" || fail "copied-up content"
cmp "$T/f4096.exp" "$UP/var/lib/data/f4096" || fail "upper copy content"
chmod 0640 "$T/m1/var/lib/data/f1"
assert_eq "$(stat -c %a "$T/m1/var/lib/data/f1")" 640 "chmod of a store file"
rm "$T/m1/etc/motd"
[ -e "$T/m1/etc/motd" ] && fail "removed store file still visible"
ino_before=$(stat -c %i "$T/m1/var/lib/data/f131073")
sumount "$T/m1"

say "remount: the upper changes are back"
smount tiny:1 "$T/m1" --name c1
[ "$(cat "$T/m1/newfile")" = new ] || fail "new file lost"
cmp "$T/f4096.exp" "$T/m1/var/lib/data/f4096" || fail "copied-up file lost"
[ -e "$T/m1/etc/motd" ] && fail "whiteout lost"
assert_eq "$(stat -c %i "$T/m1/var/lib/data/f131073")" "$ino_before" "st_ino across remounts"
cmp "$T/tiny.ref/var/lib/data/f1048576" "$T/m1/var/lib/data/f1048576" || fail "lower file"
sumount "$T/m1"

say "explicit --upper/--work"
mkdir -p "$T/u2" "$T/w2"
smount tiny:1 "$T/m2" --upper "$T/u2" --work "$T/w2"
echo x >"$T/m2/x"
[ -f "$T/u2/x" ] || fail "--upper not used"
sumount "$T/m2"

say "non-ASCII names: UTF-8 in pax headers without warnings, other bytes kept"
mkdir -p "$T/nonascii"
echo hi >"$T/nonascii/Főtanúsítvány.pem"
printf x >"$T/nonascii/$(printf 'raw\377name')"
tar -C "$T/nonascii" --format=pax -cf "$T/nonascii.tar" .
expect_ok strata import --tar --name nonascii:1 "$T/nonascii.tar"
grep -q "Főtanúsítvány.*converted" "$TEST_TMP/stderr" &&
	fail "warning about a UTF-8 name: $(cat "$TEST_TMP/stderr")"
smount nonascii:1 "$T/m7" --name c7
[ "$(cat "$T/m7/Főtanúsítvány.pem")" = hi ] || fail "UTF-8 name"
[ "$(cat "$T/m7/$(printf 'raw\377name')")" = x ] || fail "non-UTF-8 name bytes"
sumount "$T/m7"

say "a killed daemon: strata umount cleans up"
smount tiny:1 "$T/m3" --name c3
for _p in $(daemon_pids "$T/m3"); do kill -9 "$_p"; wait_gone "$_p" || :; done
expect_ok strata umount "$T/m3"
grep -q " $T/m3 " /proc/mounts && fail "dead mount still there"

if command -v python3 >/dev/null 2>&1; then
	say "a corrupt chunk: EIO on that file only"
	# A copy of the store with one byte of big4m's (incompressible, so
	# stored raw) data flipped.
	cp --sparse=always "$STRATA_STORE" "$T/bad.img"
	off=$(python3 - "$T/tiny.ref/var/lib/data/sub/big4m" "$T/bad.img" <<'PY'
import mmap, sys
pat = open(sys.argv[1], 'rb').read()[1000000:1000064]
with open(sys.argv[2], 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    print(m.find(pat))
PY
)
	[ "$off" -gt 0 ] || fail "big4m data not found in the store"
	printf '\377' | dd of="$T/bad.img" bs=1 seek=$((off + 10)) conv=notrunc status=none
	STRATA_STORE="$T/bad.img"
	smount tiny:1 "$T/m6" --name c6
	cat "$T/m6/var/lib/data/sub/big4m" >/dev/null 2>"$T/cat.err" &&
		fail "reading a corrupt chunk succeeded"
	assert_grep 'Input/output error' "$T/cat.err"
	# The daemon's log (strata mount's log=) names the layer and the file.
	assert_grep "store layer sha256:[0-9a-f]*: .*big4m: read at" \
		"$STRATA_STATE_DIR/containers/c6/daemon.log"
	cmp "$T/tiny.ref/var/lib/data/f1048576" "$T/m6/var/lib/data/f1048576" ||
		fail "another file of the corrupt store"
	sumount "$T/m6"
	STRATA_STORE="$T/store.img"
fi

MINTAR=$(image_minbase_tar 2>/dev/null) || MINTAR=
if [ -z "$MINTAR" ]; then
	say "no minbase image (no Debian mirror?): minbase part skipped"
	say ok
	exit 0
fi

say "import minbase"
expect_ok strata import --tar --name minbase:1 "$MINTAR"
mkdir -p "$T/min.ref"
tar -C "$T/min.ref" --numeric-owner --xattrs --xattrs-include='*' -xpf "$MINTAR"
smount minbase:1 "$T/m4" --name c4
manifest "$T/min.ref" >"$T/ref.man"
manifest "$T/m4" >"$T/m4.man"
diff -u "$T/ref.man" "$T/m4.man" >"$T/man.diff" || {
	head -n 40 "$T/man.diff" >&2
	fail "minbase merged tree differs from the tar"
}
"$FSDIFF" tree "$T/min.ref" "$T/m4" || fail "minbase differs from the tar (fsdiff)"
mkdir -p "$T/ku2" "$T/kw2" "$T/km2"
kernel_mount "$T/min.ref" "$T/ku2" "$T/kw2" "$T/km2"
"$FSDIFF" tree "$T/km2" "$T/m4" || fail "minbase differs from kernel overlayfs"
umount "$T/km2"

say "chroot into the minbase mount"
out=$(chroot "$T/m4" /bin/sh -c 'cat /etc/debian_version; dpkg-query -W -f "\${Package}\n" dpkg') ||
	fail "chroot command failed"
assert_eq "$out" "$(cat "$T/min.ref/etc/debian_version")
dpkg" "chroot output"
chroot "$T/m4" /bin/sh -c 'echo hello >/root/hello && sort /etc/passwd >/tmp/p' ||
	fail "writing from the chroot"
[ -f "$STRATA_STATE_DIR/containers/c4/upper/root/hello" ] || fail "chroot write not in the upper"
sumount "$T/m4"

if command -v umoci >/dev/null 2>&1; then
	say "two layers: whiteout and opaque directory of the top layer"
	OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout"
	L="$T/layout"
	cp -a "$OCI" "$L"
	mkdir -p "$T/app/etc/app" "$T/app/usr/share"
	echo "app config" >"$T/app/etc/app/app.conf"
	: >"$T/app/etc/.wh.motd"
	: >"$T/app/usr/share/.wh..wh..opq"
	echo keep >"$T/app/usr/share/only"
	tar -C "$T/app" --numeric-owner --owner=0 --group=0 -cf "$T/app.tar" .
	expect_ok umoci raw add-layer --image "$L:base" --tag app "$T/app.tar"
	expect_ok strata import --ref app --name app:1 "$L"
	smount app:1 "$T/m5" --name c5
	[ -e "$T/m5/etc/motd" ] && fail "whiteout of the top layer ignored"
	assert_eq "$(ls "$T/m5/usr/share")" only "opaque directory"
	assert_eq "$(cat "$T/m5/etc/app/app.conf")" "app config" "top layer file"
	cmp "$T/min.ref/etc/passwd" "$T/m5/etc/passwd" || fail "base layer file"
	chroot "$T/m5" /bin/true || fail "chroot into the two-layer image"
	sumount "$T/m5"
fi
say ok
