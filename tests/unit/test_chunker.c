// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedup/ chunker: parameters, the gear table, stable boundaries, feed-split
 * independence, size bounds and distribution, shift resistance, zero runs,
 * the streaming callbacks and ENOMEM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/dedup.h"
#include "dedup/dedup-internal.h"

/* ---- fault injection: fail the Nth allocation from now (1 = next) ---- */

static int fail_alloc_in;

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);

static bool alloc_should_fail(void)
{
	return fail_alloc_in > 0 && --fail_alloc_in == 0;
}

void *__wrap_malloc(size_t size)
{
	return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return alloc_should_fail() ? NULL : __real_realloc(p, size);
}

/* ---- helpers ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Deterministic pseudo-random bytes, the same on every host. */
static uint8_t *random_buf(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len + 8);

	assert_non_null(b);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&seed);

		memcpy(b + i, &v, 8);
	}
	return b;
}

static struct dedup_chunker_params mkparams(uint32_t min, uint32_t avg, uint32_t max)
{
	struct dedup_chunker_params p = { .min_size = min, .avg_size = avg, .max_size = max };

	return p;
}

static void chunk_all(const struct dedup_chunker_params *p, const void *buf, size_t len,
		      struct dedup_span **spans, size_t *n)
{
	assert_int_equal(dedup_chunk_buffer(p, buf, len, spans, n), 0);
}

static void assert_spans_equal(const struct dedup_span *a, size_t na, const struct dedup_span *b,
			       size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(a[i].offset, b[i].offset);
		assert_int_equal(a[i].len, b[i].len);
	}
}

/* Spans tile [0, len) and respect the bounds; only the last may be short. */
static void assert_spans_valid(const struct dedup_chunker_params *p, const struct dedup_span *s,
			       size_t n, size_t len)
{
	uint64_t off = 0;

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].offset, off);
		assert_true(s[i].len >= 1 && s[i].len <= p->max_size);
		if (i + 1 < n)
			assert_true(s[i].len >= p->min_size);
		off += s[i].len;
	}
	assert_int_equal(off, len);
}

/*
 * The cut rule written the slow, obvious way, to check the optimized scan
 * against: the length of the chunk starting at buf.
 */
static size_t ref_cut(const struct dedup_chunker_params *p, const uint8_t *buf, size_t len)
{
	unsigned bits = (unsigned)__builtin_ctz(p->avg_size);
	uint64_t ms = dedup_gear_mask(bits + DEDUP_NC_LEVEL);
	uint64_t ml = dedup_gear_mask(bits - DEDUP_NC_LEVEL);
	uint64_t h = 0;

	for (size_t i = p->min_size; i < len && i < p->max_size; i++) {
		h = (h << 1) + dedup_gear[buf[i]];
		if (!(h & (i < p->avg_size ? ms : ml)))
			return i + 1;
	}
	return len < p->max_size ? len : p->max_size;
}

/* Feed collector: records spans and checks the bytes handed out. */
struct collect {
	const uint8_t *src;
	struct dedup_span *v;
	size_t n, cap;
	int fail_at; /* return -EIO on this chunk number (1-based), 0 never */
};

static int collect_fn(void *arg, const struct dedup_chunk *ch)
{
	struct collect *c = arg;

	if (c->fail_at && (int)c->n + 1 == c->fail_at)
		return -EIO;
	assert_memory_equal(ch->data, c->src + ch->offset, ch->len);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = __real_realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n].offset = ch->offset;
	c->v[c->n].len = ch->len;
	c->n++;
	return 0;
}

