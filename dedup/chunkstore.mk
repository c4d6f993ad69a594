# SPDX-License-Identifier: GPL-2.0-or-later
# The dedup index over the block store: chunk records and derived refcounts.
dedup_libdedup_a_SOURCES += dedup/chunkstore.c dedup/pipeline.c
noinst_HEADERS += include/strata/chunkstore.h

check_PROGRAMS += tests/unit/test_chunkstore
TESTS += tests/unit/test_chunkstore
tests_unit_test_chunkstore_SOURCES = tests/unit/test_chunkstore.c tests/unit/store-test-lib.h
tests_unit_test_chunkstore_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_chunkstore_CFLAGS = $(TEST_CFLAGS)
# store_put/store_get/store_sync are wrapped to inject ENOSPC, EIO and ENOMEM.
tests_unit_test_chunkstore_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_put -Wl,--wrap=store_get_batch \
	-Wl,--wrap=store_sync -Wl,--wrap=malloc
tests_unit_test_chunkstore_LDADD = dedup/libdedup.a $(STORE_LIBS) $(CRYPTO_LIBS) $(ZSTD_LIBS) \
	$(XXHASH_LIBS) $(TEST_LIBS)

# The per-store policy record (dedup/policy.c) and its parsers.
check_PROGRAMS += tests/unit/test_policy
TESTS += tests/unit/test_policy
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c tests/unit/store-test-lib.h
tests_unit_test_policy_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_policy_CFLAGS = $(TEST_CFLAGS)
# store_put/store_sync are wrapped to make updates fail half-way.
tests_unit_test_policy_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_put -Wl,--wrap=store_sync
tests_unit_test_policy_LDADD = dedup/libdedup.a $(STORE_LIBS) $(CRYPTO_LIBS) $(ZSTD_LIBS) \
	$(XXHASH_LIBS) $(TEST_LIBS)

# The chunk pipeline (dedup/pipeline.c): worker threads, in-order writes.
check_PROGRAMS += tests/unit/test_pipeline
TESTS += tests/unit/test_pipeline
tests_unit_test_pipeline_SOURCES = tests/unit/test_pipeline.c tests/unit/store-test-lib.h
tests_unit_test_pipeline_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_pipeline_CFLAGS = $(TEST_CFLAGS)
# store_put and dedup_compress are wrapped to record puts, count
# compressions and inject a failed write.
tests_unit_test_pipeline_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_put -Wl,--wrap=dedup_compress
tests_unit_test_pipeline_LDADD = dedup/libdedup.a $(STORE_LIBS) $(CRYPTO_LIBS) $(ZSTD_LIBS) \
	$(XXHASH_LIBS) $(TEST_LIBS) -lpthread
