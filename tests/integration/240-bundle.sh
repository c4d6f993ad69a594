#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata bundle: a Debian minbase image with its own Entrypoint, Cmd, Env,
# WorkingDir and User becomes an OCI runtime bundle; `runc run` starts the
# image's command as that user, in that directory, with that environment,
# and its writes land in the container's upper.  A command given after DIR
# replaces Cmd.  A user the image does not have fails with nothing left
# behind; --rm removes mount, container and files.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd runc umoci jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout"
T=$TEST_TMP
STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 2G

# run_bundle DIR ID: runc run, output in $T/out; the container is deleted
# at cleanup whatever happens.
run_bundle() {
	on_cleanup "runc delete -f $2"
	(cd "$1" && runc run "$2") </dev/null >"$T/out" 2>"$T/err" || {
		cat "$T/err" >&2
		fail "runc run $2 failed"
	}
	runc delete -f "$2" >/dev/null 2>&1 || :
}
# bundle_daemon DIR: track the strata-fuse serving DIR/rootfs.
bundle_daemon() {
	track_mount "$1/rootfs"
	_dpid=$(daemon_pids "$1/rootfs")
	[ -n "$_dpid" ] || fail "no strata-fuse daemon for $1/rootfs"
	for _p in $_dpid; do track_pid "$_p"; done
}

say "an image whose config says what to run, and as whom"
L="$T/layout"
cp -a "$OCI" "$L"
# daemon (uid 1, gid 1) is in group adm (4) only through /etc/group after
# the change below, so additionalGids must come from the image's files.
mkdir -p "$T/top/etc"
umoci unpack --image "$L:base" "$T/unpacked" >/dev/null 2>&1 || fail "umoci unpack"
cp "$T/unpacked/rootfs/etc/group" "$T/top/etc/group"
sed -i 's/^adm:x:4:.*/adm:x:4:daemon/' "$T/top/etc/group"
grep -q '^adm:x:4:daemon$' "$T/top/etc/group" || fail "adm group in minbase"
rm -rf "$T/unpacked"
tar -C "$T/top" --numeric-owner --owner=0 --group=0 -cf "$T/top.tar" .
expect_ok umoci raw add-layer --image "$L:base" --tag app "$T/top.tar"
expect_ok umoci config --image "$L:app" --config.entrypoint /bin/sh --config.entrypoint -c \
	--config.cmd 'echo "hello $GREETING"; id -u; id -g; id -G; pwd; echo "$PATH"; touch /tmp/ran' \
	--config.env GREETING=strata --config.workingdir /var/tmp --config.user daemon \
	--config.label org.example.role=test
expect_ok strata import --ref app --name app:1 "$L"

say "bundle and inspect config.json"
B="$T/b1"
expect_ok strata bundle --name b1 app:1 "$B"
bundle_daemon "$B"
assert_eq "$(cat "$TEST_TMP/stdout")" "$B" "strata bundle output"
grep -q " $B/rootfs fuse.strata " /proc/mounts || fail "rootfs is not a strata mount"
C="$B/config.json"
assert_eq "$(jq -c .process.args "$C")" \
	"$(jq -cn '["/bin/sh","-c","echo \"hello $GREETING\"; id -u; id -g; id -G; pwd; echo \"$PATH\"; touch /tmp/ran"]')" \
	"process.args"
assert_eq "$(jq -c .process.user "$C")" '{"uid":1,"gid":1,"additionalGids":[4]}' "process.user"
assert_eq "$(jq -r .process.cwd "$C")" /var/tmp "process.cwd"
assert_eq "$(jq -r .process.terminal "$C")" false "process.terminal"
jq -e '.process.env | index("GREETING=strata")' "$C" >/dev/null || fail "Env"
jq -e '[.process.env[] | select(startswith("PATH="))] | length == 1' "$C" >/dev/null ||
	fail "exactly one PATH"
assert_eq "$(jq -r .root.path "$C")" rootfs "root.path"
assert_eq "$(jq -r .root.readonly "$C")" false "root.readonly"
assert_eq "$(jq -r .hostname "$C")" b1 "hostname"
assert_eq "$(jq -r '[.linux.namespaces[].type] | sort | join(",")' "$C")" \
	ipc,mount,network,pid,uts "namespaces"
