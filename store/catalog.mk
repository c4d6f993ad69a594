# SPDX-License-Identifier: GPL-2.0-or-later
# Layer indexes, the image catalog and import.  A library of its own because
# it sits above both libstore and libdedup (chunkstore).
noinst_LIBRARIES += store/libcatalog.a
store_libcatalog_a_SOURCES = store/layer_build.c store/layer_read.c store/catalog.c store/gc.c \
	store/import.c store/export.c store/export-out.c store/export-comp.c
store_libcatalog_a_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
noinst_HEADERS += include/strata/layer.h store/layer-internal.h include/strata/catalog.h \
	store/catalog-internal.h include/strata/import.h \
	include/strata/export.h store/export-internal.h
# Everything a program needs to link the catalog (libstore named again:
# libcatalog and libdedup call into it).
CATALOG_LIBS = store/libcatalog.a dedup/libdedup.a $(STORE_LIBS)

check_PROGRAMS += tests/unit/test_layer
TESTS += tests/unit/test_layer
tests_unit_test_layer_SOURCES = tests/unit/test_layer.c tests/unit/store-test-lib.h \
	tests/unit/tarhelp.h
tests_unit_test_layer_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_layer_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_layer_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_get -Wl,--wrap=store_get_batch
tests_unit_test_layer_LDADD = $(CATALOG_LIBS) $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_catalog
TESTS += tests/unit/test_catalog
tests_unit_test_catalog_SOURCES = tests/unit/test_catalog.c tests/unit/store-test-lib.h \
	tests/unit/tarhelp.h
tests_unit_test_catalog_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_catalog_CFLAGS = $(TEST_CFLAGS)
# store_put/store_sync are wrapped to fail the commit point of an import.
tests_unit_test_catalog_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_put -Wl,--wrap=store_sync \
	-Wl,--wrap=store_delete
tests_unit_test_catalog_LDADD = $(CATALOG_LIBS) $(TEST_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_layer.c tests/fuzz/build-layer-fuzzers.sh
# strata commit: upper directory -> layer diff -> new image (include/strata/commit.h).
store_libcatalog_a_SOURCES += store/commit.c store/commit-diff.c store/commit-lower.c \
	store/commit-config.c
noinst_HEADERS += include/strata/commit.h store/commit-internal.h

check_PROGRAMS += tests/unit/test_export
TESTS += tests/unit/test_export
tests_unit_test_export_SOURCES = tests/unit/test_export.c tests/unit/store-test-lib.h \
	tests/unit/tarhelp.h
tests_unit_test_export_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_export_CFLAGS = $(TEST_CFLAGS)
# A rebuilt tar that does not match its DiffID, and ENOSPC while writing.
tests_unit_test_export_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=layer_rebuild_tar -Wl,--wrap=write
tests_unit_test_export_LDADD = $(CATALOG_LIBS) $(TEST_LIBS)
check_PROGRAMS += tests/unit/test_commit
TESTS += tests/unit/test_commit
tests_unit_test_commit_SOURCES = tests/unit/test_commit.c
tests_unit_test_commit_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_commit_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_commit_LDADD = $(CATALOG_LIBS) $(TEST_LIBS)
