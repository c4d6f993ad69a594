# SPDX-License-Identifier: GPL-2.0-or-later
# Test images shared by the integration tests and the benchmarks:
#   . "$STRATA_SRCDIR/tests/lib/images.sh"
#   tar=$(image_minbase_tar)    # Debian bookworm minbase rootfs tar (~30 s once)
#   oci=$(image_minbase_oci)    # OCI layout of that tar, tag "base"
#   tiny=$(image_tiny_tar)      # a few MB, built locally in seconds
# Each function prints the path of a cached, read-only-by-convention image
# under $STRATA_TEST_CACHE (default /var/cache/strata-test) and returns
# non-zero with a message on stderr when it cannot be built.  Building is
# concurrency-safe: one flock per image, build into a temporary name, rename.
# Bump the -vN suffix of an image when its recipe changes.
# POSIX sh; sets no traps and leaves the caller's shell options alone.

: "${STRATA_TEST_CACHE:=/var/cache/strata-test}"

_img_log() { printf 'images: %s\n' "$*" >&2; }

# _img_cached NAME BUILDER: print $STRATA_TEST_CACHE/NAME, running
# "BUILDER TMPPATH" under the image's lock when it does not exist yet.
# BUILDER creates TMPPATH (file or directory) and returns 0 on success.
_img_cached() {
	_img_dst="$STRATA_TEST_CACHE/$1"
	if [ -e "$_img_dst" ]; then
		echo "$_img_dst"
		return 0
	fi
	mkdir -p "$STRATA_TEST_CACHE" || return 1
	(
		# fd 9 holds the lock until this subshell ends.
		exec 9>"$STRATA_TEST_CACHE/.$1.lock"
		flock 9 || exit 1
		[ -e "$_img_dst" ] && exit 0
		_img_tmp="$STRATA_TEST_CACHE/.$1.tmp.$$"
		rm -rf "$_img_tmp"
		_img_log "building $1 (cached in $STRATA_TEST_CACHE)"
		if ! "$2" "$_img_tmp"; then
			rm -rf "$_img_tmp"
			_img_log "building $1 failed"
			exit 1
		fi
		mv -T "$_img_tmp" "$_img_dst"
	) || return 1
	echo "$_img_dst"
}

# Deterministic incompressible bytes: _img_bytes SIZE SEED
_img_bytes() {
	if command -v openssl >/dev/null 2>&1; then
		_img_key=$(printf '%s' "strata-$2" | sha256sum | cut -c1-32)
		head -c "$1" /dev/zero |
			openssl enc -aes-128-ctr -K "$_img_key" -iv 00000000000000000000000000000000
	else
		yes "strata-$2" | head -c "$1"
	fi
}

# Copy a host program and the shared libraries it needs into ROOT.
_img_copy_prog() { # ROOT PROG
	for _f in "$2" $(ldd "$2" 2>/dev/null | sed -n 's/.*[[:space:]]\(\/[^[:space:]]*\) (0x.*/\1/p'); do
		[ -e "$1$_f" ] && continue
		mkdir -p "$1$(dirname "$_f")"
		cp -L "$_f" "$1$_f"
	done
}

_img_tar_dir() { # DIR OUT.tar: reproducible tar of DIR's contents
	tar -C "$1" --sort=name --numeric-owner --owner=0 --group=0 \
		--mtime=@1700000000 --format=gnu -cf "$2" .
}

_img_build_tiny() {
	_r="$1.root"
	rm -rf "$_r"
	mkdir -p "$_r/bin" "$_r/etc" "$_r/tmp" "$_r/var/lib/data/sub/deeper" "$_r/usr/share/doc"
	chmod 1777 "$_r/tmp"
	# Real programs, so that `runc run ... /bin/true` and /bin/sh work.
	for _p in /bin/sh /bin/true /bin/cat /bin/ls; do
		_img_copy_prog "$_r" "$(readlink -f "$_p")" || return 1
	done
	# dash resolves to /usr/bin/dash under merged /usr: give it its usual names.
	for _p in sh true cat ls; do
		_real=$(readlink -f "/bin/$_p")
		[ -e "$_r/bin/$_p" ] || ln -s "$_real" "$_r/bin/$_p"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$_r/etc/passwd"
	printf 'root:x:0:\n' >"$_r/etc/group"
	printf 'strata tiny test image\n' >"$_r/etc/motd"
	: >"$_r/var/lib/data/empty"
	for _s in 1 100 4095 4096 4097 65536 131073 1048576; do
		_img_bytes "$_s" "$_s" >"$_r/var/lib/data/f$_s" || return 1
	done
	_img_bytes 4194304 big >"$_r/var/lib/data/sub/big4m" || return 1
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
		echo "small file $_i" >"$_r/var/lib/data/sub/deeper/s$_i"
	done
	ln -s ../lib/data/f4096 "$_r/var/lib/link-f4096"
	ln "$_r/var/lib/data/f65536" "$_r/var/lib/data/hardlink-f65536"
	chmod 0600 "$_r/var/lib/data/f100"
	cp /etc/os-release "$_r/usr/share/doc/os-release" 2>/dev/null || :
	_img_tar_dir "$_r" "$1"
	_rc=$?
	rm -rf "$_r"
	return $_rc
}

_img_build_minbase() {
	# The mirror comes from the host's apt sources unless given.
	if [ -n "${STRATA_DEBIAN_MIRROR:-}" ]; then
		SOURCE_DATE_EPOCH=1700000000 mmdebstrap -q --variant=minbase \
			--format=tar bookworm "$1" "$STRATA_DEBIAN_MIRROR" </dev/null >&2
	else
		SOURCE_DATE_EPOCH=1700000000 mmdebstrap -q --variant=minbase \
			--format=tar bookworm "$1" </dev/null >&2
	fi
}

_img_build_minbase_oci() {
	_tar=$(image_minbase_tar) || return 1
	umoci init --layout "$1" &&
		umoci new --image "$1:base" &&
		umoci raw add-layer --image "$1:base" "$_tar" &&
		umoci config --image "$1:base" --config.cmd /bin/sh
}

image_tiny_tar() { _img_cached tiny-v1.tar _img_build_tiny; }
image_minbase_tar() { _img_cached minbase-bookworm-v1.tar _img_build_minbase; }
image_minbase_oci() { _img_cached minbase-bookworm-v1.oci _img_build_minbase_oci; }
