# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: where lower and upper data live (--store-on).
#   file        a directory on the root filesystem (under the work dir)
#   tmpfs-loop  ext4 on a loop device (direct-io) over a file in /dev/shm
#   zram        ext4 on a zram device
#   DEVICE      ext4 on the given block device (erased: needs --force or "yes")
# store_setup KIND SIZE WORKDIR sets B_STORE (a directory) and B_STORE_DESC.

_store_mkfs_mount() { # DEV MNT
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$1" >/dev/null ||
		die "mkfs.ext4 $1 failed"
	mkdir -p "$2"
	mount -t ext4 "$1" "$2" || die "mount $1 failed"
	track_mount "$2"
}

# One line about a block device: size, model, rotational or not.
_dev_desc() { # DEV
	local size model rota
	read -r size rota <<<"$(lsblk -dno SIZE,ROTA "$1" 2>/dev/null)"
	model=$(lsblk -dno MODEL "$1" 2>/dev/null | xargs)
	printf '%s%s, %s' "${size:-?}" "${model:+ $model}" \
		"$([ "${rota:-1}" = 0 ] && echo non-rotational || echo rotational)"
}

_store_zram() { # SIZE MNT
	local dev hot=cold id
	if [ -r /sys/class/zram-control/hot_add ]; then
		id=$(cat /sys/class/zram-control/hot_add) || die "zram hot_add failed"
		dev=zram$id
		hot=hot
	elif [ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ]; then
		dev=zram0
	else
		die "no free zram device (is the zram module loaded?)"
	fi
	B_ZRAMS+=("$dev:$hot")
	echo "$1" >"/sys/block/$dev/disksize" || die "cannot size /dev/$dev"
	_store_mkfs_mount "/dev/$dev" "$2"
	local alg
	alg=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "/sys/block/$dev/comp_algorithm")
	B_STORE_DESC="ext4 on /dev/$dev (zram, $alg, disksize $1)"
}

_store_device() { # DEV MNT
	[ -b "$1" ] || die "$1 is not a block device"
	findmnt -rn --source "$1" >/dev/null 2>&1 && die "$1 is mounted"
	if [ "${B_FORCE:-0}" != 1 ]; then
		[ -t 0 ] || die "--store-on $1 erases it: pass --force"
		printf 'bench: --store-on %s ERASES %s (%s). Type yes to go on: ' "$1" "$1" \
			"$(_dev_desc "$1")" >&2
		read -r ans
		[ "$ans" = yes ] || die "not confirmed"
	fi
	_store_mkfs_mount "$1" "$2"
	B_STORE_DESC="ext4 on $1 ($(_dev_desc "$1"))"
}

store_setup() { # KIND SIZE WORKDIR
	local kind=$1 size=$2 mnt=$3/store img loop src
	case $kind in
	file)
		mkdir -p "$mnt"
		src=$(findmnt -no SOURCE,FSTYPE --target "$mnt" | xargs)
		B_STORE_DESC="directory $mnt on $src ($(_dev_desc "$(findmnt -no SOURCE --target "$mnt")"))"
		;;
	tmpfs-loop)
		img=/dev/shm/strata-bench-$$.img
		B_FILES+=("$img")
		truncate -s "$size" "$img"
		loop=$(losetup --show -f --direct-io=on "$img") || die "no loop device"
		B_LOOPS+=("$loop")
		_store_mkfs_mount "$loop" "$mnt"
		B_STORE_DESC="ext4 on $loop (direct-io) over $img on tmpfs, $size"
		;;
	zram) _store_zram "$size" "$mnt" ;;
	/dev/*) _store_device "$kind" "$mnt" ;;
	*) die "--store-on: expected file, tmpfs-loop, zram or /dev/DEVICE, got '$kind'" ;;
	esac
	B_STORE=$mnt
}
