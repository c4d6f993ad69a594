#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata commit: a container's changes (new, modified, deleted files, an
# opaque directory, chmod/chown of lower files, hardlinks, symlinks, a fifo,
# a device, xattrs, file capabilities) become a new image whose mount shows
# the same tree as the container did; the config carries the changes and a
# history entry; the layer rebuilds to its DiffID; the same upper gives the
# same DiffID and stores nothing new; metacopy files get their data from
# the store; a commit under a running writer is a consistent snapshot; bad
# input gives clear errors and adds no image.  With `strata export`: the
# round trip export -> import into a second store -> mount is equal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
. "$STRATA_SRCDIR/tests/lib/images.sh"
need_cmd jq setfattr getfattr setfacl getfacl
FSDIFF=$(fsdiff_bin)
[ -x "$FSDIFF" ] || fail "fsdiff helper not built"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"
T=$TEST_TMP

STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 2G

# manifest DIR: one line per entry (not the root): path, type, mode, owner,
# size and nlink (not for directories), mtime in ns, symlink target, the
# first name of its hardlink group, and its xattrs (values in hex).
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%U|%G|%s|%n|%T@|%l|%i\n') |
		sort | awk -F'|' '{
			if ($2 == "d") { $6 = "-"; $7 = "-" }
			if (!($10 in grp)) grp[$10] = $1
			$10 = grp[$10]; print }' OFS='|'
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r _f; do
		getfattr -h -d -m - -e hex "$_f" 2>/dev/null | grep -v '^#' | grep -v '^$' |
			LC_ALL=C sort | sed "s|^|$_f: |"
	done)
}

nimages() { strata images -q | wc -l; }
cfg() { strata inspect "$1" --format json | jq -c "$2"; }

say "import the tiny image and mount it"
expect_ok strata import --tar --name tiny:1 "$TINY"
smount tiny:1 "$T/m1" --name c1
M=$T/m1

say "change it"
echo new >"$M/newfile"
touch -d '2021-02-03 04:05:06.123456789' "$M/newfile"
mkdir -p "$M/newdir/sub"
echo deep >"$M/newdir/sub/f"
echo appended >>"$M/var/lib/data/f4096"
rm "$M/etc/motd"
rm -r "$M/var/lib/data/sub/deeper"
mkdir "$M/var/lib/data/sub/deeper"
echo fresh >"$M/var/lib/data/sub/deeper/only"
chmod 0640 "$M/var/lib/data/f1"
chown 1000:1001 "$M/var/lib/data/f100"
chmod 0700 "$M/usr/share/doc"
echo pair >"$M/pair1"
ln "$M/pair1" "$M/pair2"
ln -s newfile "$M/link-new"
mkfifo "$M/fifo"
mknod "$M/null" c 1 3
setfattr -n user.test -v hello "$M/newfile"
setfattr -n user.lower -v changed "$M/var/lib/data/f65536" # a lower hardlinked pair
# POSIX ACLs: an access ACL on a file, a default ACL on a directory.
# (libarchive keeps the owning group's entry in the mode: it must equal the mask here)
setfacl -m u:1234:rw,g::rw "$M/newfile" || fail "setfacl on the mount"
mkdir "$M/acldir"
setfacl -d -m g:99:rx "$M/acldir" || fail "setfacl -d on the mount"
CAP=no
if command -v setcap >/dev/null 2>&1; then
	cp "$M/bin/true" "$M/captrue" 2>/dev/null || cp "$(readlink -f /bin/true)" "$M/captrue"
	if setcap cap_net_raw+ep "$M/captrue" 2>/dev/null; then
		CAP=yes
	else
		say "setcap refused on the mount: security.capability part skipped"
	fi
fi
UP="$STRATA_STATE_DIR/containers/c1/upper"
[ -c "$UP/etc/motd" ] || fail "no whiteout in the upper"
# Remount: the kernel's FUSE attribute cache can hold a coarse mtime of its
# own for a file just written (a fine-grained one is in the upper).
sumount "$M"
smount tiny:1 "$M" --name c1
manifest "$M" >"$T/m1.man"

say "bad input: clear errors, no image added"
n0=$(nimages)
expect_fail strata commit --change 'FROB x' c1 bad:1
assert_grep "unknown instruction" "$T/stderr"
strata commit --change 'CMD [bad' c1 bad:1 2>"$T/stderr" && fail "bad JSON CMD accepted"
[ $? -eq 2 ] || fail "bad --change: exit status is not 2"
assert_grep "JSON array" "$T/stderr"
expect_fail strata commit --change 'EXPOSE 99999' c1 bad:1
assert_grep "99999" "$T/stderr"
expect_fail strata commit --change 'ENV' c1 bad:1
expect_fail strata commit nosuch bad:1
assert_grep "nosuch: no such container" "$T/stderr"
expect_fail strata commit c1 'bad name:1'
assert_grep "not a valid name" "$T/stderr"
assert_eq "$(nimages)" "$n0" "images after bad commits"

