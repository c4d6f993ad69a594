#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata ps / rm and where a file comes from (strata which, the
# user.strata.origin xattr) on a two-layer image of the store: ps shows
# mounted containers with their daemon and upper usage, a daemon killed -9
# shows as dead, rm refuses a mounted container and --force removes it
# leaving nothing behind; which names the bottom layer, the top layer or
# the upper, fails on a whited-out file, and the xattr is read-only and
# not listed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd umoci jq getfattr setfattr
. "$STRATA_SRCDIR/tests/lib/images.sh"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"
T=$TEST_TMP
STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 1G

# origin PATH: the user.strata.origin xattr.
origin() { getfattr --absolute-names --only-values -n user.strata.origin "$1"; }
# field NAME JQ: a field of container NAME in `strata ps --all --format json`.
field() {
	strata ps --all --format json >"$T/ps.json" || fail "strata ps --format json failed"
	jq -r --arg n "$1" ".[] | select(.name == \$n) | $2" "$T/ps.json"
}

say "a two-layer image: tiny, then a layer that adds, replaces and deletes"
L="$T/layout"
expect_ok umoci init --layout "$L"
expect_ok umoci new --image "$L:base"
expect_ok umoci raw add-layer --image "$L:base" "$TINY"
mkdir -p "$T/top/etc" "$T/top/var/lib/data"
echo "app" >"$T/top/etc/app.conf"
: >"$T/top/etc/.wh.motd"
echo "top version" >"$T/top/var/lib/data/f1"
tar -C "$T/top" --numeric-owner --owner=0 --group=0 -cf "$T/top.tar" .
expect_ok umoci raw add-layer --image "$L:base" --tag two "$T/top.tar"
expect_ok strata import --ref two --name two:1 "$L"
expect_ok strata inspect --format json two:1
L0=$(jq -r '.layers[0].diff_id' "$TEST_TMP/stdout")
L1=$(jq -r '.layers[1].diff_id' "$TEST_TMP/stdout")
D0=$(jq -r '.layers[0].digest' "$TEST_TMP/stdout")
[ "$L0" != "$L1" ] && [ -n "$L0" ] || fail "layers of the image"

say "ps: two mounted containers"
M1="$T/m1" M2="$T/m2"
smount two:1 "$M1" --name c1
smount two:1 "$M2" --name c2
P1=$(daemon_pids "$M1")
expect_ok strata ps
assert_grep "^c1 .* two:1 .* mounted  *$P1 .* $M1\$" "$TEST_TMP/stdout"
assert_grep "^c2 .* mounted .* $M2\$" "$TEST_TMP/stdout"
assert_eq "$(field c1 .state)" mounted "c1 state"
assert_eq "$(field c1 .pid)" "$P1" "c1 daemon pid"
assert_eq "$(field c1 .mountpoint)" "$M1" "c1 mountpoint"
assert_eq "$(field c1 .image.ref)" two:1 "c1 image ref"
assert_eq "$(field c1 .upper.inodes)" 0 "c1 upper inodes before writing"
head -c 1048576 /dev/urandom >"$M1/blob"
mkdir "$M1/newdir"
assert_eq "$(field c1 .upper.inodes)" 2 "c1 upper inodes after writing"
[ "$(field c1 .upper.bytes)" -ge 1048576 ] || fail "c1 upper bytes: $(field c1 .upper.bytes)"
expect_ok strata mounts --quiet
assert_eq "$(cat "$TEST_TMP/stdout")" "c1
c2" "strata mounts --quiet"

say "which: bottom layer, top layer, merged directory"
expect_ok strata which "$M1/var/lib/data/f100"
assert_grep "^origin: *layer 0 of 2 " "$TEST_TMP/stdout"
assert_grep "^diff_id: *$L0\$" "$TEST_TMP/stdout"
assert_grep "^digest: *$D0\$" "$TEST_TMP/stdout"
assert_grep "^container: *c1\$" "$TEST_TMP/stdout"
assert_eq "$(origin "$M1/var/lib/data/f100")" \
	"layer 0 $L0" "xattr of a bottom-layer file"
expect_ok strata which --format json "$M1/etc/app.conf"
assert_eq "$(jq -r '"\(.origin) \(.layer) \(.layers) \(.diff_id)"' "$TEST_TMP/stdout")" \
	"layer 1 2 $L1" "which of a top-layer file"
assert_eq "$(origin "$M1/var/lib/data/f1")" \
	"layer 1 $L1" "a file the top layer replaced"
assert_eq "$(cat "$M1/var/lib/data/f1")" "top version" "content of the replaced file"
# var/lib/data merges both layers: the directory itself is the top
# layer's, its entries say where each comes from.
assert_eq "$(origin "$M1/var/lib/data")" \
	"layer 1 $L1" "a merged directory"
assert_eq "$(origin "$M1/var/lib/data/f4096")" \
	"layer 0 $L0" "a bottom file in a merged directory"
