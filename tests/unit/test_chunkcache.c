// SPDX-License-Identifier: GPL-2.0-or-later
/* dedup/chunkcache.c: hits copy the right bytes, the budget holds, the least
 * recently used chunk goes first, a failed allocation changes nothing, and
 * many threads at once read only what was put. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/chunkcache.h"

/* malloc is wrapped: fail_malloc > 0 fails that many calls. */
void *__real_malloc(size_t n);
static int fail_malloc;
void *__wrap_malloc(size_t n)
{
	if (fail_malloc > 0) {
		fail_malloc--;
		return NULL;
	}
	return __real_malloc(n);
}

/* Chunk number i: its id and len bytes that depend on i and the offset. */
static struct dedup_cid cid_of(uint32_t i)
{
	struct dedup_cid c;

	memset(&c, 0, sizeof(c));
	memcpy(c.b, &i, sizeof(i));
	c.b[31] = 0x5a;
	return c;
}

static uint8_t byte_of(uint32_t i, size_t off)
{
	return (uint8_t)(i * 31u + off * 7u + (off >> 9));
}

static uint8_t *chunk_of(uint32_t i, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t k = 0; k < len; k++)
		b[k] = byte_of(i, k);
	return b;
}

static void put(struct chunk_cache *c, uint32_t i, size_t len)
{
	struct dedup_cid cid = cid_of(i);
	uint8_t *b = chunk_of(i, len);

	assert_int_equal(chunk_cache_put(c, &cid, b, len), 0);
	free(b);
}

static bool has(struct chunk_cache *c, uint32_t i, size_t len)
{
	struct dedup_cid cid = cid_of(i);
	uint8_t one;

	return chunk_cache_read(c, &cid, len, 0, 1, &one);
}

static void test_create_rejects_zero(void **state)
{
	struct chunk_cache *c = (struct chunk_cache *)1;

	(void)state;
	assert_int_equal(chunk_cache_create(0, &c), -EINVAL);
	chunk_cache_destroy(NULL);
}

static void test_hit_copies_the_wanted_bytes(void **state)
{
	struct chunk_cache *c;
	struct chunk_cache_stats st;
	struct dedup_cid cid = cid_of(1), other = cid_of(2);
	uint8_t *want = chunk_of(1, 65536), got[8192];

	(void)state;
	assert_int_equal(chunk_cache_create(8u << 20, &c), 0);
	assert_false(chunk_cache_read(c, &cid, 65536, 0, 4096, got));
	assert_int_equal(chunk_cache_put(c, &cid, want, 65536), 0);
	/* The caller's buffer is not kept: the cache has its own copy. */
	memset(want, 0, 65536);
	free(want);
	want = chunk_of(1, 65536);
	assert_true(chunk_cache_read(c, &cid, 65536, 0, 4096, got));
	assert_memory_equal(got, want, 4096);
	assert_true(chunk_cache_read(c, &cid, 65536, 61440, 4096, got));
	assert_memory_equal(got, want + 61440, 4096);
	assert_true(chunk_cache_read(c, &cid, 65536, 12345, 8192, got));
	assert_memory_equal(got, want + 12345, 8192);
	assert_true(chunk_cache_read(c, &cid, 65536, 65536, 0, got));
	/* Past the end, another length than the index says, another id. */
	assert_false(chunk_cache_read(c, &cid, 65536, 61441, 4096, got));
	assert_false(chunk_cache_read(c, &cid, 65536, 65537, 0, got));
	assert_false(chunk_cache_read(c, &cid, 65535, 0, 16, got));
	assert_false(chunk_cache_read(c, &other, 65536, 0, 16, got));
	/* Putting it again keeps one copy. */
	assert_int_equal(chunk_cache_put(c, &cid, want, 65536), 0);
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 4);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.entries, 1);
	assert_true(st.bytes >= 65536 && st.bytes < 65536 + 256);
	assert_int_equal(st.budget, 8u << 20);
	assert_int_equal(chunk_cache_put(c, &cid, want, 0), -EINVAL);
	free(want);
	chunk_cache_destroy(c);
}