/* Feed buf through a chunker in pieces cut at random points. */
static void feed_random_splits(struct dedup_chunker *ck, struct collect *col, const uint8_t *buf,
			       size_t len, uint64_t seed, size_t max_piece)
{
	size_t off = 0;

	while (off < len) {
		size_t n = (size_t)(splitmix64(&seed) % (max_piece + 1)); /* 0 allowed */

		if (n > len - off)
			n = len - off;
		assert_int_equal(dedup_chunker_feed(ck, buf + off, n, collect_fn, col), 0);
		off += n;
	}
	assert_int_equal(dedup_chunker_finish(ck, collect_fn, col), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void test_params(void **state)
{
	struct dedup_chunker_params p;
	struct dedup_chunker *c = (void *)1;

	dedup_chunker_params_default(&p);
	assert_int_equal(p.min_size, 16 << 10);
	assert_int_equal(p.avg_size, 64 << 10);
	assert_int_equal(p.max_size, 256 << 10);
	assert_int_equal(dedup_chunker_params_check(&p), 0);

	p = mkparams(64, 256, 257);
	assert_int_equal(dedup_chunker_params_check(&p), 0);
	p = mkparams(1 << 18, 1 << 19, 1 << 20);
	assert_int_equal(dedup_chunker_params_check(&p), 0);

	struct dedup_chunker_params bad[] = {
		mkparams(16 << 10, 48 << 10, 256 << 10), /* avg not a power of two */
		mkparams(64 << 10, 64 << 10, 256 << 10), /* min == avg */
		mkparams(80 << 10, 64 << 10, 256 << 10), /* min > avg */
		mkparams(16 << 10, 64 << 10, 64 << 10),  /* max == avg */
		mkparams(16 << 10, 64 << 10, 32 << 10),  /* max < avg */
		mkparams(16 << 10, 64 << 10, (1 << 20) + 1), /* max > 1 MiB */
		mkparams(16 << 10, 1 << 20, 2 << 20),    /* max > 1 MiB */
		mkparams(32, 256, 1024),                 /* min under one gear window */
		mkparams(64, 128, 1024),                 /* avg under the floor */
		mkparams(0, 0, 0),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dedup_chunker_params_check(&bad[i]), -EINVAL);
		assert_int_equal(dedup_chunker_create(&bad[i], &c), -EINVAL);
		assert_ptr_equal(c, (void *)1);
	}
	p = mkparams(16 << 10, 64 << 10, 256 << 10);
	p.whole_max = (256 << 10) + 1;
	assert_int_equal(dedup_chunker_params_check(&p), -EINVAL);
	assert_int_equal(dedup_chunker_params_check(NULL), -EINVAL);

	struct dedup_span *s = (void *)1;
	size_t n = 5;
	char byte = 0;

	assert_int_equal(dedup_chunk_buffer(&bad[0], &byte, 1, &s, &n), -EINVAL);
	assert_ptr_equal(s, (void *)1);
	assert_int_equal(n, 5);
}

static void test_whole_object(void **state)
{
	struct dedup_chunker_params p;

	assert_true(dedup_whole_object(NULL, 0));
	assert_true(dedup_whole_object(NULL, 64 << 10));
	assert_false(dedup_whole_object(NULL, (64 << 10) + 1));
	dedup_chunker_params_default(&p);
	p.whole_max = 200 << 10;
	assert_true(dedup_whole_object(&p, 200 << 10));
	assert_false(dedup_whole_object(&p, (200 << 10) + 1));
	assert_false(dedup_whole_object(&p, UINT64_MAX));
}

/* The checked-in table is what DEDUP_GEAR_SEED generates, entry for entry. */
static void test_gear_table(void **state)
{
	uint64_t s = DEDUP_GEAR_SEED;

	for (int i = 0; i < 256; i++)
		assert_int_equal(dedup_gear[i], splitmix64(&s));
	/* Spot values, so a change to both generator and table shows too. */
	assert_int_equal(dedup_gear[0], 0x5330a11710ef91a2ull);
	assert_int_equal(dedup_gear[255], 0x69a90b019d2d1c33ull);
}

/*
 * Golden boundaries (1 MiB of splitmix64(42) bytes; defaults, and 64/256/
 * 1024 on its first 8 KiB): chunk ids are shared between hosts, so these
 * must never change.  If this fails, the chunk format changed.
 */
static void test_golden_boundaries(void **state)
{
	static const uint32_t golden_default[] = {
		93328, 96972, 75459, 72794, 83847, 73192, 82309, 81875,
		70798, 73477, 107863, 69808, 66854,
	};
	static const uint32_t golden_small[] = {
		284, 263, 273, 258, 437, 273, 429, 272, 324, 300,
		232, 150, 353, 374, 265, 250, 180, 265, 262, 304,
		377, 269, 274, 292, 288, 353, 380, 211,
	};
	struct dedup_chunker_params small = mkparams(64, 256, 1024);
	struct dedup_span *s;
	size_t n;
	uint8_t *buf = random_buf(1 << 20, 42);

	chunk_all(NULL, buf, 1 << 20, &s, &n);
	assert_int_equal(n, sizeof(golden_default) / sizeof(golden_default[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s[i].len, golden_default[i]);
	free(s);

	chunk_all(&small, buf, 8192, &s, &n);
	assert_int_equal(n, sizeof(golden_small) / sizeof(golden_small[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s[i].len, golden_small[i]);
	free(s);
	free(buf);
}

/* The optimized scan cuts exactly where the obvious implementation does. */
static void test_matches_reference(void **state)
{
	struct dedup_chunker_params ps[] = {
		mkparams(64, 256, 1024),
		mkparams(100, 512, 600),
		mkparams(2048, 8192, 65536),
		mkparams(16 << 10, 64 << 10, 256 << 10),
	};
	size_t len = 4 << 20;
	uint8_t *buf = random_buf(len, 7);

	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		struct dedup_span *s;
		size_t n, off = 0;

		chunk_all(&ps[k], buf, len, &s, &n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(s[i].offset, off);
			assert_int_equal(s[i].len, ref_cut(&ps[k], buf + off, len - off));
			off += s[i].len;
		}
		assert_int_equal(off, len);
		free(s);
	}
	free(buf);
}

static void test_deterministic(void **state)
{
	size_t len = 8 << 20, n1, n2;
	uint8_t *buf = random_buf(len, 1);
	struct dedup_span *s1, *s2;

	chunk_all(NULL, buf, len, &s1, &n1);
	chunk_all(NULL, buf, len, &s2, &n2);
	assert_spans_equal(s1, n1, s2, n2);
	assert_spans_valid(&(struct dedup_chunker_params){ 16 << 10, 64 << 10, 256 << 10, 0 }, s1,
			   n1, len);
	free(s1);
	free(s2);
	free(buf);
}

/* Boundaries do not depend on how the stream is split into feeds. */
static void test_feed_split_independent(void **state)
{
	/* Pieces far below, around and far above the chunk sizes. */
	static const struct {
		size_t len, max_piece;
	} cases[] = {
		{ 1 << 20, 1 }, /* byte by byte */
		{ 6 << 20, 7 },
		{ 6 << 20, 4096 },
		{ 6 << 20, 70000 },
		{ 6 << 20, 300000 },
		{ 6 << 20, 4 << 20 },
	};
	struct dedup_chunker_params small = mkparams(64, 256, 1024);
	uint8_t *buf = random_buf(6 << 20, 3);
	struct dedup_chunker *ck;
	struct dedup_span *ref;
	size_t n;

	assert_int_equal(dedup_chunker_create(NULL, &ck), 0);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct collect col = { .src = buf };

		chunk_all(NULL, buf, cases[k].len, &ref, &n);
		feed_random_splits(ck, &col, buf, cases[k].len, 100 + k, cases[k].max_piece);
		assert_spans_equal(col.v, col.n, ref, n);
		free(col.v);
		free(ref);
	}
	dedup_chunker_destroy(ck);

	/* Small parameters: many more boundaries to disagree on. */
	assert_int_equal(dedup_chunker_create(&small, &ck), 0);
	chunk_all(&small, buf, 1 << 20, &ref, &n);
	for (int k = 0; k < 8; k++) {
		struct collect col = { .src = buf };

		feed_random_splits(ck, &col, buf, 1 << 20, 200 + k, k ? 1u << (k + 3) : 1);
		assert_spans_equal(col.v, col.n, ref, n);
		assert_spans_valid(&small, col.v, col.n, 1 << 20);
		free(col.v);
	}
	free(ref);
	dedup_chunker_destroy(ck);
	free(buf);
}

/* The copy-free scan interface gives the same boundaries. */
static void test_scan_interface(void **state)
{
	size_t len = 3 << 20, n, k = 0, off = 0, start = 0;
	uint8_t *buf = random_buf(len, 5);
	struct dedup_chunker *ck;
	struct dedup_span *ref;
	uint64_t seed = 9;

	chunk_all(NULL, buf, len, &ref, &n);
	assert_int_equal(dedup_chunker_create(NULL, &ck), 0);
	while (off < len) {
		size_t piece = (size_t)(splitmix64(&seed) % 100000);
		bool cut;

		if (piece > len - off)
			piece = len - off;
		while (piece) {
			size_t used = dedup_chunker_scan(ck, buf + off, piece, &cut);

			off += used;
			piece -= used;
			if (cut) {
				assert_true(k < n);
				assert_int_equal(ref[k].offset, start);
				assert_int_equal(ref[k].len, off - start);
				assert_int_equal(dedup_chunker_pending(ck), 0);
				k++;
				start = off;
			} else {
				assert_int_equal(piece, 0);
				assert_int_equal(dedup_chunker_pending(ck), off - start);
			}
		}
	}
	if (off > start) {
		assert_int_equal(k + 1, n);
		assert_int_equal(ref[k].len, off - start);
	} else {
		assert_int_equal(k, n);
	}
	free(ref);
	dedup_chunker_destroy(ck);
	free(buf);
}

/* On random data the mean chunk size lands near avg_size. */
static void test_average_size(void **state)
{
	size_t len = 64 << 20, n;
	uint8_t *buf = random_buf(len, 11);
	struct dedup_chunker_params p;
	struct dedup_span *s;
	double mean;

	dedup_chunker_params_default(&p);
	chunk_all(&p, buf, len, &s, &n);
	assert_spans_valid(&p, s, n, len);
	mean = (double)len / (double)n;
	print_message("64 MiB random: %zu chunks, mean %.0f bytes (avg %u)\n", n, mean,
		      p.avg_size);
	assert_true(mean >= 0.75 * p.avg_size && mean <= 1.25 * p.avg_size);
	free(s);

	/* A smaller average too, on 8 MiB. */
	p = mkparams(2048, 8192, 32768);
	chunk_all(&p, buf, 8 << 20, &s, &n);
	assert_spans_valid(&p, s, n, 8 << 20);
	mean = (double)(8 << 20) / (double)n;
	assert_true(mean >= 0.75 * p.avg_size && mean <= 1.25 * p.avg_size);
	free(s);
	free(buf);
}

static int cid_cmp(const void *a, const void *b)
{
	return dedup_cid_cmp(a, b);
}

static struct dedup_cid *chunk_ids(const uint8_t *buf, size_t len, size_t *n)
{
	struct dedup_span *s;
	struct dedup_cid *ids;

	chunk_all(NULL, buf, len, &s, n);
	ids = calloc(*n, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < *n; i++)
		assert_int_equal(dedup_cid_compute(buf + s[i].offset, s[i].len, &ids[i]), 0);
	free(s);
	return ids;
}

/*
 * Insert a few bytes near the start of 16 MiB: only the chunks around the
 * insertion change; at least 90% of the new chunks are old chunks.
 */
static void test_shift_resistance(void **state)
{
	static const size_t at[] = { 1000, 20000, 100000 };
	size_t len = 16 << 20, n0;
	uint8_t *buf = random_buf(len, 13);
	uint8_t *mod = malloc(len + 16);
	struct dedup_cid *ids0 = chunk_ids(buf, len, &n0);

	assert_non_null(mod);
	qsort(ids0, n0, sizeof(*ids0), cid_cmp);
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		size_t ins = 1 + k * 5, n1, same = 0;
		struct dedup_cid *ids1;

		memcpy(mod, buf, at[k]);
		memset(mod + at[k], 0xa5, ins);
		memcpy(mod + at[k] + ins, buf + at[k], len - at[k]);
		ids1 = chunk_ids(mod, len + ins, &n1);
		for (size_t i = 0; i < n1; i++)
			same += bsearch(&ids1[i], ids0, n0, sizeof(*ids0), cid_cmp) != NULL;
		print_message("insert %zu bytes at %zu: %zu of %zu chunks unchanged\n", ins, at[k],
			      same, n1);
		assert_true(same * 10 >= n1 * 9);
		/* Only the chunks touching the insertion may differ. */
		assert_true(n1 - same <= 3);
		free(ids1);
	}
	free(ids0);
	free(mod);
	free(buf);
}

/*
 * Runs of zero bytes never satisfy a cut mask, for any allowed average
 * (the gear seed was chosen for this), so they become max-size chunks.
 */
static void test_zero_runs(void **state)
{
	size_t len = 3 << 20;
	uint8_t *zero = calloc(1, len);

	assert_non_null(zero);
	for (uint32_t avg = DEDUP_CHUNK_AVG_LIMIT_LO; avg < DEDUP_CHUNK_MAX_LIMIT; avg <<= 1) {
		uint32_t mins[] = { DEDUP_CHUNK_MIN_LIMIT, avg / 4 > 64 ? avg / 4 : 64, avg - 1 };

		for (size_t m = 0; m < 3; m++) {
			struct dedup_chunker_params p = mkparams(mins[m], avg, DEDUP_CHUNK_MAX_LIMIT);
			size_t plen = 2 * (size_t)p.max_size + 12345, n;
			struct dedup_span *s;

			chunk_all(&p, zero, plen, &s, &n);
			assert_int_equal(n, 3);
			assert_int_equal(s[0].len, p.max_size);
			assert_int_equal(s[1].len, p.max_size);
			assert_int_equal(s[2].len, 12345);
			free(s);
		}
	}
	/* Defaults on 3 MiB of zeros: twelve 256 KiB chunks. */
	struct dedup_span *s;
	size_t n;

	chunk_all(NULL, zero, len, &s, &n);
	assert_int_equal(n, 12);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s[i].len, DEDUP_CHUNK_MAX_DEFAULT);
	free(s);
	free(zero);
}

static void test_small_and_empty(void **state)
{
	struct dedup_chunker *ck;
	struct dedup_span *s = (void *)1;
	struct collect col;
	uint8_t *buf = random_buf(20000, 17);
	size_t n = 9;

	chunk_all(NULL, buf, 0, &s, &n);
	assert_null(s);
	assert_int_equal(n, 0);
	/* Under min_size: one chunk, whatever the content. */
	chunk_all(NULL, buf, DEDUP_CHUNK_MIN_DEFAULT, &s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].len, DEDUP_CHUNK_MIN_DEFAULT);
	free(s);
	chunk_all(NULL, buf, 1, &s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].len, 1);
	free(s);

	assert_int_equal(dedup_chunker_create(NULL, &ck), 0);
	/* An empty stream has no chunk, not an empty one. */
	memset(&col, 0, sizeof(col));
	col.src = buf;
	assert_int_equal(dedup_chunker_feed(ck, buf, 0, collect_fn, &col), 0);
	assert_int_equal(dedup_chunker_finish(ck, collect_fn, &col), 0);
	assert_int_equal(col.n, 0);
	/* The chunker is reusable after finish: offsets restart at 0. */
	assert_int_equal(dedup_chunker_feed(ck, buf, 5000, collect_fn, &col), 0);
	assert_int_equal(dedup_chunker_finish(ck, collect_fn, &col), 0);
	assert_int_equal(dedup_chunker_feed(ck, buf, 3000, collect_fn, &col), 0);
	assert_int_equal(dedup_chunker_finish(ck, collect_fn, &col), 0);
	assert_int_equal(col.n, 2);
	assert_int_equal(col.v[0].offset, 0);
	assert_int_equal(col.v[0].len, 5000);
	assert_int_equal(col.v[1].offset, 0);
	assert_int_equal(col.v[1].len, 3000);
	free(col.v);
	dedup_chunker_destroy(ck);
	dedup_chunker_destroy(NULL);
	free(buf);
}