# A symlink: the kernel refuses user.* there; root reads trusted.*.
expect_ok strata which --format json "$M1/var/lib/link-f4096"
assert_eq "$(jq -r .layer "$TEST_TMP/stdout")" 0 "which of a symlink"

say "which: whited-out and copied-up files"
expect_fail strata which "$M1/etc/motd"
assert_grep "etc/motd: No such file or directory" "$TEST_TMP/stderr"
getfattr --absolute-names -n user.strata.origin "$M1/etc/motd" 2>/dev/null && fail "xattr of a whited-out file"
echo more >>"$M1/var/lib/data/f4096"
expect_ok strata which --format json "$M1/var/lib/data/f4096"
assert_eq "$(jq -r .origin "$TEST_TMP/stdout")" upper "which of a copied-up file"
UP="$STRATA_STATE_DIR/containers/c1/upper"
assert_eq "$(jq -r .upper_path "$TEST_TMP/stdout")" "$UP/var/lib/data/f4096" "upper path"
[ -f "$UP/var/lib/data/f4096" ] || fail "copy-up not in the upper"
assert_eq "$(origin "$M1/blob")" upper "new file"
expect_ok strata which "$M1/blob"
assert_grep "^origin: *upper\$" "$TEST_TMP/stdout"
assert_grep "^upper: *$UP/blob\$" "$TEST_TMP/stdout"
# the mount's root: its upper directory is the top copy
assert_eq "$(origin "$M2")" upper "root of c2"

say "the xattr is read-only and not listed"
getfattr --absolute-names -d -m - "$M1/var/lib/data/f100" "$M1/var/lib/data" "$M1/blob" >"$T/list" 2>&1
grep -q strata.origin "$T/list" && fail "listxattr shows user.strata.origin"
expect_fail setfattr -n user.strata.origin -v "upper" "$M1/var/lib/data/f100"
assert_grep "Operation not permitted" "$TEST_TMP/stderr"
expect_fail setfattr -x user.strata.origin "$M1/blob"
assert_grep "Operation not permitted" "$TEST_TMP/stderr"
[ -f "$UP/var/lib/data/f100" ] && fail "a refused setxattr copied the file up"
setfattr -n user.other -v 1 "$M1/blob" || fail "an ordinary user xattr"
assert_eq "$(getfattr --absolute-names --only-values -n user.other "$M1/blob")" 1 "ordinary xattr"
expect_fail strata which "$T/store.img"
assert_grep "not in a strata mount" "$TEST_TMP/stderr"

say "rm refuses mounted containers; a stopped one shows with --all"
expect_fail strata rm c2
assert_grep "c2: mounted at $M2" "$TEST_TMP/stderr"
P2=$(daemon_pids "$M2")
expect_ok strata umount c2
wait_gone "$P2" || fail "c2's daemon did not exit"
expect_ok strata ps
grep -q "^c2 " "$TEST_TMP/stdout" && fail "a stopped container in ps without --all"
assert_eq "$(field c2 .state)" stopped "c2 state"
assert_eq "$(field c2 .pid)" null "c2 pid"
expect_ok strata rm c2
[ -e "$STRATA_STATE_DIR/containers/c2" ] && fail "rm left c2's directory"
assert_eq "$(field c2 .name)" "" "c2 after rm"

say "rmi of an image a container uses is refused"
expect_fail strata rmi two:1
assert_grep "two:1: used by container c1" "$TEST_TMP/stderr"
expect_ok strata images -q
[ -n "$(cat "$TEST_TMP/stdout")" ] || fail "the refused rmi removed images"
expect_ok strata gc
assert_eq "$(field c1 .state)" mounted "c1 after a refused rmi and gc"

say "a daemon killed -9: dead; rm --force cleans up"
for p in $P1; do kill -9 "$p"; wait_gone "$p" || :; done
assert_eq "$(field c1 .state)" dead "c1 state after kill -9"
expect_ok strata ps
assert_grep "^c1 .* dead  *- " "$TEST_TMP/stdout"
expect_fail strata rm c1
assert_grep "c1: mounted at" "$TEST_TMP/stderr"
expect_ok strata rm --force "$M1"
assert_eq "$(cat "$TEST_TMP/stdout")" c1 "rm by mountpoint"
grep -q " $M1 " /proc/mounts && fail "$M1 still mounted after rm --force"
[ -e "$STRATA_STATE_DIR/containers/c1" ] && fail "rm --force left c1's directory"
assert_eq "$(ls -A "$STRATA_STATE_DIR/containers")" "" "containers left"
assert_eq "$(ls -A "$M1")" "" "files left at the mountpoint"

say "bad input"
expect_fail strata rm nosuch
assert_grep "nosuch: no such container" "$TEST_TMP/stderr"
st=0; strata rm >/dev/null 2>&1 || st=$?
assert_eq "$st" 2 "rm without a name: exit status"
st=0; strata ps --format yaml >/dev/null 2>&1 || st=$?
assert_eq "$st" 2 "ps --format yaml: exit status"
st=0; strata which >/dev/null 2>&1 || st=$?
assert_eq "$st" 2 "which without a path: exit status"
say ok
