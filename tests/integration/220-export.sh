#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# strata export with real images (Debian minbase via mmdebstrap + umoci, and
# an app image on top with a whiteout and an opaque directory): OCI layout,
# oci-archive and docker-archive with gzip, zstd and uncompressed layers;
# skopeo inspect/copy, umoci unpack and podman load accept the output;
# re-import into a second store gives the same config, DiffIDs and (for
# unchanged manifests) image ID, and mounts to the same tree; bad input
# (unknown image, existing target, a full disk) leaves nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs-lib.sh"
need_cmd mmdebstrap umoci skopeo jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout (no Debian mirror?)"
FSDIFF="$STRATA_BUILDDIR/tests/integration/fsdiff"
[ -x "$FSDIFF" ] || fail "fsdiff helper not built"
T=$TEST_TMP

STRATA_STORE="$T/store.img"
export STRATA_STORE
expect_ok strata store init --file "$STRATA_STORE" --size 2G

# The ID, config digest and DiffIDs of an image in the current store.
img_id() { strata inspect --format json "$1" | jq -r .id; }
img_config() { strata inspect --format json "$1" | jq -r '.config_digest // .manifest.config.digest'; }
img_diffs() { strata inspect --format json "$1" | jq -c '[.layers[].diff_id]'; }
# No file of an export may be left next to its target.
no_leftovers() { # DIR
	left=$(find "$1" -maxdepth 1 -name '*.tmp-*' | head -n 3)
	[ -z "$left" ] || fail "temporary files left: $left"
}
secs() { awk "BEGIN{printf \"%.2f\", $2 - $1}"; }

say "an app image on top of minbase (one more layer, a whiteout, an opaque dir)"
L="$T/layout"
cp -a "$OCI" "$L"
mkdir -p "$T/app/etc/app" "$T/app/usr/share"
echo "app config" > "$T/app/etc/app/app.conf"
head -c 300000 /dev/urandom > "$T/app/etc/app/blob"
ln "$T/app/etc/app/blob" "$T/app/etc/app/blob-link"
: > "$T/app/etc/.wh.motd"
: > "$T/app/usr/share/.wh..wh..opq"
tar -C "$T/app" --numeric-owner --owner=0 --group=0 -cf "$T/app.tar" .
expect_ok umoci raw add-layer --image "$L:base" --tag app "$T/app.tar"
expect_ok strata import --ref base --name debian:12 "$L"
expect_ok strata import --ref app --name app:1 "$L"
BASE_ID=$(img_id debian:12)
APP_ID=$(img_id app:1)
APP_CFG=$(img_config app:1)
APP_DIFFS=$(img_diffs app:1)
BASE_DIFFS=$(img_diffs debian:12)
case $APP_CFG in sha256:*) ;; *) fail "no config digest for app:1 ($APP_CFG)" ;; esac

say "reference tree: umoci unpack of the original layout"
expect_ok umoci unpack --image "$L:app" "$T/ref"

say "OCI layout, gzip: skopeo inspect/copy, umoci unpack gives the same tree"
t0=$(date +%s.%N)
expect_ok strata export --oci-layout "$T/out-gz" app:1
t1=$(date +%s.%N)
assert_grep "^exported $APP_ID (app:1): 2 layers, .* manifest sha256:" "$T/stdout"
say "export of app:1 (minbase + app layer), gzip: $(secs "$t0" "$t1") s"
[ -f "$T/out-gz/oci-layout" ] || fail "no oci-layout file"
assert_eq "$(jq -r '.manifests[0].annotations."org.opencontainers.image.ref.name"' "$T/out-gz/index.json")" \
	app:1 "ref.name annotation"
expect_ok skopeo inspect "oci:$T/out-gz:app:1"
assert_eq "$(jq -r '.Layers | length' "$T/stdout")" 2 "layers seen by skopeo"
expect_ok skopeo inspect --config "oci:$T/out-gz:app:1"
assert_eq "$(jq -c .rootfs.diff_ids "$T/stdout")" "$APP_DIFFS" "DiffIDs seen by skopeo"
# The config is byte for byte the imported one: the image ID does not change.
cfg=$(jq -r .config.digest "$T/out-gz/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/out-gz/index.json" | cut -c8-)")
assert_eq "$cfg" "$APP_CFG" "config digest"
assert_eq "sha256:$(sha256sum "$T/out-gz/blobs/sha256/${cfg#sha256:}" | cut -d' ' -f1)" "$cfg" \
	"config blob"
jq -r '.layers[].mediaType' "$T/out-gz/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/out-gz/index.json" | cut -c8-)" |
	sort -u > "$T/mts"
