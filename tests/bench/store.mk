# SPDX-License-Identifier: GPL-2.0-or-later
# The block store against fio on the same target (store-bench.sh): prints
# figures and ratios, never passes or fails, so it is not in TESTS.  Built by
# `make check` (or `make tests/bench/store-bench`), never installed.
check_PROGRAMS += tests/bench/store-bench
tests_bench_store_bench_SOURCES = tests/bench/store-bench.c
tests_bench_store_bench_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_bench_store_bench_LDADD = $(STORE_LIBS)
EXTRA_DIST += tests/bench/store-bench.sh