/* A callback error stops feeding and comes back unchanged; reset recovers. */
static void test_callback_error(void **state)
{
	struct dedup_chunker_params p = mkparams(64, 256, 1024);
	size_t len = 1 << 16, n;
	uint8_t *buf = random_buf(len, 19);
	struct collect col = { .src = buf, .fail_at = 3 };
	struct dedup_chunker *ck;
	struct dedup_span *ref;

	chunk_all(&p, buf, len, &ref, &n);
	assert_int_equal(dedup_chunker_create(&p, &ck), 0);
	assert_int_equal(dedup_chunker_feed(ck, buf, len, collect_fn, &col), -EIO);
	assert_int_equal(col.n, 2);
	/* The error of the last chunk comes out of finish. */
	dedup_chunker_reset(ck);
	col.n = 0;
	col.fail_at = (int)n;
	assert_int_equal(dedup_chunker_feed(ck, buf, len, collect_fn, &col), 0);
	assert_int_equal(dedup_chunker_finish(ck, collect_fn, &col), -EIO);
	assert_int_equal(dedup_chunker_pending(ck), 0);
	/* After reset the whole stream chunks as before. */
	dedup_chunker_reset(ck);
	col.n = 0;
	col.fail_at = 0;
	feed_random_splits(ck, &col, buf, len, 1, 5000);
	assert_spans_equal(col.v, col.n, ref, n);
	free(col.v);
	free(ref);
	dedup_chunker_destroy(ck);
	free(buf);
}

