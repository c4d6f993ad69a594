// SPDX-License-Identifier: GPL-2.0-or-later
/* The chunk pipeline (dedup/pipeline.c): worker threads prepare, the
 * submitting thread writes in submission order; ids, puts and errors are
 * those of chunkstore_put() in a loop.  store_put and dedup_compress are
 * wrapped to record the puts, count compressions and inject failures. */
#include "tests/unit/store-test-lib.h"

#include "strata/chunkstore.h"

#define MAXPUTS 512

static struct store_key put_keys[MAXPUTS]; /* keys of chunk puts, in order */
static unsigned nputs;                 /* records written */
static int fail_put_at = -1; /* fail the put after this many writes (-ENOSPC) */
static int ncompress;        /* dedup_compress() calls (atomic: workers) */

int __real_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user);
int __wrap_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user)
{
	int r;

	if (type == STORE_REC_CHUNK && fail_put_at >= 0 && nputs == (unsigned)fail_put_at) {
		fail_put_at = -1;
		return -ENOSPC;
	}
	r = __real_store_put(s, type, key, data, len, flags, user);
	/* Only records written count (a duplicate still in flight when its
	 * twin was prepared gets -EEXIST from the store, which writes nothing). */
	if (type == STORE_REC_CHUNK && r == 0) {
		if (nputs < MAXPUTS)
			put_keys[nputs] = *key;
		nputs++;
	}
	return r;
}

int __real_dedup_compress(struct dedup_zctx *z, const void *src, size_t len, void *dst,
			  size_t dst_cap, size_t *zlen);
int __wrap_dedup_compress(struct dedup_zctx *z, const void *src, size_t len, void *dst,
			  size_t dst_cap, size_t *zlen)
{
	__atomic_add_fetch(&ncompress, 1, __ATOMIC_RELAXED);
	return __real_dedup_compress(z, src, len, dst, dst_cap, zlen);
}

static struct store *st;
static const char *spath;

static int setup(void **state)
{
	spath = tpath("/tmp", "pipeline");
	assert_int_equal(create_store(spath, 64 << 20, 1 << 20), 0);
	st = open_store(spath, false, 0);
	nputs = 0;
	fail_put_at = -1;
	ncompress = 0;
	return 0;
}

static int teardown(void **state)
{
	store_close(st);
	unlink(spath);
	return 0;
}

#define NCHUNKS 120
#define CHUNK_MAX 65536

static uint8_t data[NCHUNKS][CHUNK_MAX];
static size_t lens[NCHUNKS];

/*
 * Chunk i: compressible text or random bytes of varying length; every
 * 7th repeats chunk i - 1 (a duplicate still in flight) and every 11th
 * repeats chunk i / 2 (an older one).
 */
static void make_chunks(void)
{
	for (unsigned i = 0; i < NCHUNKS; i++) {
		if (i && i % 7 == 0) {
			lens[i] = lens[i - 1];
			memcpy(data[i], data[i - 1], lens[i]);
		} else if (i && i % 11 == 0) {
			lens[i] = lens[i / 2];
			memcpy(data[i], data[i / 2], lens[i]);
		} else {
			lens[i] = 1 + (i * 7919u) % CHUNK_MAX;
			if (i % 2) {
				fill(data[i], lens[i], i);
			} else {
				for (size_t k = 0; k < lens[i]; k++)
					data[i][k] = "abcdefgh strata "[(k / 5 + i) % 16];
			}
		}
	}
}

struct seen {
	unsigned n;
	uint64_t tags[NCHUNKS];
	struct dedup_cid cids[NCHUNKS];
	bool added[NCHUNKS];
	int fail_at; /* return -ECANCELED for this tag, -1: never */
};

static int done(void *arg, uint64_t tag, const struct dedup_cid *cid,
		const struct chunkstore_put_info *pi)
{
	struct seen *s = arg;

	if (s->fail_at >= 0 && tag == (uint64_t)s->fail_at)
		return -ECANCELED;
	assert_true(s->n < NCHUNKS);
	s->tags[s->n] = tag;
	s->cids[s->n] = *cid;
	s->added[s->n] = pi->added;
	s->n++;
	return 0;
}

/* What chunkstore_put() one by one gives: ids, and which were added. */
static void expected(struct dedup_cid *cids, bool *added, unsigned *nadded)
{
	*nadded = 0;
	for (unsigned i = 0; i < NCHUNKS; i++) {
		assert_int_equal(dedup_cid_compute(data[i], lens[i], &cids[i]), 0);
		added[i] = true;
		for (unsigned j = 0; j < i; j++)
			if (dedup_cid_equal(&cids[i], &cids[j]))
				added[i] = false;
		*nadded += added[i];
	}
}

