#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set everything up and run strata's main job: README's command (1).
#   - installs the Debian packages strata needs and builds it (_build/release)
#   - creates a store under the state directory (default /var/lib/strata,
#     override with STRATA_STATE_DIR) unless one exists, shows and checks it
#   - builds a real Debian bookworm minbase image (mmdebstrap, cached)
#   - mounts it with strata-fuse, runs a command in it (chroot), and shows
#     that the command's writes landed in the container's upper directory
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

step "image: Debian bookworm minbase"
STRATA_TEST_CACHE=${STRATA_TEST_CACHE:-$state/cache}
export STRATA_TEST_CACHE
. "$top/tests/lib/images.sh"
tar=$(image_minbase_tar)
lower="$state/layers/minbase-bookworm"
if [ ! -d "$lower" ]; then
	rm -rf "$lower.tmp"
	mkdir -p "$lower.tmp"
	tar -C "$lower.tmp" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar"
	mv -T "$lower.tmp" "$lower"
fi
echo "layer: $lower ($(du -sh "$lower" | cut -f1))"

step "mount with strata-fuse and run a command in it"
c="$state/containers/quickstart"
rm -rf "$c"
mkdir -p "$c/upper" "$c/work" "$c/merged"
pid=
cleanup() {
	if mountpoint -q "$c/merged"; then
		fusermount3 -u "$c/merged" 2>/dev/null || umount -l "$c/merged" || :
	fi
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || :; fi
}
trap cleanup EXIT INT TERM
strata-fuse -f -o "lowerdir=$lower,upperdir=$c/upper,workdir=$c/work" "$c/merged" &
pid=$!
i=0
until mountpoint -q "$c/merged"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "quickstart: strata-fuse did not mount $c/merged" >&2
		exit 1
	fi
	sleep 0.1
done
grep " $c/merged " /proc/mounts
chroot "$c/merged" /bin/sh -c '. /etc/os-release; echo "running in: $PRETTY_NAME";
	echo "hello from strata" > /root/hello; apt-get --version | head -1; ls /'
fusermount3 -u "$c/merged"
wait "$pid" || :
pid=
echo "the container's writes, in its upper directory $c/upper:"
find "$c/upper" -mindepth 1 | sed "s|^$c/upper||"
cat "$c/upper/root/hello"
step "done"
