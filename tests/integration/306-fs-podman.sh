#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# podman with mount_program = strata-fuse, in a private storage (graphroot,
# runroot, tmp dir under the test directory, CONTAINERS_STORAGE_CONF and
# CONTAINERS_CONF): load the Debian minbase image from a local OCI archive,
# run a container whose writes land in strata's upper, commit it and run
# the two-layer image (two lowers).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd podman skopeo runc
. "$STRATA_SRCDIR/tests/lib/images.sh"
oci=$(image_minbase_oci) || skip "cannot build the Debian minbase OCI image"
T=$TEST_TMP
mkdir -p "$T/graph" "$T/run" "$T/tmp"
cat > "$T/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$T/graph"
runroot = "$T/run"
[storage.options.overlay]
mount_program = "$STRATA_BUILDDIR/tools/strata-fuse"
CONF
cat > "$T/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
tmp_dir = "$T/tmp"
volume_path = "$T/volumes"
CONF
CONTAINERS_STORAGE_CONF=$T/storage.conf
CONTAINERS_CONF=$T/containers.conf
export CONTAINERS_STORAGE_CONF CONTAINERS_CONF

# Whatever podman leaves mounted or running under $T is undone by PID and
# by mount point, even when a step fails.
cleanup_podman() {
	podman rm -af -t 0 >/dev/null 2>&1
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		pids=$(daemon_pids "$m")
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		for p in $pids; do kill "$p" 2>/dev/null; done
	done
}
on_cleanup cleanup_podman

say "podman info with strata-fuse as mount_program"
podman info --format '{{.Store.GraphDriverName}} {{.Store.GraphOptions}}' > "$T/info" 2>"$T/info.err" ||
	{ cat "$T/info.err" >&2; skip "podman cannot start here"; }
assert_grep "overlay" "$T/info"
assert_grep "strata-fuse" "$T/info"

say "load an image from a local OCI archive"
skopeo copy -q "oci:$oci:base" "oci-archive:$T/minbase.tar:localhost/minbase:1" ||
	fail "skopeo could not make the OCI archive"
expect_ok podman load -i "$T/minbase.tar"
podman image exists localhost/minbase:1 || fail "image not loaded"

say "run a container"
podman run --name c1 --network none localhost/minbase:1 \
	/bin/sh -c 'echo hello > /root/out && rm /etc/issue && mkdir -p /var/tmp/x && cat /etc/debian_version && grep " / " /proc/mounts' \
	> "$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "podman run failed"; }
assert_grep "^12" "$T/out"
assert_grep "fuse.strata" "$T/out"     # the container's root is strata's
diff=$(podman container inspect c1 --format '{{.GraphDriver.Data.UpperDir}}')
[ -d "$diff" ] || fail "no upper directory for c1: $diff"
assert_eq "$(cat "$diff/root/out")" hello "container write in the upper"
[ -c "$diff/etc/issue" ] || fail "container delete is not a whiteout in the upper"
grep -q " fuse.strata " /proc/mounts && grep " fuse.strata " /proc/mounts | grep -q "$T/" &&
	fail "a strata mount is left after the container exited"

say "commit, run the two-layer image"
expect_ok podman commit -q c1 localhost/minbase:2
podman run --rm --network none localhost/minbase:2 \
	/bin/sh -c 'cat /root/out; ls /etc/issue 2>&1; grep " / " /proc/mounts' > "$T/out2" 2>"$T/err2" ||
	{ cat "$T/err2" >&2; fail "podman run of the committed image failed"; }
assert_grep "^hello" "$T/out2"
assert_grep "No such file" "$T/out2"   # layer 2 whiteout over layer 1
podman rm -f c1 >/dev/null
say ok