static void test_order_ids_and_puts(void **state)
{
	static struct dedup_cid want[NCHUNKS];
	static bool want_added[NCHUNKS];
	static uint8_t out[CHUNK_MAX];
	struct dedup_pipeline *p;
	struct chunkstore *cs;
	struct seen s = { .fail_at = -1 };
	unsigned nadded, k = 0;

	make_chunks();
	expected(want, want_added, &nadded);
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(dedup_pipeline_create(cs, 3, CHUNK_MAX, done, &s, &p), 0);
	for (unsigned i = 0; i < NCHUNKS; i++)
		assert_int_equal(dedup_pipeline_submit(p, data[i], lens[i], 1000 + i), 0);
	assert_int_equal(dedup_pipeline_flush(p), 0);
	assert_int_equal(dedup_pipeline_flush(p), 0); /* nothing left: no-op */
	dedup_pipeline_destroy(p);

	assert_int_equal(s.n, NCHUNKS);
	for (unsigned i = 0; i < NCHUNKS; i++) {
		size_t len = 0;

		assert_int_equal(s.tags[i], 1000 + i); /* in submission order */
		assert_true(dedup_cid_equal(&s.cids[i], &want[i]));
		assert_int_equal(s.added[i], want_added[i]);
		assert_int_equal(chunkstore_get(cs, &want[i], out, sizeof(out), &len, true), 0);
		assert_int_equal(len, lens[i]);
		assert_memory_equal(out, data[i], len);
	}
	/* One put per new chunk, in submission order, as a loop would. */
	assert_int_equal(nputs, nadded);
	for (unsigned i = 0; i < NCHUNKS; i++) {
		struct store_key key;

		if (!want_added[i])
			continue;
		dedup_cid_to_key(&want[i], &key);
		assert_memory_equal(&put_keys[k], &key, sizeof(key));
		k++;
	}
	chunkstore_destroy(cs);
}

static void test_existing_not_compressed(void **state)
{
	struct dedup_pipeline *p;
	struct chunkstore *cs;
	struct seen s = { .fail_at = -1 };
	struct dedup_cid cid;
	static uint8_t buf[50000];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = "abcdefgh strata "[(i / 3) % 16];
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(chunkstore_put(cs, buf, sizeof(buf), &cid, NULL), 0);
	assert_int_equal(ncompress, 1);
	assert_int_equal(nputs, 1);
	assert_int_equal(dedup_pipeline_create(cs, 2, CHUNK_MAX, done, &s, &p), 0);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(dedup_pipeline_submit(p, buf, sizeof(buf), i), 0);
	assert_int_equal(dedup_pipeline_flush(p), 0);
	dedup_pipeline_destroy(p);
	/* Known ids are neither compressed again nor written. */
	assert_int_equal(ncompress, 1);
	assert_int_equal(nputs, 1);
	assert_int_equal(s.n, 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_false(s.added[i]);
		assert_true(dedup_cid_equal(&s.cids[i], &cid));
	}
	chunkstore_destroy(cs);
}

static void test_store_error_stops(void **state)
{
	struct dedup_pipeline *p;
	struct chunkstore *cs;
	struct seen s = { .fail_at = -1 };
	struct store_stats before, after;
	int r = 0;

	make_chunks();
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(dedup_pipeline_create(cs, 2, CHUNK_MAX, done, &s, &p), 0);
	store_get_stats(st, &before);
	fail_put_at = 3; /* the 4th new chunk cannot be written */
	for (unsigned i = 0; i < 40 && !r; i++)
		r = dedup_pipeline_submit(p, data[i], lens[i], i);
	if (!r)
		r = dedup_pipeline_flush(p);
	assert_int_equal(r, -ENOSPC);
	/* Sticky: later calls report it and write nothing more. */
	assert_int_equal(dedup_pipeline_submit(p, data[0], lens[0], 99), -ENOSPC);
	assert_int_equal(dedup_pipeline_flush(p), -ENOSPC);
	dedup_pipeline_destroy(p);
	store_get_stats(st, &after);
	assert_int_equal(after.records, before.records + 3);
	assert_int_equal(s.n, 3); /* chunks 0..2, all new */
	for (unsigned i = 0; i < s.n; i++)
		assert_int_equal(s.tags[i], i);
	chunkstore_destroy(cs);
}

static void test_callback_error(void **state)
{
	struct dedup_pipeline *p;
	struct chunkstore *cs;
	struct seen s = { .fail_at = 5 };
	int r = 0;

	make_chunks();
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(dedup_pipeline_create(cs, 1, CHUNK_MAX, done, &s, &p), 0);
	for (unsigned i = 0; i < 30 && !r; i++)
		r = dedup_pipeline_submit(p, data[i], lens[i], i);
	if (!r)
		r = dedup_pipeline_flush(p);
	assert_int_equal(r, -ECANCELED);
	assert_int_equal(s.n, 5);
	dedup_pipeline_destroy(p);
	chunkstore_destroy(cs);
}

static void test_bad_args_and_drop(void **state)
{
	struct dedup_pipeline *p;
	struct chunkstore *cs;
	static uint8_t buf[4096];

	make_chunks();
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(dedup_pipeline_create(cs, 0, 0, NULL, NULL, &p), -EINVAL);
	assert_int_equal(dedup_pipeline_create(cs, 0, DEDUP_CHUNK_MAX_LIMIT + 1, NULL, NULL, &p),
			 -EINVAL);
	assert_int_equal(dedup_pipeline_create(NULL, 0, 4096, NULL, NULL, &p), -EINVAL);
	/* 0 workers: one per CPU. */
	assert_int_equal(dedup_pipeline_create(cs, 0, sizeof(buf), NULL, NULL, &p), 0);
	assert_int_equal(dedup_pipeline_submit(p, buf, 0, 0), -EINVAL);
	assert_int_equal(dedup_pipeline_submit(p, buf, sizeof(buf) + 1, 0), -EINVAL);
	/* Queued and never flushed: dropped by destroy (no leak, no hang). */
	for (unsigned i = 0; i < NCHUNKS; i++)
		assert_int_equal(dedup_pipeline_submit(p, data[i], MIN(lens[i], sizeof(buf)), i),
				 0);
	dedup_pipeline_destroy(p);
	dedup_pipeline_destroy(NULL);
	chunkstore_destroy(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_ids_and_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_not_compressed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_error_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args_and_drop, setup, teardown),
	};

	strata_log_init("test_pipeline", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