/* One shard (budget under 4 MiB): exact LRU order. */
static void test_budget_and_lru(void **state)
{
	struct chunk_cache *c;
	struct chunk_cache_stats st;
	const size_t len = 100000;
	uint32_t i, kept;

	(void)state;
	assert_int_equal(chunk_cache_create(1u << 20, &c), 0);
	for (i = 0; i < 10; i++)
		put(c, i, len);
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 10);
	assert_true(st.bytes <= st.budget);
	/* Chunk 0 used now: chunk 1 is the oldest and goes first. */
	assert_true(has(c, 0, len));
	put(c, 10, len);
	assert_true(has(c, 0, len));
	assert_false(has(c, 1, len));
	assert_true(has(c, 2, len));
	assert_true(has(c, 10, len));
	for (i = 11; i < 40; i++)
		put(c, i, len);
	chunk_cache_get_stats(c, &st);
	assert_true(st.bytes <= st.budget);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.evictions, 40 - 10 - 1 + 1);
	for (i = 0, kept = 0; i < 40; i++)
		kept += has(c, i, len);
	assert_int_equal(kept, 10);
	for (i = 30; i < 40; i++)
		assert_true(has(c, i, len));
	/* Larger than the budget: refused, nothing evicted. */
	{
		struct dedup_cid big = cid_of(99);
		uint8_t *b = calloc(1, 2u << 20);

		assert_non_null(b);
		assert_int_equal(chunk_cache_put(c, &big, b, 2u << 20), -E2BIG);
		free(b);
	}
	for (i = 30; i < 40; i++)
		assert_true(has(c, i, len));
	chunk_cache_destroy(c);
}

static void test_enomem_changes_nothing(void **state)
{
	struct chunk_cache *c;
	struct dedup_cid cid = cid_of(7);
	uint8_t *b = chunk_of(7, 4096), got[16];

	(void)state;
	assert_int_equal(chunk_cache_create(1u << 20, &c), 0);
	put(c, 1, 4096);
	fail_malloc = 1;
	assert_int_equal(chunk_cache_put(c, &cid, b, 4096), -ENOMEM);
	fail_malloc = 0;
	assert_false(chunk_cache_read(c, &cid, 4096, 0, 16, got));
	assert_true(has(c, 1, 4096));
	assert_int_equal(chunk_cache_put(c, &cid, b, 4096), 0);
	assert_true(chunk_cache_read(c, &cid, 4096, 0, 16, got));
	assert_memory_equal(got, b, 16);
	free(b);
	chunk_cache_destroy(c);
}

/* Give the cache a buffer of its own holding a copy of data. */
static void adopt_copy(struct chunk_cache *c, const struct dedup_cid *cid, const uint8_t *data,
		       size_t len, size_t used)
{
	uint8_t *buf = chunk_cache_alloc(len);

	assert_non_null(buf);
	memcpy(buf, data, len);
	assert_int_equal(chunk_cache_adopt(c, cid, buf, len, used), 0);
}

/* A chunk leaves once as many bytes as it has were handed out, counting
 * those its first reader took (adopt's used). */
static void test_read_out_chunks_leave(void **state)
{
	struct chunk_cache *c;
	struct chunk_cache_stats st;
	struct dedup_cid a = cid_of(1), b = cid_of(2);
	uint8_t *want = chunk_of(1, 40000), got[16000];

	(void)state;
	assert_int_equal(chunk_cache_create(8u << 20, &c), 0);
	assert_int_equal(chunk_cache_put(c, &a, want, 40000), 0);
	assert_true(chunk_cache_read(c, &a, 40000, 0, 16000, got));
	assert_true(chunk_cache_read(c, &a, 40000, 16000, 16000, got));
	assert_memory_equal(got, want + 16000, 16000);
	assert_true(chunk_cache_read(c, &a, 40000, 32000, 7999, got));
	assert_true(chunk_cache_read(c, &a, 40000, 39999, 1, got)); /* the last byte */
	assert_int_equal(got[0], want[39999]);
	assert_false(chunk_cache_read(c, &a, 40000, 0, 1, got));
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.done, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	/* Adopted after its reader took 30000 bytes: 10000 more and it goes. */
	adopt_copy(c, &b, want, 40000, 30000);
	assert_true(chunk_cache_read(c, &b, 40000, 30000, 9000, got));
	assert_true(chunk_cache_read(c, &b, 40000, 100, 1000, got));
	assert_memory_equal(got, want + 100, 1000);
	assert_false(chunk_cache_read(c, &b, 40000, 0, 1, got));
	/* Two readers missed it at once: the second's part counts too. */
	assert_int_equal(chunk_cache_put(c, &a, want, 40000), 0);
	adopt_copy(c, &a, want, 40000, 25000);
	assert_true(chunk_cache_read(c, &a, 40000, 0, 14999, got));
	assert_true(chunk_cache_read(c, &a, 40000, 20000, 1, got));
	assert_false(chunk_cache_read(c, &a, 40000, 0, 1, got));
	/* Adopting a buffer of len 0 or too big frees it (ASan would see a
	 * leak otherwise). */
	assert_int_equal(chunk_cache_adopt(c, &b, chunk_cache_alloc(16), 0, 0), -EINVAL);
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.done, 3);
	chunk_cache_free(NULL);
	free(want);
	chunk_cache_destroy(c);
}