say "commit the live container"
expect_ok strata commit --change 'CMD ["/bin/echo","hi"]' \
	--change 'ENV FOO=bar BAZ="two words"' --change 'WORKDIR /srv' \
	--change 'EXPOSE 8080 53/udp' --change 'LABEL org.example.k=v' --change 'USER 1000:1001' \
	--message "test commit" --author "h22 <h22@example.org>" c1 tiny:2
cat "$T/stdout"
assert_grep "committed sha256:" "$T/stdout"
assert_grep "new layer" "$T/stdout"
diff1=$(sed -n 's/.*layer \(sha256:[0-9a-f]*\),.*/\1/p' "$T/stdout")

say "the config and history"
assert_eq "$(cfg tiny:2 .config.config.Cmd)" '["/bin/echo","hi"]' "Cmd"
cfg tiny:2 .config.config.Env | grep -q '"FOO=bar"' || fail "Env FOO"
cfg tiny:2 .config.config.Env | grep -q '"BAZ=two words"' || fail "Env BAZ"
assert_eq "$(cfg tiny:2 .config.config.WorkingDir)" '"/srv"' "WorkingDir"
assert_eq "$(cfg tiny:2 .config.config.User)" '"1000:1001"' "User"
assert_eq "$(cfg tiny:2 '.config.config.ExposedPorts|keys')" '["53/udp","8080/tcp"]' "ExposedPorts"
assert_eq "$(cfg tiny:2 '.config.config.Labels["org.example.k"]')" '"v"' "Labels"
assert_eq "$(cfg tiny:2 '.config.history[-1].created_by')" '"strata commit"' "history created_by"
assert_eq "$(cfg tiny:2 '.config.history[-1].comment')" '"test commit"' "history comment"
assert_eq "$(cfg tiny:2 '.config.history[-1].author')" '"h22 <h22@example.org>"' "history author"
assert_eq "$(cfg tiny:2 '.config.rootfs.diff_ids|length')" 2 "diff_ids"
assert_eq "$(cfg tiny:2 '.config.rootfs.diff_ids[1]')" "\"$diff1\"" "new DiffID in the config"
assert_eq "$(cfg tiny:2 '.config.rootfs.diff_ids[0]')" "$(cfg tiny:1 '.config.rootfs.diff_ids[0]')" \
	"parent DiffID"
assert_eq "$(cfg tiny:2 '.manifest.layers|length')" 2 "manifest layers"
assert_eq "$(cfg tiny:2 '.manifest.annotations["org.opencontainers.image.base.digest"]')" \
	"$(cfg tiny:1 .id)" "base digest annotation"
strata inspect tiny:2 >"$T/inspect.txt"
assert_grep '/bin/echo' "$T/inspect.txt"
assert_grep 'FOO=bar' "$T/inspect.txt"

say "the new layer rebuilds to its DiffID"
expect_ok strata verify tiny:2

say "mount the committed image: the same tree as the container"
smount tiny:2 "$T/m2" --name c2
manifest "$T/m2" >"$T/m2.man"
diff -u "$T/m1.man" "$T/m2.man" || fail "committed image differs from the container"
"$FSDIFF" tree "$M" "$T/m2" || fail "committed image differs (fsdiff)"
[ -e "$T/m2/etc/motd" ] && fail "deleted file is back"
assert_eq "$(ls "$T/m2/var/lib/data/sub/deeper")" only "opaque directory"
assert_eq "$(stat -c %i "$T/m2/pair1")" "$(stat -c %i "$T/m2/pair2")" "hardlinked pair"
assert_eq "$(stat -c %n:%y "$T/m2/newfile")" "$T/m2/newfile:$(stat -c %y "$M/newfile")" "ns mtime"
[ "$CAP" = yes ] && { getcap "$T/m2/captrue" | grep -q cap_net_raw || fail "file capability lost"; }
getfacl -cn "$T/m2/newfile" | grep -qx 'user:1234:rw-' || fail "access ACL lost"
getfacl -cn "$T/m2/acldir" | grep -qx 'default:group:99:r-x' || fail "default ACL lost"
sumount "$T/m2"

