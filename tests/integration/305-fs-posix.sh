#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# POSIX behaviour of the merged view, each check run on kernel overlayfs
# (the reference: the checks must hold there too) and on strata-fuse with
# the same lowers: readdir offsets, rename flags, O_TMPFILE, mmap
# MAP_SHARED, fallocate, copy_file_range, locks, utimensat, fsync, statfs,
# unix sockets, special files and their copy-up, xattrs (security.capability
# survives copy-up), POSIX ACLs (access, default inheritance, enforcement),
# truncate of lower files, sparse copy-up, st_dev.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd getfattr setfattr getfacl setfacl setpriv python3
FSOPS=$STRATA_BUILDDIR/tests/integration/fsops
[ -x "$FSOPS" ] || fail "fsops helper not built"
T=$TEST_TMP
chmod 755 "$T" # the ACL checks run as an unprivileged user

mklayers() { # ROOT
	R=$1
	mkdir -p "$R/l1/big" "$R/l2/big" "$R/l1/rf" "$R/l2/rf" "$R/u" "$R/w" "$R/m"
	for i in $(seq 120); do : > "$R/l2/big/l2-$i"; done
	for i in $(seq 80); do : > "$R/l1/big/l1-$i"; done
	for i in $(seq 10); do : > "$R/l1/big/l2-$i"; done       # shadows
	for i in $(seq 11 20); do mknod "$R/l1/big/l2-$i" c 0 0; done # whiteouts
	echo A > "$R/l2/rf/a"
	echo B > "$R/l1/rf/b"
	head -c 16384 /dev/urandom > "$R/l2/mm"
	head -c 8192 /dev/urandom > "$R/l2/fa"
	head -c 3000000 /dev/urandom > "$R/l2/cfr-src"
	echo lock > "$R/l2/lk"
	echo ut > "$R/l2/ut"
	echo fs > "$R/l2/fsy"
	mknod "$R/l2/chr" c 1 3
	mkfifo "$R/l2/fifo"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$R/l2/sock"
	ln -s target "$R/l2/sym"
	echo cap > "$R/l2/capf"
	setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$R/l2/capf"
	setfattr -n user.k -v v1 "$R/l2/capf"
	setfattr -n trusted.t -v v2 "$R/l2/capf"
	echo acl > "$R/l2/acl-lower"
	setfacl -m u:1234:rw "$R/l2/acl-lower"
	echo secret > "$R/l2/acl-perm"; chmod 600 "$R/l2/acl-perm"
	mkdir "$R/l2/acld"
	echo trunc > "$R/l2/trunc1"; echo trunc > "$R/l2/trunc2"; echo trunc > "$R/l2/trunc3"
	printf 'head' > "$R/l2/holes"
	printf 'tail' | dd of="$R/l2/holes" bs=1 seek=9437184 conv=notrunc 2>/dev/null
}

