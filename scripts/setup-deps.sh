#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install every Debian package strata needs to build, test and benchmark.
# Idempotent: when all are present it installs nothing and needs no network.
set -eu

BUILD="build-essential autoconf automake pkg-config git
libfuse3-dev liburing-dev libzstd-dev libxxhash-dev libblkid-dev libcmocka-dev
libarchive-dev zlib1g-dev libssl-dev libjson-c-dev libcurl4-openssl-dev"
RUNTIME="fuse3 util-linux kmod e2fsprogs xfsprogs mdadm xxhash zstd jq"
TEST="fio fuse-overlayfs umoci skopeo mmdebstrap runc crun podman
gnuplot-nox procps psmisc iproute2 time attr acl strace"

if [ "$(id -u)" != 0 ]; then
	echo "setup-deps: must run as root (apt-get)" >&2
	exit 1
fi

missing=""
for p in $BUILD $RUNTIME $TEST ${STRATA_EXTRA_PACKAGES:-}; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup-deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing </dev/null
fi
# /dev/fuse must exist for the integration tests and the daemon.
[ -e /dev/fuse ] || { echo "setup-deps: /dev/fuse is missing" >&2; exit 1; }
