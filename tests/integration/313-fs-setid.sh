#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set-user-ID and set-group-ID bits and security.capability on writes
# (fs/killpriv.c), the same as kernel overlayfs: a write, truncate,
# O_TRUNC open or fallocate by a user without CAP_FSETID clears S_ISUID,
# and S_ISGID if group-execute is set or the user is not in the file's
# group; root keeps them; chown clears them; any write drops
# security.capability.  The daemon writes the upper as
# root, so strata must clear the bits itself (FUSE_HANDLE_KILLPRIV_V2).
# The same steps run on kernel overlayfs and on strata-fuse with
# passthrough on and off; the resulting modes, owners, sizes and
# capabilities must match, and must be what the rules above say.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd setpriv setfattr getfattr fallocate truncate
T=$TEST_TMP
chmod 755 "$T" # the writes run as an unprivileged user
CAP=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=

mkdir -p "$T/l"
echo lower > "$T/l/lsuid"
chmod 4777 "$T/l/lsuid"
echo lower > "$T/l/lcap"
setfattr -n security.capability -v "$CAP" "$T/l/lcap" ||
	skip "security.capability cannot be set here"

user() { setpriv --reuid=1001 --regid=1001 --clear-groups -- "$@"; }

# steps MNT: the same operations on any mount; prints the outcome.
steps() {
	m=$1
	for f in w t o a r c g; do
		echo data > "$m/$f" || fail "create $f"
	done
	chmod 6777 "$m/w" "$m/t" "$m/o" "$m/a" "$m/r" "$m/c"
	chmod 2666 "$m/g" # no group-execute: cleared as the writer is not in group 0
	echo cap > "$m/cap"
	setfattr -n security.capability -v "$CAP" "$m/cap" || fail "setfattr cap"
	user sh -c "echo more >> '$m/w'" || fail "user write"
	user truncate -s 2 "$m/t" || fail "user truncate"
	user sh -c ": > '$m/o'" || fail "user O_TRUNC open"
	user fallocate -l 65536 "$m/a" || fail "user fallocate"
	echo more >> "$m/r" || fail "root write"
	chown 1001:1001 "$m/c" || fail "chown"
	user sh -c "echo more >> '$m/g'" || fail "user write sgid"
	user sh -c "echo more >> '$m/lsuid'" || fail "user write lower suid"
	echo more >> "$m/cap" || fail "root write cap"
	echo more >> "$m/lcap" || fail "root write lower cap"
	# A second write after the first cleared the bits (the kernel may
	# then know the file needs nothing), and a chmod back to set-ID.
	user sh -c "echo again >> '$m/w'" || fail "user write again"
	chmod 4777 "$m/w"
	user sh -c "echo again >> '$m/w'" || fail "user write after chmod"
	for f in w t o a r c g lsuid cap lcap; do
		c=$(getfattr --absolute-names --only-values -e base64 \
			-n security.capability "$m/$f" 2>/dev/null) || c=none
		echo "$f $(stat -c '%a %u %g %s' "$m/$f") cap=$c"
	done
}

say "kernel overlayfs"
mkdir -p "$T/ku" "$T/kw" "$T/km"
kernel_mount "$T/l" "$T/ku" "$T/kw" "$T/km"
steps "$T/km" > "$T/kernel.out"
umount "$T/km" || fail "umount kernel overlayfs"

# What the rules give, so that both cannot be wrong the same way.
cat > "$T/want" <<EOF
w 777 0 0 22 cap=none
t 777 0 0 2 cap=none
o 777 0 0 0 cap=none
a 777 0 0 65536 cap=none
r 6777 0 0 10 cap=none
c 777 1001 1001 5 cap=none
g 666 0 0 10 cap=none
lsuid 777 0 0 11 cap=none
cap 644 0 0 9 cap=none
lcap 644 0 0 11 cap=none
EOF
diff -u "$T/want" "$T/kernel.out" >&2 ||
	fail "kernel overlayfs does not behave as this test expects"

for opts in "" ",passthrough=0" ",upper_size=1G"; do
	say "strata-fuse (options '$opts')"
	rm -rf "$T/u" "$T/w"
	mkdir -p "$T/u" "$T/w" "$T/m"
	strata_mount "lowerdir=$T/l,upperdir=$T/u,workdir=$T/w$opts" "$T/m"
	steps "$T/m" > "$T/strata.out"
	diff -u "$T/kernel.out" "$T/strata.out" >&2 ||
		fail "strata-fuse ('$opts') differs from kernel overlayfs"
	# What the upper holds, not only what the mount says.
	assert_eq "$(stat -c %a "$T/u/w" "$T/u/lsuid" "$T/u/r" | tr '\n' ' ')" \
		"777 777 6777 " "modes in the upper ('$opts')"
	strata_umount "$T/m"
done
say ok