/* Trimming frees what was not used within the given time, oldest first. */
static void test_trim(void **state)
{
	struct chunk_cache *c;
	struct chunk_cache_stats st;

	(void)state;
	assert_int_equal(chunk_cache_create(8u << 20, &c), 0);
	put(c, 1, 10000);
	put(c, 2, 20000);
	/* Nothing is an hour old. */
	assert_int_equal(chunk_cache_trim(c, 3600ull * 1000000000ull), 0);
	assert_true(has(c, 1, 10000));
	usleep(50000);
	put(c, 3, 30000);
	assert_true(has(c, 1, 10000)); /* used again just now */
	/* Only chunk 2 was idle for 40 ms. */
	assert_true(chunk_cache_trim(c, 40000000ull) >= 20000);
	assert_false(has(c, 2, 20000));
	assert_true(has(c, 1, 10000));
	assert_true(has(c, 3, 30000));
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.aged, 1);
	/* 0: everything goes, and the budget is free again. */
	assert_true(chunk_cache_trim(c, 0) >= 40000);
	chunk_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.aged, 3);
	chunk_cache_destroy(c);
}

struct worker {
	struct chunk_cache *c;
	unsigned seed;
	unsigned bad;
	unsigned hits;
};

#define NCHUNKS 300u

static size_t len_of(uint32_t i)
{
	return 4096 + (i % 17) * 3000;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t got[1024];

	for (int n = 0; n < 20000; n++) {
		uint32_t i = (uint32_t)rand_r(&w->seed) % NCHUNKS;
		struct dedup_cid cid = cid_of(i);
		size_t len = len_of(i), off = (size_t)rand_r(&w->seed) % (len - sizeof(got));

		if (chunk_cache_read(w->c, &cid, len, off, sizeof(got), got)) {
			w->hits++;
			for (size_t k = 0; k < sizeof(got); k++)
				w->bad += got[k] != byte_of(i, off + k);
		} else {
			uint8_t *b = chunk_of(i, len);

			if (chunk_cache_put(w->c, &cid, b, len))
				w->bad++;
			free(b);
		}
	}
	return NULL;
}

/* Four threads over 300 chunks in a cache that holds about half of them:
 * every hit has the chunk's own bytes, the budget holds. */
static void test_threads(void **state)
{
	struct worker w[4];
	pthread_t th[4];
	struct chunk_cache *c;
	struct chunk_cache_stats st;
	unsigned hits = 0;

	(void)state;
	/* 300 chunks of 4-52 KB are about 8 MB: two shards of 2 MiB hold
	 * about half of them. */
	assert_int_equal(chunk_cache_create(4u << 20, &c), 0);
	for (int k = 0; k < 4; k++) {
		w[k] = (struct worker){ .c = c, .seed = 17u + (unsigned)k };
		assert_int_equal(pthread_create(&th[k], NULL, worker_main, &w[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(w[k].bad, 0);
		hits += w[k].hits;
	}
	chunk_cache_get_stats(c, &st);
	assert_true(st.bytes <= st.budget);
	assert_int_equal(st.hits, hits);
	assert_int_equal(st.hits + st.misses, 4 * 20000);
	assert_true(st.evictions > 0);
	assert_true(hits > 4 * 20000 / 10);
	assert_int_equal(st.inserts - st.evictions - st.done, st.entries);
	assert_true(st.done > 0);
	chunk_cache_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rejects_zero),
		cmocka_unit_test(test_hit_copies_the_wanted_bytes),
		cmocka_unit_test(test_budget_and_lru),
		cmocka_unit_test(test_enomem_changes_nothing),
		cmocka_unit_test(test_read_out_chunks_leave),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
