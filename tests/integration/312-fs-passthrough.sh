#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# FUSE passthrough (fs/passthrough.c): with the daemon stopped (SIGSTOP),
# an open upper file - created through the mount or already in the upper -
# can still be read and written, and an open lower file read, because the
# kernel goes to the file directly.  Then the same semantics with
# passthrough on, upper-only and off: writing, truncating or O_TRUNC-opening
# a lower file while it is open for reading (the kernel's rule: every open
# of a file open in passthrough mode shares its backing file, so the
# writer is sent to a new node), a hardlinked lower file, sizes seen at
# once, ftruncate, MAP_SHARED writes, concurrent O_APPEND writers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd python3 timeout
T=$TEST_TMP
M=$T/m

kernel_has_passthrough() { # Linux 6.9+ built with CONFIG_FUSE_PASSTHROUGH
	_v=$(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
	set -- $_v
	[ "$1" -gt 6 ] || { [ "$1" -eq 6 ] && [ "$2" -ge 9 ]; } || return 1
	[ ! -r /proc/config.gz ] || zcat /proc/config.gz | grep -q '^CONFIG_FUSE_PASSTHROUGH=y'
}

fresh() { # mount with OPTS in $1 over a new lower/upper
	rm -rf "$T/l" "$T/u" "$T/w"
	mkdir -p "$T/l" "$T/u" "$T/w" "$M"
	echo lower > "$T/l/lf"
	echo truncate-me > "$T/l/tf"
	echo replace-me > "$T/l/of"
	echo linked > "$T/l/h1"
	ln "$T/l/h1" "$T/l/h2"
	head -c 1048576 /dev/urandom > "$T/u/uf"
	cp "$T/u/uf" "$T/uf.orig"
	strata_mount "lowerdir=$T/l,upperdir=$T/u,workdir=$T/w$1" "$M"
}

stopped=
on_cleanup '[ -z "$stopped" ] || kill -CONT "$stopped" 2>/dev/null'
stop_daemon() { kill -STOP "$_fs_pid"; stopped=$_fs_pid; }
cont_daemon() { kill -CONT "$_fs_pid"; stopped=; }

# while_stopped OPEN IO: a child shell runs OPEN (opening descriptors)
# with the daemon running, then IO once the daemon is stopped; whatever
# needed the daemon would wait for it, so IO gets 10 s before the daemon
# goes on.  Only the child holds the descriptors: a close (FLUSH) in this
# shell could wait for the stopped daemon.  Sets early=1 when IO was done
# in time; returns the child's status.
while_stopped() {
	rm -f "$T/opened" "$T/stopped" "$T/done"
	( eval "$1" && : > "$T/opened" &&
	  while [ ! -e "$T/stopped" ]; do sleep 0.05; done &&
	  eval "$2" && : > "$T/done" ) &
	io=$!
	for _ in $(seq 200); do
		[ -e "$T/opened" ] || ! kill -0 "$io" 2>/dev/null && break
		sleep 0.05
	done
	[ -e "$T/opened" ] || { wait "$io"; return 1; }
	stop_daemon
	: > "$T/stopped"
	for _ in $(seq 200); do
		[ -e "$T/done" ] || ! kill -0 "$io" 2>/dev/null && break
		sleep 0.05
	done
	[ -e "$T/done" ] && early=1 || early=
	cont_daemon
	wait "$io"
}

if kernel_has_passthrough; then
	# The first write() of a file asks the daemon for security.capability
	# (the kernel's file_remove_privs); later ones do not, as the mount
	# is SB_NOSEC with FUSE_HANDLE_KILLPRIV_V2 (fs/killpriv.c).
	say "passthrough: I/O on open upper files with the daemon stopped"
	fresh ""
	while_stopped 'exec 3<"$M/uf" 4<"$M/lf" 5<>"$M/created" &&
		printf created >&5' \
		'cat <&3 > "$T/read" && cat <&4 > "$T/readl" &&
		python3 -c "import os; os.pwrite(5, b\"C\", 0)" &&
		python3 -c "import os; os.write(1, os.pread(5, 100, 0))" > "$T/read5"' ||
		fail "reads of passthrough files failed"
	[ -n "$early" ] || fail "I/O on open upper files waited for the (stopped) daemon"
	cmp "$T/read" "$T/uf.orig" || fail "data read through passthrough"
	assert_eq "$(cat "$T/readl")" lower "lower file read through passthrough"
	assert_eq "$(cat "$T/read5")" Created "read of a file created through the mount"
	assert_eq "$(cat "$T/u/created")" Created "writes landed in the upper"
	strata_umount "$M"

	# A mount without an upper passes its (lower) files through too.
	say "passthrough: a read-only mount, daemon stopped"
	strata_mount "lowerdir=$T/l" "$M"
	while_stopped 'exec 4<"$M/lf"' 'cat <&4 > "$T/readro"' ||
		fail "read of a passthrough file on a read-only mount failed"
	[ -n "$early" ] || fail "a read on a read-only mount waited for the (stopped) daemon"
	assert_eq "$(cat "$T/readro")" lower "read on a read-only mount"
	strata_umount "$M"
else
	say "SKIP passthrough check: kernel $(uname -r) has no FUSE passthrough"
fi

for opts in "" ",passthrough=upper" ",passthrough=0"; do
	say "semantics (options '$opts')"
	fresh "$opts"
	python3 - "$M" <<'PY' || fail "semantics with '$opts'"
import mmap, os, subprocess, sys
m = sys.argv[1]
def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")

# copy-up while the lower file is open for reading
ro = os.open(m + "/lf", os.O_RDONLY)
check("lower read", os.pread(ro, 100, 0), b"lower\n")
wr = os.open(m + "/lf", os.O_WRONLY | os.O_APPEND)
os.write(wr, b"more\n")
os.close(wr)
os.close(ro)
check("after copy-up", open(m + "/lf", "rb").read(), b"lower\nmore\n")
check("upper copy", open(m + "/../u/lf", "rb").read(), b"lower\nmore\n")
# truncate(2) and an O_TRUNC open of lower files open for reading; the
# readers' descriptors keep working
ro = os.open(m + "/tf", os.O_RDONLY)
check("lower read 2", os.pread(ro, 100, 0), b"truncate-me\n")
os.truncate(m + "/tf", 5)
check("after truncate", open(m + "/tf", "rb").read(), b"trunc")
check("size after truncate", os.stat(m + "/tf").st_size, 5)
os.pread(ro, 100, 0)
os.fstat(ro)
os.close(ro)
ro = os.open(m + "/of", os.O_RDONLY)
with open(m + "/of", "wb") as f:
    f.write(b"new\n")
check("after O_TRUNC open", open(m + "/of", "rb").read(), b"new\n")
os.close(ro)
# a hardlinked lower file written through one name while open through
# the other: both names show the write
ro = os.open(m + "/h1", os.O_RDONLY)
check("hardlink read", os.pread(ro, 100, 0), b"linked\n")
with open(m + "/h2", "ab") as f:
    f.write(b"more\n")
check("hardlink other name", open(m + "/h1", "rb").read(), b"linked\nmore\n")
check("hardlink nlink", os.stat(m + "/h1").st_nlink, 2)
os.close(ro)
# and again, now that the data is in the upper
with open(m + "/lf", "ab") as f:
    f.write(b"again\n")
check("second append", open(m + "/lf", "rb").read(), b"lower\nmore\nagain\n")

# sizes and times are current at once
fd = os.open(m + "/sz", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"x" * 12345)
check("fstat size", os.fstat(fd).st_size, 12345)
check("stat size", os.stat(m + "/sz").st_size, 12345)
os.ftruncate(fd, 100)
check("size after ftruncate", os.stat(m + "/sz").st_size, 100)
check("read after ftruncate", len(os.pread(fd, 1000, 0)), 100)
os.close(fd)

# MAP_SHARED writes reach the upper file
fd = os.open(m + "/uf", os.O_RDWR)
mm = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
mm[0:6] = b"MAPPED"
mm.flush(); mm.close(); os.close(fd)
check("mapped write via mount", open(m + "/uf", "rb").read(6), b"MAPPED")
check("mapped write in upper", open(m + "/../u/uf", "rb").read(6), b"MAPPED")

# concurrent O_APPEND writers lose nothing
code = ("import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_APPEND|os.O_CREAT,0o644)\n"
        "for i in range(2000): os.write(fd, b'%s %d\\n' % (sys.argv[2].encode(), i))\n")
ps = [subprocess.Popen([sys.executable, "-c", code, m + "/log", w]) for w in "ab"]
for p in ps:
    check("writer exit", p.wait(), 0)
lines = open(m + "/log", "rb").read().splitlines()
check("appended lines", len(lines), 4000)
check("distinct lines", len(set(lines)), 4000)
PY
	strata_umount "$M"
	strata_mount "lowerdir=$T/l,upperdir=$T/u,workdir=$T/w$opts" "$M"
	assert_eq "$(cat "$M/lf")" "lower
more
again" "copy-up after remount"
	assert_eq "$(wc -l < "$M/log")" 4000 "appends after remount"
	strata_umount "$M"
done
say ok
