#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Image import into the store with real images (Debian minbase via
# mmdebstrap + umoci, plus an app image on top of it): import, dedup across
# re-imports and shared base layers, every layer rebuilt and checked against
# its DiffID, oci-archive and docker-archive sources, images/inspect/tag/rmi,
# gc, an import killed half-way, concurrent imports; fsck after each step.
. "$(dirname "$0")/lib.sh"
need_cmd mmdebstrap umoci skopeo jq
. "$STRATA_SRCDIR/tests/lib/images.sh"
OCI=$(image_minbase_oci) || skip "cannot build the minbase OCI layout (no Debian mirror?)"
TINY=$(image_tiny_tar) || skip "cannot build the tiny image"

STRATA_STORE="$TEST_TMP/store.img"
export STRATA_STORE
fsck_ok() {
	expect_ok strata fsck
	assert_grep ': clean' "$TEST_TMP/stdout"
}
records() { strata fsck | sed -n 's/^.*: \([0-9]*\) records,.*/\1/p'; }
df_json() { strata df --json; }

expect_ok strata store init --file "$STRATA_STORE" --size 2G
fsck_ok

say "an app image on top of minbase (one more layer, with a whiteout)"
L="$TEST_TMP/layout"
cp -a "$OCI" "$L"
mkdir -p "$TEST_TMP/app/etc/app" "$TEST_TMP/app/usr/share"
echo "app config" > "$TEST_TMP/app/etc/app/app.conf"
head -c 300000 /dev/urandom > "$TEST_TMP/app/etc/app/blob"
: > "$TEST_TMP/app/etc/.wh.motd"
: > "$TEST_TMP/app/usr/share/.wh..wh..opq"
tar -C "$TEST_TMP/app" --numeric-owner --owner=0 --group=0 -cf "$TEST_TMP/app.tar" .
expect_ok umoci raw add-layer --image "$L:base" --tag app "$TEST_TMP/app.tar"

say "import minbase (gzip layer)"
t0=$(date +%s.%N)
expect_ok strata import --ref base "$L"
t1=$(date +%s.%N)
assert_grep '^imported sha256:[0-9a-f]\{64\} (layout:base): 1 layer (1 new)' "$TEST_TMP/stdout"
say "minbase import took $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
BASE_ID=$(sed -n 's/^imported \(sha256:[0-9a-f]*\) .*/\1/p' "$TEST_TMP/stdout")
fsck_ok
n1=$(records)

say "importing the same image again stores nothing new"
expect_ok strata import --ref base "$L"
assert_grep "^imported $BASE_ID (layout:base): 1 layer (0 new), .* 0 B new stored" "$TEST_TMP/stdout"
n2=$(records)
assert_eq "$n1" "$n2" "record count after re-import"
fsck_ok

say "an image sharing the base layer stores only its own layer"
expect_ok strata import --ref app --name app:1 --name app:latest "$L"
assert_grep '(app:1, app:latest): 2 layers (1 new)' "$TEST_TMP/stdout"
APP_ID=$(sed -n 's/^imported \(sha256:[0-9a-f]*\) .*/\1/p' "$TEST_TMP/stdout")
fsck_ok
base_l0=$(strata inspect --format json layout:base | jq -r '.layers[0].diff_id')
app_l0=$(strata inspect --format json app:1 | jq -r '.layers[0].diff_id')
assert_eq "$base_l0" "$app_l0" "shared base layer"
# The config's diff_ids are the layers' DiffIDs.
strata inspect --format json app:1 | jq -r '.config.rootfs.diff_ids[]' > "$TEST_TMP/cfg-ids"
strata inspect --format json app:1 | jq -r '.layers[].diff_id' > "$TEST_TMP/our-ids"
cmp "$TEST_TMP/cfg-ids" "$TEST_TMP/our-ids" || fail "layer DiffIDs differ from the config"
# The base image's unique bytes are small now: almost everything is shared.
df_json > "$TEST_TMP/df.json"
shared_ok=$(jq '[.images[] | select(.name == "app:1")][0].unique < 5000000' "$TEST_TMP/df.json")
assert_eq "$shared_ok" true "app image's unique bytes"
say "df: $(jq -c '.total | {logical, data, stored, dedup_ratio, compression_ratio}' "$TEST_TMP/df.json")"

