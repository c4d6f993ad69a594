# SPDX-License-Identifier: GPL-2.0-or-later
# Block store core: format, index, log appender, checkpoints, recovery, fsck.
store_libstore_a_SOURCES += store/format.c store/index.c store/log.c store/checkpoint.c \
	store/recover.c store/store.c store/fsck.c store/compact.c \
	store/view.c store/space.c
noinst_HEADERS += store/store-internal.h
dist_man_MANS += man/strata-store.5

check_PROGRAMS += tests/unit/test_store tests/unit/test_recovery tests/unit/test_compact \
	tests/unit/test_view
TESTS += tests/unit/test_store tests/unit/test_recovery tests/unit/test_compact \
	tests/unit/test_view
tests_unit_test_store_SOURCES = tests/unit/test_store.c tests/unit/store-test-lib.h
tests_unit_test_store_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_store_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_LIBS) $(TEST_LIBS)
tests_unit_test_recovery_SOURCES = tests/unit/test_recovery.c tests/unit/store-test-lib.h
tests_unit_test_recovery_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_recovery_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_recovery_LDADD = $(STORE_LIBS) $(TEST_LIBS)
tests_unit_test_compact_SOURCES = tests/unit/test_compact.c tests/unit/store-test-lib.h
tests_unit_test_compact_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_compact_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_compact_LDADD = $(STORE_LIBS) $(TEST_LIBS)
tests_unit_test_view_SOURCES = tests/unit/test_view.c tests/unit/store-test-lib.h
tests_unit_test_view_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_view_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_view_LDADD = $(STORE_LIBS) $(TEST_LIBS)
