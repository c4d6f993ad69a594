# SPDX-License-Identifier: GPL-2.0-or-later
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = common/log.c common/util.c common/bigbuf.c
noinst_HEADERS += include/strata/log.h include/strata/util.h
check_PROGRAMS += tests/unit/test_util
TESTS += tests/unit/test_util
tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_util_LDADD = common/libcommon.a $(TEST_LIBS)
