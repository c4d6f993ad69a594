# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: unpack the image into lower directories on the store, and
# add the bench data layer (fio files, the C project) on top.
#   --image tiny | minbase | ROOTFS.tar | OCI-LAYOUT[:TAG]
# image_setup IMAGE STOREDIR sets B_LOWERS (top:...:bottom), B_IMAGE_DESC,
# B_IMAGE_TAR (a rootfs tar for the untar workload) and B_IMAGE_LOWER.

_image_untar() { # TAR DIR
	mkdir -p "$2"
	run_fg tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$1" -C "$2"
}

# OCI whiteouts to overlayfs format: .wh.NAME -> char 0/0, .wh..wh..opq -> xattr.
_oci_whiteouts() { # DIR
	local f d n
	while IFS= read -r -d '' f; do
		d=${f%/*}
		n=${f##*/}
		rm -f "$f"
		if [ "$n" = .wh..wh..opq ]; then
			setfattr -n trusted.overlay.opaque -v y "$d"
		else
			mknod "$d/${n#.wh.}" c 0 0
		fi
	done < <(find "$1" -name '.wh.*' -print0)
}

_image_oci() { # LAYOUT TAG STOREDIR
	local manifest digests d i=0 lowers=""
	manifest=$(jq -r --arg t "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$1/index.json" | head -n1)
	[ -n "$manifest" ] || die "no tag '$2' in $1"
	digests=$(jq -r '.layers[].digest' "$1/blobs/${manifest/://}")
	for d in $digests; do
		_image_untar "$1/blobs/${d/://}" "$3/lower/layer$i" || die "cannot unpack layer $d"
		_oci_whiteouts "$3/lower/layer$i"
		lowers="$3/lower/layer$i${lowers:+:$lowers}"
		i=$((i + 1))
	done
	B_LOWERS=$lowers
	B_IMAGE_LOWER=$3/lower/layer0
	# The untar workload extracts the bottom layer (a full rootfs for most images).
	B_IMAGE_TAR=$3/image-layer0.tar
	tar -C "$3/lower/layer0" --numeric-owner --xattrs -cf "$B_IMAGE_TAR" .
	B_IMAGE_DESC="OCI layout $1:$2 ($i layers)"
}

image_setup() { # IMAGE STOREDIR
	local img=$1 tar
	case $img in
	tiny) tar=$(image_tiny_tar) || die "cannot build the tiny image" ;;
	minbase) tar=$(image_minbase_tar) || die "cannot build the minbase image" ;;
	*.tar | *.tar.*) tar=$img ;;
	*)
		local layout=${img%:*} tag=${img##*:}
		[ "$layout" = "$img" ] && tag=latest
		[ -f "$layout/index.json" ] || die "--image: '$img' is not tiny, minbase, a tar or an OCI layout"
		_image_oci "$layout" "$tag" "$2"
		;;
	esac
	if [ -n "${tar:-}" ]; then
		[ -f "$tar" ] || die "no such image tar: $tar"
		_image_untar "$tar" "$2/lower/image" || die "cannot unpack $tar"
		B_LOWERS=$2/lower/image
		B_IMAGE_LOWER=$2/lower/image
		B_IMAGE_TAR=$tar
		B_IMAGE_DESC="$img (rootfs tar $(basename "$tar"), $(du -sh --apparent-size "$tar" | cut -f1))"
	fi
	B_IMAGE_FILES=$(find "$B_IMAGE_LOWER" -xdev | wc -l)
	B_IMAGE_DESC="$B_IMAGE_DESC, $B_IMAGE_FILES entries"
}

# The bench data layer, topmost lower: /bench/fio.dat and /bench/cproj.
data_layer_setup() { # STOREDIR
	local d=$1/lower/data/bench
	mkdir -p "$d"
	run_fg fio --name=prep --filename="$d/fio.dat" --rw=write --bs=1M --size="$P_FIO_SIZE" \
		--ioengine=psync --end_fsync=1 >/dev/null || die "cannot create the fio file"
	cproj_generate "$d/cproj" "$P_CPROJ_N"
	B_LOWERS=$1/lower/data:$B_LOWERS
	# Files to chmod in the copy-up workload: lower regular files, fixed order.
	# (sed, not head: head would end the pipe early, and pipefail turn
	# sort's SIGPIPE into a failure.)
	(cd "$B_IMAGE_LOWER" && find . -xdev -type f -print0 | sort -z | sed -z -n "1,${P_COPYUP_N}p") \
		>"$1/copyup.list"
	B_COPYUP_N=$(tr -cd '\0' <"$1/copyup.list" | wc -c)
}
