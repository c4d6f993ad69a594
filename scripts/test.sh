#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Set everything up and run the whole test suite: README's command (2).
# Builds with --enable-werror and --enable-sanitizers (ASan+UBSan) and runs
# `make check` (cmocka unit programs, FUSE integration scripts, the short
# benchmark modes).  Ends with one line "tests: N passed, N failed, N skipped"
# and fails when no test ran.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/setup-deps.sh
b="$top/_build/check"
sh scripts/build.sh "$b" --enable-werror --enable-sanitizers
cd "$b"
rc=0
make -j"$(nproc)" check ${TESTS:+TESTS="$TESTS"} || rc=$?
log=test-suite.log
if [ ! -f "$log" ]; then
	echo "test.sh: no test-suite.log: the suite did not run" >&2
	exit 1
fi
# Show what failed, with its log, so CI output says why.
if [ "$rc" -ne 0 ]; then
	sed -n '/^\(FAIL\|ERROR\|XPASS\): /,$p' "$log" | head -c 200000
fi
pass=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
fail=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
err=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
xpass=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
skip=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
failed=$(( ${fail:-0} + ${err:-0} + ${xpass:-0} ))
grep -h '^SKIP:' $(find . -name '*.log' ! -name test-suite.log) 2>/dev/null | sort -u | sed 's/^/  /' || true
echo "tests: ${pass:-0} passed, $failed failed, ${skip:-0} skipped"
if [ "${pass:-0}" -eq 0 ]; then
	echo "test.sh: no test passed: treating as failure" >&2
	exit 1
fi
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