say "the same upper again: same DiffID, nothing new stored"
strata df --format json >"$T/df1.json"
expect_ok strata commit --message again c1 tiny:3
assert_grep "layer already stored" "$T/stdout"
assert_grep "$diff1" "$T/stdout"
strata df --format json >"$T/df2.json"
assert_eq "$(jq .total.chunks "$T/df2.json")" "$(jq .total.chunks "$T/df1.json")" "chunks"
assert_eq "$(jq .total.data "$T/df2.json")" "$(jq .total.data "$T/df1.json")" "data bytes"

say "an existing tag moves to the new commit"
id2=$(cfg tiny:2 .id)
expect_ok strata commit c1 tiny:2
[ "$(cfg tiny:2 .id)" != "$id2" ] || fail "tag did not move"
strata images -q | grep -qx "$(echo "$id2" | tr -d '"')" || fail "the previously tagged image is gone"

say "commit while a writer runs in the container"
mkdir "$M/w"
(
	i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		head -c 200000 /dev/zero | tr '\0' x >"$M/w/.tmp" && mv "$M/w/.tmp" "$M/w/f$i"
	done
) &
WPID=$!
track_pid "$WPID"
# A second writer appends without pause: no attempt finds the upper quiet,
# so the daemon is paused for the last one.
(while [ ! -e "$T/stop" ]; do echo line >>"$M/w/log"; done) &
APID=$!
track_pid "$APID"
sleep 1
before=$(ls "$M/w" | grep -c '^f')
expect_ok strata commit --change 'CMD ["/bin/true"]' c1 live:1
after=$(ls "$M/w" | grep -c '^f')
cat "$T/stdout"
assert_grep "daemon paused" "$T/stdout"
expect_fail strata commit --no-pause c1 live:2
assert_grep "kept changing" "$T/stderr"

say "a commit killed while the daemon is paused: the daemon resumes, no image"
head -c 67108864 /dev/urandom >"$M/w/zbig" # a slow last attempt
DPID=$(daemon_pids "$M")
dstate() { sed 's/.*) //' "/proc/$DPID/stat" | cut -c1; }
n0=$(nimages)
strata commit c1 killed:1 >/dev/null 2>&1 &
CPID=$!
caught=no
for _ in $(seq 5000); do
	kill -0 "$CPID" 2>/dev/null || break
	if [ "$(dstate)" = T ]; then
		kill -9 "$CPID"
		caught=yes
		break
	fi
done
wait "$CPID" 2>/dev/null || :
if [ $caught = yes ]; then
	for _ in $(seq 100); do [ "$(dstate)" != T ] && break; sleep 0.05; done
	[ "$(dstate)" != T ] || fail "strata-fuse left stopped by a killed commit"
	timeout 10 ls "$M/w" >/dev/null || fail "the mount hangs after a killed commit"
	assert_eq "$(nimages)" "$n0" "images after a killed commit"
else
	say "the pause was over before it could be caught: kill part not checked"
fi
rm "$M/w/zbig"
: >"$T/stop"
wait "$WPID" || :
wait "$APID" || :
rm -r "$M/w" # the upper is as before the writer again (w is not in the image)
smount live:1 "$T/m3" --name c3
n=$(ls "$T/m3/w" | grep -c '^f')
[ "$n" -ge "$before" ] && [ "$n" -le "$after" ] ||
	fail "snapshot has $n files, the writer had $before before and $after after"
for f in "$T/m3/w"/f*; do
	[ "$(stat -c %s "$f")" = 200000 ] || fail "$f: torn file in the snapshot"
done
[ -s "$T/m3/w/log" ] || fail "appended log missing from the snapshot"
[ -z "$(grep -v '^line$' "$T/m3/w/log")" ] || fail "torn append in the snapshot"
say "writer: $before files before, $n in the snapshot, $after after"
sumount "$T/m3"

say "metacopy files get their data from the store"
LOWER=$(strata inspect tiny:1 --format json | jq -r '.layers[0].diff_id')
mkdir -p "$T/mu" "$T/mw" "$T/mm"
strata_mount "lowerdir=store:$STRATA_STORE@$LOWER,upperdir=$T/mu,workdir=$T/mw,metacopy=on" "$T/mm"
chmod 0600 "$T/mm/var/lib/data/sub/big4m"
chown 7:8 "$T/mm/var/lib/data/f1048576"
getfattr --absolute-names -n trusted.overlay.metacopy "$T/mu/var/lib/data/sub/big4m" \
	>/dev/null 2>&1 || fail "no metacopy file in the upper"
