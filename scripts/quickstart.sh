#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set everything up and run strata's main job: README's command (1).
#   - installs the Debian packages strata needs and builds it (_build/release)
#   - creates a store under the state directory (default /var/lib/strata,
#     override with STRATA_STATE_DIR) unless one exists, shows and checks it
#   - builds a real Debian bookworm minbase image (mmdebstrap + umoci, an
#     OCI layout, cached) and imports it into the store (deduplicated)
#   - mounts it with `strata mount` (strata-fuse over the store), runs a
#     command in it (chroot), and shows that the command's writes landed in
#     the container's upper directory
# Everything it mounts is unmounted on exit, even on failure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/setup-deps.sh
b="$top/_build/release"
sh scripts/build.sh "$b" CFLAGS="-O2 -g"
PATH="$b/tools:$PATH"
export PATH

state=${STRATA_STATE_DIR:-/var/lib/strata}
export STRATA_STATE_DIR="$state"
mkdir -p "$state"
step() { printf '\n== %s\n' "$*"; }

step "store"
if [ ! -e "$state/store.img" ]; then
	strata store init --label quickstart
fi
strata store info
strata fsck

step "image: Debian bookworm minbase (mmdebstrap + umoci OCI layout, cached)"
STRATA_TEST_CACHE=${STRATA_TEST_CACHE:-$state/cache}
export STRATA_TEST_CACHE
. "$top/tests/lib/images.sh"
oci=$(image_minbase_oci)
strata import --quiet --ref base --name minbase:bookworm "$oci"
strata images
strata df

step "mount it with strata mount and run a command in it"
c=quickstart
mnt="$state/mnt/$c"
mkdir -p "$mnt"
strata rm --force "$c" >/dev/null 2>&1 || :
mounted=
cleanup() {
	if [ -n "$mounted" ]; then strata umount "$mnt" || :; fi
}
trap cleanup EXIT INT TERM
strata mount --name "$c" minbase:bookworm "$mnt"
mounted=1
grep " $mnt " /proc/mounts
chroot "$mnt" /bin/sh -c '. /etc/os-release; echo "running in: $PRETTY_NAME";
	echo "hello from strata" > /root/hello; apt-get --version | head -1; ls /'
strata umount "$mnt"
mounted=
upper="$state/containers/$c/upper"
echo "the container's writes, in its upper directory $upper:"
find "$upper" -mindepth 1 | sed "s|^$upper||"
cat "$upper/root/hello"
step "done"
