// SPDX-License-Identifier: GPL-2.0-or-later
/* The dedup index: chunk records, compression, batched reads, derived
 * refcounts, sweep; faults injected into the store and malloc. */
#include "tests/unit/store-test-lib.h"

#include "strata/chunkstore.h"

/* ---- fault injection ---- */
static int fail_put = 0;      /* -errno to return from the next store_put */
static int fail_sync = 0;
static int fail_batch_idx = -1; /* request whose res becomes -EIO */
static int fail_malloc_in = -1; /* fail the Nth malloc from now (0: next) */

int __real_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user);
int __wrap_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user)
{
	if (fail_put) {
		int r = fail_put;

		fail_put = 0;
		return r;
	}
	return __real_store_put(s, type, key, data, len, flags, user);
}

int __real_store_sync(struct store *s);
int __wrap_store_sync(struct store *s)
{
	if (fail_sync) {
		int r = fail_sync;

		fail_sync = 0;
		return r;
	}
	return __real_store_sync(s);
}

int __real_store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n);
int __wrap_store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n)
{
	int r = __real_store_get_batch(s, reqs, n);

	if (fail_batch_idx >= 0 && (unsigned)fail_batch_idx < n) {
		reqs[fail_batch_idx].res = -EIO;
		fail_batch_idx = -1;
		return -EIO;
	}
	return r;
}

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
	if (fail_malloc_in >= 0 && fail_malloc_in-- == 0)
		return NULL;
	return __real_malloc(n);
}

static struct store *st;
static const char *spath;

static int setup(void **state)
{
	spath = tpath("/tmp", "chunkstore");
	assert_int_equal(create_store(spath, 64 << 20, 1 << 20), 0);
	st = open_store(spath, false, 0);
	return 0;
}

static int teardown(void **state)
{
	store_close(st);
	unlink(spath);
	return 0;
}

static uint64_t nrecords(void)
{
	struct store_stats s;

	store_get_stats(st, &s);
	return s.records;
}

static void text(void *buf, size_t len, unsigned seed)
{
	char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = "abcdefgh strata "[(i / 7 + seed) % 16];
}

static void test_put_get_dedup(void **state)
{
	struct chunkstore *cs;
	struct chunkstore_put_info pi;
	struct dedup_cid a, b, want;
	static uint8_t buf1[100000], buf2[100000], out[100000];
	uint32_t raw, stored;
	bool comp;
	size_t len;
	uint64_t n0;

	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	text(buf1, sizeof(buf1), 1);
	fill(buf2, sizeof(buf2), 7); /* random: incompressible */
	n0 = nrecords();
	assert_int_equal(chunkstore_put(cs, buf1, sizeof(buf1), &a, &pi), 0);
	assert_true(pi.added);
	assert_true(pi.compressed);
	assert_true(pi.stored_len < sizeof(buf1) / 4);
	dedup_cid_compute(buf1, sizeof(buf1), &want);
	assert_true(dedup_cid_equal(&a, &want));
	assert_int_equal(chunkstore_put(cs, buf2, sizeof(buf2), &b, &pi), 0);
	assert_true(pi.added);
	assert_false(pi.compressed);
	assert_int_equal(pi.stored_len, sizeof(buf2));
	assert_int_equal(nrecords(), n0 + 2);

	/* The same bytes again: deduplicated, no record written. */
	assert_int_equal(chunkstore_put(cs, buf1, sizeof(buf1), &a, &pi), 0);
	assert_false(pi.added);
	assert_true(pi.compressed);
	assert_int_equal(nrecords(), n0 + 2);

	assert_int_equal(chunkstore_stat(cs, &a, &raw, &stored, &comp), 0);
	assert_int_equal(raw, sizeof(buf1));
	assert_true(comp);
	assert_int_equal(chunkstore_get(cs, &a, out, sizeof(out), &len, true), 0);
	assert_int_equal(len, sizeof(buf1));
	assert_memory_equal(out, buf1, len);
	assert_int_equal(chunkstore_get(cs, &b, out, sizeof(out), &len, true), 0);
	assert_memory_equal(out, buf2, len);
	/* Too small a buffer says how much raw room is needed. */
	assert_int_equal(chunkstore_get(cs, &a, out, 100, &len, false), -ENOBUFS);
	assert_int_equal(len, sizeof(buf1));
	/* Bad sizes. */
	assert_int_equal(chunkstore_put(cs, buf1, 0, &a, NULL), -EINVAL);
	assert_int_equal(chunkstore_put(cs, buf1, DEDUP_CHUNK_MAX_LIMIT + 1, &a, NULL), -EINVAL);
	chunkstore_destroy(cs);

	/* Durable across a reopen. */
	store_close(st);
	st = open_store(spath, false, 0);
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(chunkstore_get(cs, &a, out, sizeof(out), &len, true), 0);
	assert_memory_equal(out, buf1, len);
	chunkstore_destroy(cs);
}