static void test_enomem(void **state)
{
	size_t len = 1 << 20, n;
	uint8_t *buf = random_buf(len, 23);
	struct dedup_chunker *ck = NULL;
	struct dedup_span *s = (void *)1, *ref;
	struct collect col = { .src = buf };

	fail_alloc_in = 1;
	assert_int_equal(dedup_chunker_create(NULL, &ck), -ENOMEM);
	assert_null(ck);

	/* First feed allocates the carry buffer; failing it consumes nothing. */
	assert_int_equal(dedup_chunker_create(NULL, &ck), 0);
	fail_alloc_in = 1;
	assert_int_equal(dedup_chunker_feed(ck, buf, 1000, collect_fn, &col), -ENOMEM);
	assert_int_equal(dedup_chunker_pending(ck), 0);
	feed_random_splits(ck, &col, buf, len, 2, 100000);
	chunk_all(NULL, buf, len, &ref, &n);
	assert_spans_equal(col.v, col.n, ref, n);
	free(col.v);
	dedup_chunker_destroy(ck);

	/*
	 * One-shot: the first and a later growth of the span array (max just
	 * above avg makes chunks smaller than avg, so the first guess is short).
	 */
	for (int k = 1; k <= 2; k++) {
		struct dedup_chunker_params p = mkparams(64, 256, 257);

		fail_alloc_in = k;
		assert_int_equal(dedup_chunk_buffer(&p, buf, len, &s, &n), -ENOMEM);
		assert_ptr_equal(s, (void *)1);
	}
	fail_alloc_in = 0;
	free(ref);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_whole_object),
		cmocka_unit_test(test_gear_table),
		cmocka_unit_test(test_golden_boundaries),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_feed_split_independent),
		cmocka_unit_test(test_scan_interface),
		cmocka_unit_test(test_average_size),
		cmocka_unit_test(test_shift_resistance),
		cmocka_unit_test(test_zero_runs),
		cmocka_unit_test(test_small_and_empty),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
