#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure and build strata out of tree.
#   scripts/build.sh BUILDDIR [configure options...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:?usage: build.sh BUILDDIR [configure options]}
shift
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null
fi
mkdir -p "$b"
cd "$b"
if [ ! -f Makefile ] || [ "$(cat .strata-config 2>/dev/null)" != "$*" ]; then
	"$top/configure" -q "$@"
	echo "$*" > .strata-config
fi
make -s -j"$(nproc)"