say "every layer rebuilt byte for byte matches its DiffID"
expect_ok strata verify --all
[ "$(grep -c '^ok ' "$TEST_TMP/stdout")" = 3 ] || fail "expected 3 verified layers"

say "oci-archive and docker-archive of the same images"
expect_ok skopeo copy -q "oci:$L:app" "oci-archive:$TEST_TMP/app-oci.tar:app"
expect_ok skopeo copy -q "oci:$L:app" "docker-archive:$TEST_TMP/app-docker.tar:dock/app:2"
n1=$(records)
expect_ok strata import --name app:ociarchive "$TEST_TMP/app-oci.tar"
assert_grep "^imported $APP_ID (app:ociarchive): 2 layers (0 new)" "$TEST_TMP/stdout"
expect_ok strata import "$TEST_TMP/app-docker.tar"
assert_grep '(docker.io/dock/app:2): 2 layers (0 new)' "$TEST_TMP/stdout"
DOCK_ID=$(sed -n 's/^imported \(sha256:[0-9a-f]*\) .*/\1/p' "$TEST_TMP/stdout")
[ "$DOCK_ID" != "$APP_ID" ] || fail "docker-archive got the OCI manifest's ID"
strata inspect --format json docker.io/dock/app:2 | jq -r '.layers[].diff_id' > "$TEST_TMP/dock-ids"
cmp "$TEST_TMP/dock-ids" "$TEST_TMP/our-ids" || fail "docker-archive layers differ"
# Only the new manifests, configs, image and tag records were written: no chunk.
df_json > "$TEST_TMP/df2.json"
assert_eq "$(jq .total.chunks "$TEST_TMP/df.json")" "$(jq .total.chunks "$TEST_TMP/df2.json")" \
	"chunks after importing archives of stored images"
fsck_ok

say "images, short IDs, tag, rmi"
expect_ok strata images
assert_grep '^layout:base ' "$TEST_TMP/stdout"
assert_grep '^app:1 ' "$TEST_TMP/stdout"
assert_grep "^docker.io/dock/app:2 " "$TEST_TMP/stdout"
short=$(echo "$APP_ID" | cut -c8-19)
expect_ok strata inspect "$short"
assert_grep "^id: *$APP_ID" "$TEST_TMP/stdout"
expect_fail strata inspect "$(echo "$APP_ID" | cut -c8-9)"   # too short for an ID
expect_fail strata inspect nosuch:tag
assert_grep 'no such image' "$TEST_TMP/stderr"
expect_ok strata tag layout:base mirror/base:v1
expect_ok strata inspect mirror/base:v1
assert_grep "^id: *$BASE_ID" "$TEST_TMP/stdout"
# Moving a tag to another image.
expect_ok strata tag app:1 mirror/base:v1
expect_ok strata inspect --format json mirror/base:v1
[ "$(jq -r .id "$TEST_TMP/stdout")" = "$APP_ID" ] || fail "tag did not move"
# rmi of one of several names only untags.
expect_ok strata rmi app:latest
assert_grep '^untagged app:latest' "$TEST_TMP/stdout"
expect_ok strata inspect app:1
expect_ok strata rmi "$DOCK_ID"
assert_grep "^deleted $DOCK_ID" "$TEST_TMP/stdout"
expect_fail strata inspect docker.io/dock/app:2
fsck_ok

say "gc after removing the app image frees its layer but keeps the base"
expect_ok strata rmi "$APP_ID"
expect_ok strata gc
assert_grep '^deleted [1-9][0-9]* chunks' "$TEST_TMP/stdout"
fsck_ok
expect_ok strata verify layout:base
expect_ok strata images -q
assert_eq "$(cat "$TEST_TMP/stdout")" "$BASE_ID" "images left"
expect_ok strata gc
assert_grep '^deleted 0 chunks (0 B) and 0 ' "$TEST_TMP/stdout"

