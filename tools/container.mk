# SPDX-License-Identifier: GPL-2.0-or-later
# Container commands: ps (mounts), rm, bundle, which.
tools_strata_SOURCES += tools/cmd_ps.c tools/cmd_ps.h tools/cmd_bundle.c tools/cmd_which.c \
	tools/ocispec.c tools/ocispec.h
# fs_usage_scan() (fs/usage.c, no FUSE in it) for the upper usage of ps.
tools_strata_LDADD += fs/libfs.a
dist_man_MANS += man/strata-bundle.1 man/strata-ps.1 man/strata-which.1

check_PROGRAMS += tests/unit/test_ocispec
TESTS += tests/unit/test_ocispec
tests_unit_test_ocispec_SOURCES = tests/unit/test_ocispec.c tools/ocispec.c
tests_unit_test_ocispec_CFLAGS = $(TEST_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_ocispec_LDADD = $(JSONC_LIBS) $(TEST_LIBS)