static void test_policy_none(void **state)
{
	struct dedup_compress_policy none = { DEDUP_COMPRESS_NONE, 0 }, bad = { 7, 0 };
	struct chunkstore *cs;
	struct chunkstore_put_info pi;
	struct dedup_cid a;
	static uint8_t buf[65536], out[65536];
	size_t len;

	assert_int_equal(chunkstore_create(st, &bad, &cs), -EINVAL);
	assert_int_equal(chunkstore_create(st, &none, &cs), 0);
	text(buf, sizeof(buf), 3);
	assert_int_equal(chunkstore_put(cs, buf, sizeof(buf), &a, &pi), 0);
	assert_true(pi.added);
	assert_false(pi.compressed);
	assert_int_equal(chunkstore_get(cs, &a, out, sizeof(out), &len, true), 0);
	assert_memory_equal(out, buf, sizeof(buf));
	chunkstore_destroy(cs);
}

/*
 * On a store that reads through aligned O_DIRECT (ext4 in /var/tmp), a
 * batch leaves chunks stored raw in the store's read buffer (data is not
 * buf) and decompresses the others from there into buf; both are the
 * chunks that were put.  A single get always fills buf.
 */
static void test_batch_borrowed(void **state)
{
	const char *p = tpath("/var/tmp", "chunkstore-borrow");
	static uint8_t data[4][70000], out[4][70000];
	struct chunkstore_req reqs[4];
	struct dedup_cid ids[4];
	struct chunkstore_put_info pi;
	struct chunkstore *cs;
	struct store_info in;
	struct store *s;
	size_t len;

	assert_int_equal(create_store(p, 64 << 20, 1 << 20), 0);
	s = open_store(p, false, -1);
	store_get_info(s, &in);
	assert_true(in.direct_io);
	assert_int_equal(chunkstore_create(s, NULL, &cs), 0);
	for (int i = 0; i < 4; i++) {
		if (i % 2)
			fill(data[i], sizeof(data[i]), 20 + i); /* stored raw */
		else
			text(data[i], sizeof(data[i]), 20 + i); /* compressed */
		assert_int_equal(chunkstore_put(cs, data[i], sizeof(data[i]), &ids[i], &pi), 0);
		assert_int_equal(pi.compressed, i % 2 == 0);
	}
	/* Reopened: read from the device, not from the write buffers. */
	chunkstore_destroy(cs);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, false, -1);
	assert_int_equal(chunkstore_create(s, NULL, &cs), 0);
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < 4; i++) {
		reqs[i].cid = ids[i];
		reqs[i].buf = out[i];
		reqs[i].bufsize = sizeof(out[i]);
	}
	assert_int_equal(chunkstore_get_batch(cs, reqs, 4), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(reqs[i].res, 0);
		assert_int_equal(reqs[i].len, sizeof(data[i]));
		assert_memory_equal(reqs[i].data, data[i], sizeof(data[i]));
		if (i % 2)
			assert_ptr_not_equal(reqs[i].data, out[i]);
		else
			assert_ptr_equal(reqs[i].data, out[i]);
	}
	memset(out[1], 0, sizeof(out[1]));
	assert_int_equal(chunkstore_get(cs, &ids[1], out[1], sizeof(out[1]), &len, true), 0);
	assert_memory_equal(out[1], data[1], sizeof(data[1]));
	chunkstore_destroy(cs);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_batch_and_corruption(void **state)
{
	struct chunkstore *cs;
	struct chunkstore_req reqs[4];
	struct dedup_cid ids[3], fake;
	static uint8_t data[3][20000], out[4][20000];
	struct store_key key;

	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	text(data[0], sizeof(data[0]), 5);
	fill(data[1], sizeof(data[1]), 9);
	text(data[2], 3000, 11);
	assert_int_equal(chunkstore_put(cs, data[0], sizeof(data[0]), &ids[0], NULL), 0);
	assert_int_equal(chunkstore_put(cs, data[1], sizeof(data[1]), &ids[1], NULL), 0);
	assert_int_equal(chunkstore_put(cs, data[2], 3000, &ids[2], NULL), 0);
	memset(&fake, 0x5a, sizeof(fake));
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < 3; i++)
		reqs[i].cid = ids[i];
	reqs[3].cid = fake;
	for (int i = 0; i < 4; i++) {
		reqs[i].buf = out[i];
		reqs[i].bufsize = sizeof(out[i]);
	}
	assert_int_equal(chunkstore_get_batch(cs, reqs, 4), -ENOENT);
	assert_int_equal(reqs[0].res, 0);
	assert_int_equal(reqs[1].res, 0);
	assert_int_equal(reqs[2].res, 0);
	assert_int_equal(reqs[3].res, -ENOENT);
	assert_int_equal(reqs[2].len, 3000);
	assert_memory_equal(reqs[0].data, data[0], sizeof(data[0]));
	assert_memory_equal(reqs[1].data, data[1], sizeof(data[1]));
	assert_memory_equal(reqs[2].data, data[2], 3000);

	/* An EIO on one request is that request's error. */
	fail_batch_idx = 1;
	assert_int_equal(chunkstore_get_batch(cs, reqs, 3), -EIO);
	assert_int_equal(reqs[0].res, 0);
	assert_int_equal(reqs[1].res, -EIO);

	/* A chunk record whose bytes do not hash to its key: verify catches it. */
	memcpy(key.b, fake.b, sizeof(key.b));
	assert_int_equal(store_put(st, STORE_REC_CHUNK, &key, data[1], 100, 0, 100), 0);
	assert_int_equal(chunkstore_get(cs, &fake, out[0], sizeof(out[0]), &reqs[0].len, false), 0);
	assert_int_equal(chunkstore_get(cs, &fake, out[0], sizeof(out[0]), &reqs[0].len, true),
			 -EBADMSG);
	/* A raw length that disagrees with the record. */
	fake.b[0] ^= 1;
	memcpy(key.b, fake.b, sizeof(key.b));
	assert_int_equal(store_put(st, STORE_REC_CHUNK, &key, data[1], 100, 0, 99), 0);
	assert_int_equal(chunkstore_get(cs, &fake, out[0], sizeof(out[0]), &reqs[0].len, false),
			 -EBADMSG);
	/* A key that holds a META record is not a chunk. */
	fake.b[0] ^= 2;
	memcpy(key.b, fake.b, sizeof(key.b));
	assert_int_equal(store_put(st, STORE_REC_META, &key, data[1], 100, 0, 0), 0);
	assert_int_equal(chunkstore_stat(cs, &fake, NULL, NULL, NULL), -EUCLEAN);
	assert_int_equal(chunkstore_put_cid(cs, &fake, data[1], 100, NULL), -EUCLEAN);
	chunkstore_destroy(cs);
}

