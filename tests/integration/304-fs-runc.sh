#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A real container: runc, then crun, run commands in a Debian minbase
# rootfs served by strata-fuse; their writes land in the upper, in overlayfs
# format.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd runc tar
. "$STRATA_SRCDIR/tests/lib/images.sh"
tar=$(image_minbase_tar) || skip "cannot build the Debian minbase image"
T=$TEST_TMP
mkdir -p "$T/lower" "$T/u" "$T/w" "$T/b/rootfs"
tar -C "$T/lower" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar"
strata_mount "lowerdir=$T/lower,upperdir=$T/u,workdir=$T/w" "$T/b/rootfs"
cd "$T/b"
runc spec
jq '.process.terminal = false | .root.readonly = false |
    .process.args = ["/bin/sh", "-c", "echo hello > /root/out && rm /etc/issue && mkdir -p /var/tmp/x && apt-get --version | head -1 && ls /usr/bin | wc -l"]' \
	config.json > config.json.new && mv config.json.new config.json
id=strata-fs-$$
on_cleanup "runc delete -f $id"
runc run "$id" < /dev/null > "$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "runc run failed"; }
assert_grep "^apt " "$T/out"
assert_eq "$(cat "$T/u/root/out")" hello "container write in the upper"
[ -c "$T/u/etc/issue" ] || fail "container delete is not a whiteout in the upper"
[ -d "$T/u/var/tmp/x" ] || fail "container mkdir not in the upper"
[ -e "$T/lower/etc/issue" ] || fail "lower changed"

say "crun"
command -v crun >/dev/null 2>&1 || skip "runc passed; crun is not installed"
jq '.process.args = ["/bin/sh", "-c", "echo crun > /root/out-crun && rm /etc/os-release && cat /root/out && ls /etc/issue 2>&1; mkdir /var/tmp/x/y && test -d /var/tmp/x/y && echo done"]' \
	config.json > config.json.new && mv config.json.new config.json
cid=strata-fs-crun-$$
on_cleanup "crun delete -f $cid"
# crun 1.8 refuses the hybrid cgroup layout here: hide cgroup v2's mount.
unshare -m --propagation private sh -c \
	'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec crun run "$1"' \
	sh "$cid" < /dev/null > "$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "crun run failed"; }
assert_grep "^hello" "$T/out"
assert_grep "No such file" "$T/out"
assert_grep "^done" "$T/out"
assert_eq "$(cat "$T/u/root/out-crun")" crun "crun write in the upper"
[ -c "$T/u/etc/os-release" ] || fail "crun delete is not a whiteout in the upper"
[ -d "$T/u/var/tmp/x/y" ] || fail "crun mkdir not in the upper"
say ok