assert_eq "$(jq -r '[.mounts[].destination] | join(",")' "$C")" \
	/proc,/dev,/dev/pts,/dev/shm,/dev/mqueue,/sys,/sys/fs/cgroup "mounts"
assert_eq "$(jq -r '.annotations["org.example.role"]' "$C")" test "label annotation"

say "runc run starts the image's own command"
run_bundle "$B" "strata-bundle-$$-1"
assert_eq "$(cat "$T/out")" "hello strata
1
1
1 4
/var/tmp
$(jq -r '.process.env[] | select(startswith("PATH=")) | sub("^PATH="; "")' "$C")" "container output"
UP="$STRATA_STATE_DIR/containers/b1/upper"
[ -f "$UP/tmp/ran" ] || fail "the container's write is not in the upper"
assert_eq "$(stat -c %u "$UP/tmp/ran")" 1 "owner of the container's file"
expect_ok strata ps
assert_grep "^b1 .* app:1 .* mounted .* $B/rootfs\$" "$TEST_TMP/stdout"

say "a command after DIR replaces Cmd (Entrypoint stays)"
B2="$T/b2"
expect_ok strata bundle --hostname box app:1 "$B2" 'echo "override $(hostname) $(id -un)"; cat /etc/debian_version'
bundle_daemon "$B2"
run_bundle "$B2" "strata-bundle-$$-2"
assert_eq "$(head -n 1 "$T/out")" "override box daemon" "overridden command"
assert_eq "$(tail -n 1 "$T/out")" "$(cat "$B/rootfs/etc/debian_version")" "image file read"

say "a user the image does not have: an error, nothing left"
expect_ok umoci config --image "$L:app" --tag nouser --config.user nosuchuser
expect_ok strata import --ref nouser --name nouser:1 "$L"
expect_fail strata bundle --name b3 nouser:1 "$T/b3"
assert_grep "no user 'nosuchuser' in the image's /etc/passwd" "$TEST_TMP/stderr"
[ -e "$T/b3" ] && fail "a failed bundle left its directory"
grep -q " $T/b3/rootfs " /proc/mounts && fail "a failed bundle left its mount"
[ -e "$STRATA_STATE_DIR/containers/b3" ] && fail "a failed bundle left its container"
expect_ok umoci config --image "$L:app" --tag numeric --config.user 1234:5678
expect_ok strata import --ref numeric --name numeric:1 "$L"
expect_ok strata bundle --name b4 --upper-size 1M --upper-inodes 1000 numeric:1 "$T/b4"
bundle_daemon "$T/b4"
assert_eq "$(jq -c .process.user "$T/b4/config.json")" '{"uid":1234,"gid":5678}' "numeric User"
# The limits reach strata-fuse: 2 MiB do not fit in the container layer.
dd if=/dev/zero of="$T/b4/rootfs/big" bs=64k count=32 2>"$T/dd.err" &&
	fail "a 2 MiB write into a bundle limited to 1 MiB succeeded"
assert_grep "Disk quota exceeded" "$T/dd.err"
rm -f "$T/b4/rootfs/big"

say "bad input"
expect_fail strata bundle app:1 "$B"
assert_grep "config.json: File exists" "$TEST_TMP/stderr"
expect_fail strata bundle nosuch:1 "$T/b5"
[ -e "$T/b5" ] && fail "a bad image reference left a directory"
st=0; strata bundle app:1 >/dev/null 2>&1 || st=$?
assert_eq "$st" 2 "bundle without DIR: exit status"

say "--rm: unmounted, container and files gone"
P=$(daemon_pids "$B/rootfs")
expect_ok strata bundle --rm "$B"
grep -q " $B/rootfs " /proc/mounts && fail "--rm left the mount"
for p in $P; do wait_gone "$p" || fail "daemon $p still running"; done
[ -e "$B" ] && fail "--rm left $B"
[ -e "$STRATA_STATE_DIR/containers/b1" ] && fail "--rm left the container"
expect_ok strata umount "$B2/rootfs"
expect_ok strata bundle --rm "$B2"
[ -e "$B2" ] && fail "--rm of an unmounted bundle left $B2"
expect_ok strata bundle --rm "$T/b4"
assert_eq "$(ls -A "$STRATA_STATE_DIR/containers")" "" "containers left"
say ok