# checks MNT UPPER NAME MAXHOLEKB: everything that must hold on both implementations.
checks() {
	M=$1 U=$2 N=$3
	say "$N: readdir offsets"
	"$FSOPS" readdir "$M/big" || fail "$N: readdir"
	say "$N: rename flags"
	"$FSOPS" renameflags "$M/rf" || fail "$N: rename flags"
	say "$N: O_TMPFILE: $("$FSOPS" tmpfile "$M/rf")" || fail "$N: O_TMPFILE"
	say "$N: mmap, fallocate, copy_file_range, locks, utimensat, fsync, statfs"
	"$FSOPS" mmap "$M/mm" || fail "$N: mmap"
	"$FSOPS" fallocate "$M/fa" || fail "$N: fallocate"
	"$FSOPS" cfr "$M/cfr-src" "$M/cfr-dst" || fail "$N: copy_file_range"
	"$FSOPS" locks "$M/lk" || fail "$N: locks"
	"$FSOPS" utimens "$M/ut" || fail "$N: utimensat"
	"$FSOPS" fsync "$M/fsy" || fail "$N: fsync"
	"$FSOPS" statfs "$M" "$U" || fail "$N: statfs"
	"$FSOPS" socket "$M/newsock" || fail "$N: unix socket"

	say "$N: special files"
	mknod "$M/newchr" c 1 7 && mkfifo "$M/newfifo" && ln -s x "$M/newsym" ||
		fail "$N: creating special files"
	assert_eq "$(stat -c '%F %t:%T' "$M/newchr")" "character special file 1:7" "$N: mknod"
	assert_eq "$(stat -c %F "$M/newfifo")" "fifo" "$N: mkfifo"
	expect_fail mknod "$M/wh" c 0 0 # a whiteout cannot be created
	[ ! -e "$M/wh" ] || fail "$N: a whiteout became visible"
	chown 7:8 "$M/chr" "$M/fifo" "$M/sock" || fail "$N: chown of lower specials"
	chown -h 7:8 "$M/sym" || fail "$N: chown -h of a lower symlink"
	assert_eq "$(stat -c '%F %t:%T %u:%g' "$M/chr")" "character special file 1:3 7:8" "$N: chr copy-up"
	assert_eq "$(stat -c '%F %u:%g' "$M/fifo")" "fifo 7:8" "$N: fifo copy-up"
	assert_eq "$(stat -c '%F %u:%g' "$M/sock")" "socket 7:8" "$N: socket copy-up"
	assert_eq "$(stat -c '%F %u:%g' "$M/sym") $(readlink "$M/sym")" "symbolic link 7:8 target" "$N: symlink copy-up"
	[ -c "$U/chr" ] && [ -p "$U/fifo" ] && [ -S "$U/sock" ] && [ -L "$U/sym" ] ||
		fail "$N: specials not copied up"

	say "$N: xattrs"
	cap=$(getfattr --absolute-names -e base64 --only-values -n security.capability "$M/capf")
	setfattr -n user.new -v x "$M/capf" || fail "$N: setfattr on a lower file"
	assert_eq "$(getfattr --absolute-names -e base64 --only-values -n security.capability "$U/capf")" "$cap" "$N: security.capability copied up"
	assert_eq "$(getfattr --absolute-names --only-values -n trusted.t "$M/capf")" v2 "$N: trusted xattr"
	assert_eq "$(getfattr --absolute-names --only-values -n user.k "$M/capf")" v1 "$N: user xattr"
	getfattr --absolute-names -d -m - "$M/capf" > "$T/xattrs.$N"
	! grep -q overlay "$T/xattrs.$N" || fail "$N: overlay xattrs visible"
	setfattr -x user.k "$M/capf" || fail "$N: removexattr"
	expect_fail getfattr -n user.k "$M/capf"
	expect_fail setfattr -x user.nothere "$M/capf"

	say "$N: POSIX ACLs"
	getfacl -cp "$M/acl-lower" | grep -q '^user:1234:rw-' || fail "$N: lower ACL not visible"
	echo more >> "$M/acl-lower"
	getfacl -cp "$U/acl-lower" | grep -q '^user:1234:rw-' || fail "$N: ACL lost in copy-up"
	setpriv --reuid=1234 --regid=1234 --clear-groups cat "$M/acl-perm" 2>/dev/null &&
		fail "$N: mode 600 file readable before the ACL"
	setfacl -m u:1234:r "$M/acl-perm" || fail "$N: setfacl"
	getfacl -cp "$M/acl-perm" | grep -q '^user:1234:r--' || fail "$N: getfacl after setfacl"
	setpriv --reuid=1234 --regid=1234 --clear-groups cat "$M/acl-perm" >/dev/null ||
		fail "$N: ACL not enforced"
	setfacl -d -m u:1234:rwx "$M/acld" || fail "$N: default ACL"
	(umask 077 && touch "$M/acld/new" && mkdir "$M/acld/sub") || fail "$N: create under a default ACL"
	getfacl -cp "$M/acld/new" > "$T/acl.$N"
	assert_grep '^user:1234:rwx' "$T/acl.$N"
	assert_grep '^mask::rw-' "$T/acl.$N"
	getfacl -cp "$M/acld/sub" | grep -q '^default:user:1234:rwx' || fail "$N: default ACL not inherited by a directory"
	assert_eq "$(stat -c %a "$M/acld/new")" 664 "$N: mode under a default ACL (umask ignored)"
	(umask 077 && touch "$M/plain-umask") && assert_eq "$(stat -c %a "$M/plain-umask")" 600 "$N: umask applied without a default ACL"

	say "$N: truncate of lower files, sparse copy-up"
	truncate -s 0 "$M/trunc1" && truncate -s 100000 "$M/trunc2" && : > "$M/trunc3" ||
		fail "$N: truncate"
	assert_eq "$(stat -c %s "$M/trunc1") $(stat -c %s "$M/trunc2") $(stat -c %s "$M/trunc3")" "0 100000 0" "$N: sizes after truncate"
	assert_eq "$(head -c 5 "$M/trunc2")" trunc "$N: truncate up keeps data"
	echo x >> "$M/holes"
	assert_eq "$(stat -c %s "$U/holes")" 9437190 "$N: size after append"
	# Kernel overlayfs copies in 1 MiB chunks around data; strata per extent.
	[ "$(du -k "$U/holes" | cut -f1)" -le "$4" ] || fail "$N: hole not kept: $(du -k "$U/holes")"

	say "$N: st_dev"
	dev=$(stat -c %d "$M")
	find "$M" -exec stat -c %d {} + | sort -u > "$T/devs.$N"
	assert_eq "$(cat "$T/devs.$N")" "$dev" "$N: st_dev differs inside the mount"
}

say "kernel overlayfs (reference)"
K=$T/k
mklayers "$K"
kernel_mount "$K/l1:$K/l2" "$K/u" "$K/w" "$K/m"
checks "$K/m" "$K/u" kernel 2048
umount "$K/m"

S=$T/s
mklayers "$S"
strata_mount "lowerdir=$S/l1:$S/l2,upperdir=$S/u,workdir=$S/w" "$S/m"
checks "$S/m" "$S/u" strata 64
strata_umount "$S/m"
ls -A "$S/w/work" > "$T/ls"; [ ! -s "$T/ls" ] || fail "work directory not empty: $(cat "$T/ls")"
say ok