say "an import killed half-way leaves no image; gc reclaims its chunks"
expect_ok strata rmi layout:base
expect_ok strata gc
# A fresh store file, so its allocated blocks show how far the import got.
STRATA_STORE="$TEST_TMP/kill.img"
expect_ok strata store init --file "$STRATA_STORE" --size 1G
b0=$(stat -c %b "$STRATA_STORE")
strata import --ref app --name killed:1 "$L" >/dev/null 2>&1 &
pid=$!
track_pid $pid
for _ in $(seq 1 400); do
	[ "$(stat -c %b "$STRATA_STORE")" -gt $((b0 + 40000)) ] && break
	sleep 0.02
done
kill -9 $pid 2>/dev/null || fail "the import ended before it could be killed"
wait $pid 2>/dev/null || :
fsck_ok
expect_ok strata images -q
assert_eq "$(cat "$TEST_TMP/stdout")" "" "images after a killed import"
df_json > "$TEST_TMP/df3.json"
g=$(jq .garbage "$TEST_TMP/df3.json")
say "garbage after the kill: $g bytes"
[ "$g" -gt 10000000 ] || fail "the killed import left only $g bytes"
expect_ok strata gc
df_json > "$TEST_TMP/df4.json"
assert_eq "$(jq .garbage "$TEST_TMP/df4.json")" 0 "garbage after gc"
fsck_ok
# The same import now completes.
expect_ok strata import --ref app --name again:1 "$L"
expect_ok strata verify again:1

say "a store too small for the image: ENOSPC half-way is a clear error, nothing visible"
STRATA_STORE="$TEST_TMP/small.img"
expect_ok strata store init --file "$STRATA_STORE" --size 32M
expect_fail strata import --ref base --name big:1 "$L"
assert_grep 'strata: import: .*No space left' "$TEST_TMP/stderr"
fsck_ok
expect_ok strata images -q
assert_eq "$(cat "$TEST_TMP/stdout")" "" "images after ENOSPC"
expect_ok strata gc
expect_ok strata df --json
assert_eq "$(jq .garbage "$TEST_TMP/stdout")" 0 "garbage after gc on the full store"
# The text form says the same: no garbage, and free space that is not 0.
expect_ok strata df
assert_grep '^garbage (gc reclaims): 0 B in 0 records' "$TEST_TMP/stdout"
grep -q ' 0 B free$' "$TEST_TMP/stdout" && fail "strata df text shows 0 B free"
# The store is usable again afterwards.
expect_ok strata import --tar --name small:1 "$TINY"
expect_ok strata verify small:1
fsck_ok
STRATA_STORE="$TEST_TMP/kill.img"

say "concurrent imports into one store"
expect_ok strata rmi again:1
expect_ok strata gc
strata import --tar --name c1:1 "$TINY" > "$TEST_TMP/c1.out" 2>&1 &
p1=$!
strata import --ref base --name c2:1 "$L" > "$TEST_TMP/c2.out" 2>&1 &
p2=$!
strata import --tar --name c3:1 "$TINY" > "$TEST_TMP/c3.out" 2>&1 &
p3=$!
wait $p1 || { cat "$TEST_TMP/c1.out"; fail "concurrent import 1"; }
wait $p2 || { cat "$TEST_TMP/c2.out"; fail "concurrent import 2"; }
wait $p3 || { cat "$TEST_TMP/c3.out"; fail "concurrent import 3"; }
fsck_ok
expect_ok strata images
assert_grep '^c1:1 ' "$TEST_TMP/stdout"
assert_grep '^c2:1 ' "$TEST_TMP/stdout"
assert_grep '^c3:1 ' "$TEST_TMP/stdout"
expect_ok strata verify --all
say "ok"
