# SPDX-License-Identifier: GPL-2.0-or-later
# strata-fuse integration tests (mount for real, compare with kernel overlayfs).
check_PROGRAMS += tests/integration/fsdiff
tests_integration_fsdiff_SOURCES = tests/integration/fsdiff.c
FS_TESTS = \
	tests/integration/300-fs-basic.sh \
	tests/integration/301-fs-diff.sh \
	tests/integration/302-fs-faults.sh \
	tests/integration/303-fs-concurrency.sh \
	tests/integration/304-fs-runc.sh
TESTS += $(FS_TESTS)
dist_check_SCRIPTS += $(FS_TESTS) tests/integration/fs-lib.sh
