# SPDX-License-Identifier: GPL-2.0-or-later
# libdedup: content-defined chunking, content ids, chunk compression.
noinst_LIBRARIES += dedup/libdedup.a
dedup_libdedup_a_SOURCES = \
	dedup/dedup-internal.h \
	dedup/gear.c \
	dedup/chunker.c \
	dedup/cid.c \
	dedup/compress.c \
	dedup/policy.c \
	dedup/chunkcache.c
dedup_libdedup_a_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(ZSTD_CFLAGS) $(XXHASH_CFLAGS)
noinst_HEADERS += include/strata/dedup.h include/strata/chunkcache.h
# Everything a program needs to link libdedup.
DEDUP_LIBS = dedup/libdedup.a common/libcommon.a $(CRYPTO_LIBS) $(ZSTD_LIBS) $(XXHASH_LIBS) \
	-lpthread

check_PROGRAMS += tests/unit/test_chunker tests/unit/test_cid tests/unit/test_compress
TESTS += tests/unit/test_chunker tests/unit/test_cid tests/unit/test_compress
tests_unit_test_chunker_SOURCES = tests/unit/test_chunker.c
tests_unit_test_chunker_CFLAGS = $(TEST_CFLAGS)
# malloc/realloc/calloc are wrapped to inject ENOMEM into the library.
tests_unit_test_chunker_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc -Wl,--wrap=realloc
tests_unit_test_chunker_LDADD = $(DEDUP_LIBS) $(TEST_LIBS)
tests_unit_test_cid_SOURCES = tests/unit/test_cid.c
tests_unit_test_cid_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cid_LDADD = $(DEDUP_LIBS) $(TEST_LIBS)
tests_unit_test_compress_SOURCES = tests/unit/test_compress.c
tests_unit_test_compress_CPPFLAGS = $(AM_CPPFLAGS) $(ZSTD_CFLAGS)
tests_unit_test_compress_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_compress_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=calloc
tests_unit_test_compress_LDADD = $(DEDUP_LIBS) $(TEST_LIBS)

# Throughput figures, not a test (not in TESTS): built by "make check" or
# "make tests/bench/bench-chunker", run by hand.  (noinst_PROGRAMS would
# build it with plain "make", but Makefile.am does not initialize it.)
check_PROGRAMS += tests/bench/bench-chunker
tests_bench_bench_chunker_SOURCES = tests/bench/bench-chunker.c
tests_bench_bench_chunker_LDADD = $(DEDUP_LIBS)

# libFuzzer targets need clang; they are built by tests/fuzz/build.sh, not here.
EXTRA_DIST += tests/fuzz/build.sh tests/fuzz/README tests/fuzz/fuzz_chunker.c \
	tests/fuzz/fuzz_decompress.c
include dedup/chunkstore.mk

# The bounded chunk cache of store-layer readers (dedup/chunkcache.c).
check_PROGRAMS += tests/unit/test_chunkcache
TESTS += tests/unit/test_chunkcache
tests_unit_test_chunkcache_SOURCES = tests/unit/test_chunkcache.c
tests_unit_test_chunkcache_CFLAGS = $(TEST_CFLAGS)
# malloc is wrapped to make an insertion fail.
tests_unit_test_chunkcache_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc
tests_unit_test_chunkcache_LDADD = $(DEDUP_LIBS) $(TEST_LIBS)