static void test_faults(void **state)
{
	struct chunkstore *cs;
	struct dedup_cid a;
	static uint8_t buf[50000];
	uint64_t n0;

	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	text(buf, sizeof(buf), 21);
	n0 = nrecords();
	fail_put = -ENOSPC;
	assert_int_equal(chunkstore_put(cs, buf, sizeof(buf), &a, NULL), -ENOSPC);
	assert_int_equal(nrecords(), n0);
	assert_int_equal(chunkstore_stat(cs, &a, NULL, NULL, NULL), -ENOENT);
	/* The compression buffer cannot be allocated. */
	fail_malloc_in = 0;
	assert_int_equal(chunkstore_put(cs, buf, sizeof(buf), &a, NULL), -ENOMEM);
	fail_malloc_in = -1;
	assert_int_equal(nrecords(), n0);
	/* After the faults the same put works. */
	assert_int_equal(chunkstore_put(cs, buf, sizeof(buf), &a, NULL), 0);
	assert_int_equal(nrecords(), n0 + 1);
	chunkstore_destroy(cs);
}

static void test_refs(void **state)
{
	struct chunk_refs *r;
	struct dedup_cid id;
	uint64_t sum = 0;

	assert_int_equal(chunk_refs_create(&r), 0);
	for (uint32_t i = 0; i < 20000; i++) {
		dedup_cid_compute(&i, sizeof(i), &id);
		assert_int_equal(chunk_refs_incref(r, &id, 1 + i % 3), 1 + i % 3);
	}
	assert_int_equal(chunk_refs_count(r), 20000);
	for (uint32_t i = 0; i < 20000; i++) {
		dedup_cid_compute(&i, sizeof(i), &id);
		assert_int_equal(chunk_refs_get(r, &id), 1 + i % 3);
		sum += chunk_refs_get(r, &id);
	}
	assert_int_equal(sum, 20000 + 6667 * 0 + 6667 * 1 + 6666 * 2);
	/* Drop every id once: those with count 1 disappear. */
	for (uint32_t i = 0; i < 20000; i++) {
		dedup_cid_compute(&i, sizeof(i), &id);
		assert_int_equal(chunk_refs_decref(r, &id), i % 3);
	}
	assert_int_equal(chunk_refs_count(r), 20000 - 6667);
	{
		uint32_t i = 0;

		dedup_cid_compute(&i, sizeof(i), &id);
		assert_int_equal(chunk_refs_decref(r, &id), -ENOENT); /* never negative */
		assert_int_equal(chunk_refs_get(r, &id), 0);
		assert_int_equal(chunk_refs_incref(r, &id, 2), 2);     /* comes back */
	}
	assert_int_equal(chunk_refs_incref(r, &id, 0), -EINVAL);
	chunk_refs_destroy(r);
	chunk_refs_destroy(NULL);
}