manifest "$T/mm" >"$T/mm.man"
strata_umount "$T/mm"
expect_ok strata commit --upper "$T/mu" --image tiny:1 meta:1
assert_grep "metacopy data" "$T/stdout"
smount meta:1 "$T/m4" --name c4
manifest "$T/m4" >"$T/m4.man"
diff -u "$T/mm.man" "$T/m4.man" || fail "metacopy commit differs"
tar -xOf "$TINY" ./var/lib/data/sub/big4m | cmp - "$T/m4/var/lib/data/sub/big4m" ||
	fail "metacopy data"
expect_ok strata verify meta:1
sumount "$T/m4"

say "an upper written by kernel overlayfs (metacopy=on)"
mkdir -p "$T/kl" "$T/ku" "$T/kw" "$T/km"
tar -C "$T/kl" --numeric-owner --xattrs --xattrs-include='*' -xpf "$TINY"
mount -t overlay overlay -o "lowerdir=$T/kl,upperdir=$T/ku,workdir=$T/kw,metacopy=on" "$T/km" ||
	skip "kernel overlayfs cannot mount here"
track_mount "$T/km"
rm "$T/km/etc/motd" "$T/km/var/lib/data/f1"
rm -r "$T/km/var/lib/data/sub/deeper"
mkdir "$T/km/var/lib/data/sub/deeper"
echo k >"$T/km/var/lib/data/sub/deeper/k"
chmod 0604 "$T/km/var/lib/data/f131073" # a kernel metacopy
ln -s f100 "$T/km/var/lib/data/ls"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "trusted.t", b"on-a-symlink", follow_symlinks=False)' \
	"$T/km/var/lib/data/ls" 2>/dev/null || :
manifest "$T/km" >"$T/km.man"
umount "$T/km"
expect_ok strata commit --upper "$T/ku" --image tiny:1 kernel:1
if getfattr --absolute-names -n trusted.overlay.metacopy "$T/ku/var/lib/data/f131073" \
	>/dev/null 2>&1; then
	assert_grep "metacopy data" "$T/stdout"
fi
smount kernel:1 "$T/m8" --name c8
manifest "$T/m8" >"$T/m8.man"
diff -u "$T/km.man" "$T/m8.man" || fail "commit of a kernel overlayfs upper differs"
grep -q '^./var/lib/data/ls: trusted.t=' "$T/km.man" &&
	{ grep -q '^./var/lib/data/ls: trusted.t=' "$T/m8.man" || fail "xattr of a symlink lost"; }
sumount "$T/m8"

say "an unmounted container; then its upper vanishes"
sumount "$M"
expect_ok strata commit c1 tiny:4
assert_grep "$diff1" "$T/stdout" # unchanged since: the same layer
smount tiny:1 "$T/m5" --name c5
echo x >"$T/m5/x"
sumount "$T/m5"
rm -rf "$STRATA_STATE_DIR/containers/c5/upper"
n0=$(nimages)
expect_fail strata commit c5 gone:1
assert_grep "upper directory .* vanished" "$T/stderr"
assert_eq "$(nimages)" "$n0" "images after a commit of a vanished upper"

say "commit follows the store's compression policy"
expect_ok strata store set compress=none
smount tiny:1 "$T/m8" --name cpol
seq 1 200000 >"$T/m8/numbers"
size=$(stat -c %s "$T/m8/numbers")
sumount "$T/m8"
expect_ok strata commit cpol pol:1
expect_ok strata df --json
u=$(jq '[.images[] | select(.name == "pol:1")][0].unique' "$T/stdout")
[ "$u" -ge "$size" ] || fail "commit under compress=none stored $u bytes for a $size-byte file"
expect_ok strata store set compress=default

if strata export --help >/dev/null 2>&1; then
	say "round trip: export, import into a second store, mount"
	smount tiny:2 "$T/m6" --name c6
	manifest "$T/m6" >"$T/m6.man"
	expect_ok strata export --oci-layout "$T/oci" tiny:2
	S2="$T/store2.img"
	expect_ok strata --store "$S2" store init --file "$S2" --size 1G
	expect_ok strata --store "$S2" import --name rt:1 "$T/oci"
	STRATA_STORE=$S2
	smount rt:1 "$T/m7" --name c7
	manifest "$T/m7" >"$T/m7.man"
	diff -u "$T/m6.man" "$T/m7.man" || fail "round trip differs"
	# Content, modes, owners, times, xattrs (security.capability, user.*)
	# and hardlinks, entry by entry.
	"$FSDIFF" tree "$T/m6" "$T/m7" || fail "round trip differs (fsdiff)"
	sumount "$T/m7"
	STRATA_STORE="$T/store.img"
	sumount "$T/m6"
else
	say "no strata export: round trip skipped"
fi
say ok
