# SPDX-License-Identifier: GPL-2.0-or-later
# strata-fuse integration tests (mount for real, compare with kernel overlayfs).
check_PROGRAMS += tests/integration/fsdiff tests/integration/fsops
tests_integration_fsdiff_SOURCES = tests/integration/fsdiff.c
tests_integration_fsops_SOURCES = tests/integration/fsops.c
FS_TESTS = \
	tests/integration/300-fs-basic.sh \
	tests/integration/301-fs-diff.sh \
	tests/integration/302-fs-faults.sh \
	tests/integration/303-fs-concurrency.sh \
	tests/integration/304-fs-runc.sh \
	tests/integration/305-fs-posix.sh \
	tests/integration/306-fs-podman.sh \
	tests/integration/307-fs-links.sh \
	tests/integration/308-fs-metacopy.sh \
	tests/integration/309-fs-killed.sh \
	tests/integration/310-fs-mount-helper.sh \
	tests/integration/311-fs-store.sh \
	tests/integration/314-fs-store-gc.sh \
	tests/integration/315-fs-chunk-cache.sh \
	tests/integration/312-fs-passthrough.sh \
	tests/integration/313-fs-setid.sh \
	tests/integration/320-fs-quota.sh \
	tests/integration/321-volume.sh
TESTS += $(FS_TESTS)
dist_check_SCRIPTS += $(FS_TESTS) tests/integration/fs-lib.sh