static int count_cb(void *arg, const struct dedup_cid *cid, uint64_t count)
{
	*(uint64_t *)arg += count;
	return 0;
}

static void test_sweep(void **state)
{
	struct chunkstore_sweep_stats ss;
	struct chunkstore *cs;
	struct chunk_refs *live;
	struct dedup_cid ids[5], ghost;
	static uint8_t buf[5][10000];
	uint64_t before, total = 0;
	struct store_key mkey;

	/* A fresh store: only these chunks in it. */
	store_close(st);
	unlink(spath);
	assert_int_equal(create_store(spath, 64 << 20, 1 << 20), 0);
	st = open_store(spath, false, 0);
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	for (int i = 0; i < 5; i++) {
		fill(buf[i], sizeof(buf[i]), 100 + i);
		assert_int_equal(chunkstore_put(cs, buf[i], sizeof(buf[i]), &ids[i], NULL), 0);
	}
	/* A META record is never the chunk sweep's business. */
	mkkey(&mkey, 1, 99);
	assert_int_equal(store_put(st, STORE_REC_META, &mkey, "m", 1, 0, 0), 0);
	assert_int_equal(chunk_refs_create(&live), 0);
	chunk_refs_incref(live, &ids[0], 1);
	chunk_refs_incref(live, &ids[3], 4);
	memset(&ghost, 0x77, sizeof(ghost));
	chunk_refs_incref(live, &ghost, 1); /* referenced but absent */
	chunk_refs_iterate(live, count_cb, &total);
	assert_int_equal(total, 6);
	before = nrecords();

	assert_int_equal(chunkstore_sweep(cs, live, true, &ss), 0);
	assert_int_equal(ss.chunks, 5);
	assert_int_equal(ss.deleted, 3);
	assert_int_equal(nrecords(), before); /* dry run */

	fail_sync = -EIO;
	assert_int_equal(chunkstore_sweep(cs, live, false, &ss), -EIO);
	assert_int_equal(chunkstore_sweep(cs, live, false, &ss), 0);
	assert_int_equal(ss.live, 2);
	assert_int_equal(ss.deleted, 0); /* the failed run already deleted them */
	assert_int_equal(nrecords(), before - 3);
	assert_int_equal(ss.missing, 1);
	assert_int_equal(chunkstore_stat(cs, &ids[0], NULL, NULL, NULL), 0);
	assert_int_equal(chunkstore_stat(cs, &ids[1], NULL, NULL, NULL), -ENOENT);
	assert_int_equal(chunkstore_stat(cs, &ids[3], NULL, NULL, NULL), 0);
	assert_int_equal(store_lookup(st, &mkey, NULL), 0);
	chunk_refs_destroy(live);
	chunkstore_destroy(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_and_corruption, setup, teardown),
		cmocka_unit_test(test_batch_borrowed),
		cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
		cmocka_unit_test(test_refs),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	};

	strata_log_init("test_chunkstore", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