assert_eq "$(cat "$T/mts")" "application/vnd.oci.image.layer.v1.tar+gzip" "layer media types"
for b in "$T"/out-gz/blobs/sha256/*; do
	assert_eq "$(sha256sum "$b" | cut -d' ' -f1)" "$(basename "$b")" "blob digest of $b"
done
t0=$(date +%s.%N)
expect_ok skopeo copy -q "oci:$T/out-gz:app:1" "oci:$T/skopeo-copy:app"
t1=$(date +%s.%N)
say "skopeo copy of the exported layout: $(secs "$t0" "$t1") s"
expect_ok umoci unpack --image "$T/out-gz:app:1" "$T/unp-gz"
"$FSDIFF" tree "$T/ref/rootfs" "$T/unp-gz/rootfs" || fail "umoci unpack of the export differs"
no_leftovers "$T"

say "the same gzip export as an oci-archive has the same blobs"
expect_ok strata export --oci-archive "$T/app-gz.tar" app:1
mkdir "$T/x-gz"
tar -C "$T/x-gz" -xf "$T/app-gz.tar"
(cd "$T/out-gz" && find . -type f | sort | xargs sha256sum) > "$T/sum1"
(cd "$T/x-gz" && find . -type f | sort | xargs sha256sum) > "$T/sum2"
cmp "$T/sum1" "$T/sum2" || fail "oci-archive differs from the layout"
expect_ok skopeo inspect "oci-archive:$T/app-gz.tar"
assert_eq "$(jq -r '.Layers | length' "$T/stdout")" 2 "layers in the oci-archive"
expect_ok skopeo copy -q "oci-archive:$T/app-gz.tar" "oci:$T/skopeo-copy2:app"

say "zstd: OCI layout and oci-archive"
expect_ok strata export --compress zstd --oci-layout "$T/out-zst" app:1
jq -r '.layers[].mediaType' "$T/out-zst/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/out-zst/index.json" | cut -c8-)" |
	sort -u > "$T/mts"
assert_eq "$(cat "$T/mts")" "application/vnd.oci.image.layer.v1.tar+zstd" "zstd media types"
expect_ok skopeo inspect --config "oci:$T/out-zst:app:1"
assert_eq "$(jq -c .rootfs.diff_ids "$T/stdout")" "$APP_DIFFS" "DiffIDs (zstd)"
expect_ok skopeo copy -q "oci:$T/out-zst:app:1" "oci:$T/skopeo-copy3:app"
expect_ok strata export --compress zstd --level 1 --oci-archive "$T/app-zst.tar" app:1
expect_ok skopeo inspect "oci-archive:$T/app-zst.tar"
expect_ok skopeo copy -q "oci-archive:$T/app-zst.tar" "oci:$T/skopeo-copy4:app"
# zstd blobs decompress to the DiffIDs.
m="$T/out-zst/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/out-zst/index.json" | cut -c8-)"
i=0
for l in $(jq -r '.layers[].digest' "$m"); do
	got="sha256:$(zstd -dc "$T/out-zst/blobs/sha256/${l#sha256:}" | sha256sum | cut -d' ' -f1)"
	want=$(echo "$APP_DIFFS" | jq -r ".[$i]")
	assert_eq "$got" "$want" "zstd layer $i decompressed"
	i=$((i + 1))
done

say "docker-archive: layers are the uncompressed tars, named by DiffID"
expect_ok strata export --docker-archive "$T/app-docker.tar" app:1
tar -xOf "$T/app-docker.tar" manifest.json > "$T/dm.json"
assert_eq "$(jq -r '.[0].RepoTags[0]' "$T/dm.json")" app:1 "RepoTags"
assert_eq "$(jq -r '.[0].Config' "$T/dm.json")" "${APP_CFG#sha256:}.json" "Config"
assert_eq "$(jq -c '[.[0].Layers[] | "sha256:" + rtrimstr(".tar")]' "$T/dm.json")" "$APP_DIFFS" \
	"Layers"
expect_ok skopeo inspect "docker-archive:$T/app-docker.tar"
expect_ok skopeo inspect --config "docker-archive:$T/app-docker.tar"
assert_eq "$(jq -c .rootfs.diff_ids "$T/stdout")" "$APP_DIFFS" "DiffIDs (docker-archive)"
expect_ok skopeo copy -q "docker-archive:$T/app-docker.tar" "oci:$T/skopeo-copy5:app"
rc=0
strata export --compress gzip --docker-archive "$T/bad.tar" app:1 >/dev/null 2>"$T/stderr" || rc=$?
assert_eq "$rc" 2 "exit status of --compress gzip with a docker-archive"
assert_grep 'uncompressed' "$T/stderr"

say "several images in one layout: the shared base layer is written once"
expect_ok strata export --compress none --oci-layout "$T/multi" debian:12 app:1
assert_eq "$(jq -r '[.manifests[].annotations."org.opencontainers.image.ref.name"] | join(",")' \
	"$T/multi/index.json")" "debian:12,app:1" "ref names"
# 2 configs, 2 manifests, 2 layers.
assert_eq "$(find "$T/multi/blobs/sha256" -type f | wc -l)" 6 "blob count"
expect_ok skopeo inspect "oci:$T/multi:debian:12"
expect_ok skopeo inspect "oci:$T/multi:app:1"

say "round trip: every export imported into a second store"
STRATA_STORE="$T/store2.img"
expect_ok strata store init --file "$STRATA_STORE" --size 2G
for src in "$T/out-gz" "$T/app-gz.tar" "$T/out-zst" "$T/app-zst.tar"; do
	expect_ok strata import --ref app:1 --name rt:1 "$src"
	assert_eq "$(img_config rt:1)" "$APP_CFG" "config digest after the round trip ($src)"
	assert_eq "$(img_diffs rt:1)" "$APP_DIFFS" "DiffIDs after the round trip ($src)"
	if [ -d "$src" ]; then
		md=$(jq -r '.manifests[0].digest' "$src/index.json")
		assert_eq "$(img_id rt:1)" "$md" "image ID = exported manifest digest ($src)"
	fi
done
expect_ok strata import --name rtd:1 "$T/app-docker.tar"
assert_eq "$(img_config rtd:1)" "$APP_CFG" "config digest after the docker-archive round trip"
assert_eq "$(img_diffs rtd:1)" "$APP_DIFFS" "DiffIDs after the docker-archive round trip"
expect_ok strata verify --all
say "the round-tripped zstd image mounts to the same tree as the original"
mkdir -p "$T/mnt"
track_mount "$T/mnt"
expect_ok strata mount rt:1 "$T/mnt"
for p in $(daemon_pids "$T/mnt"); do track_pid "$p"; done
grep -q " $T/mnt fuse.strata " /proc/mounts || fail "$T/mnt is not mounted"
"$FSDIFF" tree "$T/ref/rootfs" "$T/mnt" || fail "round-tripped image differs from the original"
expect_ok strata umount "$T/mnt"

say "uncompressed: the manifest stays byte for byte when the blobs do"
# A rootfs tarball import gets a manifest describing its layer as an
# uncompressed tar; exporting it uncompressed keeps it: the ID survives.
STRATA_STORE="$T/store3.img"
expect_ok strata store init --file "$STRATA_STORE" --size 2G
expect_ok strata import --tar --name rootfs:1 "$(image_minbase_tar)"
RF_ID=$(img_id rootfs:1)
expect_ok strata export --compress none --oci-layout "$T/out-none" rootfs:1
assert_grep "manifest $RF_ID (unchanged)" "$T/stdout"
assert_eq "$(jq -r '.manifests[0].digest' "$T/out-none/index.json")" "$RF_ID" "kept manifest"
expect_ok skopeo inspect --config "oci:$T/out-none:rootfs:1"
assert_eq "$(jq -c .rootfs.diff_ids "$T/stdout")" "$BASE_DIFFS" "DiffIDs (uncompressed)"
expect_ok strata rmi rootfs:1
expect_ok strata import --ref rootfs:1 "$T/out-none"
assert_eq "$(img_id rootfs:1)" "$RF_ID" "image ID after an uncompressed round trip"
# A docker-archive import's manifest labels its config with docker's type,
# which OCI tools take for an artifact: the export writes the OCI type.
STRATA_STORE="$T/store2.img"
expect_ok strata export --compress none --oci-layout "$T/out-none-d" rtd:1
expect_ok skopeo inspect --config "oci:$T/out-none-d:rtd:1"
assert_eq "$(jq -c .rootfs.diff_ids "$T/stdout")" "$APP_DIFFS" "DiffIDs (docker-archive, uncompressed)"
STRATA_STORE="$T/store.img"

if command -v podman >/dev/null 2>&1; then
	say "podman load of the docker-archive and the oci-archives (private storage)"
	P=$T/podman
	mkdir -p "$P/graph" "$P/run" "$P/tmp"
	cat > "$P/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$P/graph"
runroot = "$P/run"
CONF
	cat > "$P/containers.conf" <<CONF
[containers]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
volume_path = "$P/volumes"
CONF
	CONTAINERS_STORAGE_CONF=$P/storage.conf CONTAINERS_CONF=$P/containers.conf
	export CONTAINERS_STORAGE_CONF CONTAINERS_CONF
	on_cleanup "podman rmi -af"
	for f in app-docker.tar app-gz.tar app-zst.tar; do
		expect_ok podman load -i "$T/$f"
		expect_ok podman image inspect --format '{{.Id}} {{json .RootFS.Layers}}' localhost/app:1
		assert_eq "$(cut -d' ' -f1 "$T/stdout")" "${APP_CFG#sha256:}" "podman image ID ($f)"
		assert_eq "$(cut -d' ' -f2- "$T/stdout" | jq -c .)" "$APP_DIFFS" "podman layers ($f)"
		expect_ok podman rmi -f localhost/app:1
	done
	unset CONTAINERS_STORAGE_CONF CONTAINERS_CONF
else
	say "podman is not installed: podman load not checked"
fi

say "bad input: unknown image, existing target, usage"
expect_fail strata export --oci-layout "$T/nope" nosuch:1
assert_grep 'strata: export: nosuch:1: no such image' "$T/stderr"
[ ! -e "$T/nope" ] || fail "a target appeared for an unknown image"
mkdir "$T/exists"
echo keep > "$T/exists/marker"
expect_fail strata export --oci-layout "$T/exists" debian:12
assert_grep 'strata: export: .*exists.*--force' "$T/stderr"
assert_eq "$(cat "$T/exists/marker")" keep "existing target untouched"
echo keep > "$T/exists.tar"
expect_fail strata export --docker-archive "$T/exists.tar" debian:12
assert_eq "$(cat "$T/exists.tar")" keep "existing archive untouched"
expect_ok strata export --force --oci-layout "$T/exists" debian:12
[ ! -e "$T/exists/marker" ] || fail "--force kept the old directory's content"
expect_ok skopeo inspect "oci:$T/exists:debian:12"
expect_ok strata export --force --docker-archive "$T/exists.tar" debian:12
expect_ok skopeo inspect "docker-archive:$T/exists.tar"
rc=0
strata export debian:12 >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status without a target"
rc=0
strata export --oci-layout "$T/a" --oci-archive "$T/b" debian:12 >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status with two targets"
no_leftovers "$T"

say "an interrupted export (SIGINT) removes its temporary"
strata export --oci-archive "$T/int.tar" debian:12 >/dev/null 2>"$T/int.err" &
pid=$!
track_pid $pid
for _ in $(seq 1 200); do
	[ -n "$(find "$T" -maxdepth 1 -name 'int.tar.tmp-*')" ] && break
	sleep 0.05
done
kill -INT $pid 2>/dev/null || fail "the export ended before it could be interrupted"
rc=0
wait $pid || rc=$?
assert_eq "$rc" 1 "exit status of an interrupted export"
assert_grep 'interrupted; nothing was written' "$T/int.err"
[ ! -e "$T/int.tar" ] || fail "an interrupted export left its target"
no_leftovers "$T"

say "a full disk: ENOSPC is a clear error and leaves nothing"
mkdir "$T/full"
mount -t tmpfs -o size=1m tmpfs "$T/full" || skip "cannot mount a tmpfs"
track_mount "$T/full"
for fmt in oci-layout oci-archive docker-archive; do
	expect_fail strata export --"$fmt" "$T/full/out" debian:12
	assert_grep "strata: export: $T/full/out: No space left on device; nothing was written" \
		"$T/stderr"
	assert_eq "$(ls -A "$T/full")" "" "files left on the full tmpfs after $fmt"
done
umount "$T/full"

# Figures for the README, not a pass/fail: STRATA_EXPORT_BENCH=1 to measure.
[ "${STRATA_EXPORT_BENCH:-0}" = 1 ] || { say ok; exit 0; }
say "minbase export time (median of 3) vs skopeo copy of the same layout"
for c in gzip zstd none; do
	for i in 1 2 3; do
		t0=$(date +%s.%N)
		strata export --force --compress "$c" --oci-layout "$T/bench" debian:12 >/dev/null ||
			fail "export ($c) failed"
		t1=$(date +%s.%N)
		secs "$t0" "$t1"; echo
	done | sort -n | sed -n 2p > "$T/med-$c"
done
for i in 1 2 3; do
	rm -rf "$T/bench-skopeo"
	t0=$(date +%s.%N)
	skopeo copy -q "oci:$L:base" "oci:$T/bench-skopeo:base" || fail "skopeo copy failed"
	t1=$(date +%s.%N)
	secs "$t0" "$t1"; echo
done | sort -n | sed -n 2p > "$T/med-skopeo"
say "export minbase: gzip $(cat "$T/med-gzip") s, zstd $(cat "$T/med-zstd") s, none $(cat "$T/med-none") s; skopeo copy oci->oci $(cat "$T/med-skopeo") s"
say ok
