// SPDX-License-Identifier: GPL-2.0-or-later
/* store/: create/open, put/get/delete/lookup/iterate, space, bad input, threads. */
#include <pthread.h>

#include "store-test-lib.h"
#include "store/store-internal.h"

#define SHM "/dev/shm"
#define MiB (1ull << 20)

static void test_create_open_reopen(void **state)
{
	const char *p = tpath(SHM, "create");
	struct store_info in1, in2;
	struct store_stats st;
	struct store_create_opts co = { .path = p, .size = 64 * MiB, .label = "hello" };
	struct store *s;
	char u[37];

	assert_int_equal(store_create(&co), 0);
	s = open_store(p, false, -1);
	store_get_info(s, &in1);
	assert_string_equal(in1.label, "hello");
	assert_int_equal(in1.version, STORE_FORMAT_VERSION);
	assert_true(in1.block_size >= 4096);
	store_get_stats(s, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.device_size, 64 * MiB);
	assert_true(st.capacity > 32 * MiB && st.capacity <= 64 * MiB);
	assert_true(st.segments >= 8);
	assert_int_equal(st.used, 0);
	assert_true(st.free > st.capacity / 2);
	assert_int_equal(st.checkpoint_gen, 1);
	assert_int_equal(store_close(s), 0);

	s = open_store(p, true, 0);
	store_get_info(s, &in2);
	assert_memory_equal(in1.uuid, in2.uuid, 16);
	assert_int_equal(put_n(s, 1, 0, 10), -EROFS);
	assert_int_equal(store_close(s), 0);

	/* An existing store is refused without force, replaced with it. */
	assert_int_equal(store_create(&co), -EEXIST);
	co.force = true;
	assert_int_equal(store_create(&co), 0);
	s = open_store(p, false, -1);
	store_get_info(s, &in2);
	assert_memory_not_equal(in1.uuid, in2.uuid, 16);
	store_uuid_str(in2.uuid, u);
	assert_int_equal(strlen(u), 36);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_put_get_delete(void **state)
{
	const char *p = tpath(SHM, "pgd");
	struct store_rec_info info;
	struct store_key k, missing;
	struct store_stats st;
	uint8_t small[8];
	size_t len = 0;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 300; n++)
		assert_int_equal(put_n(s, n, 1, rec_len(n)), 0);
	/* Readable at once, before any sync (served from the write buffers). */
	for (uint32_t n = 0; n < 300; n++)
		assert_int_equal(check_n(s, n, 1, rec_len(n)), 0);
	assert_int_equal(put_n(s, 5, 1, 100), -EEXIST);
	mkkey(&k, 7, 1);
	assert_int_equal(store_lookup(s, &k, &info), 0);
	assert_int_equal(info.len, rec_len(7));
	assert_int_equal(info.user, 7);
	assert_int_equal(store_get(s, &k, small, sizeof(small), &len, NULL), -ENOBUFS);
	assert_int_equal(len, rec_len(7));
	mkkey(&missing, 999999, 1);
	assert_int_equal(store_lookup(s, &missing, NULL), -ENOENT);
	assert_int_equal(store_get(s, &missing, small, sizeof(small), &len, NULL), -ENOENT);
	assert_int_equal(store_sync(s), 0);
	for (uint32_t n = 0; n < 300; n += 3) {
		mkkey(&k, n, 1);
		assert_int_equal(store_delete(s, &k), 0);
		assert_int_equal(store_lookup(s, &k, NULL), -ENOENT);
		assert_int_equal(store_delete(s, &k), -ENOENT);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.records, 200);
	assert_true(st.reclaimable > 0);
	/* A deleted key can be put again, with new content. */
	assert_int_equal(put_n(s, 3, 1, 77), 0);
	assert_int_equal(store_close(s), 0);

	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.records, 201);
	assert_int_equal(st.replayed, 0);
	for (uint32_t n = 0; n < 300; n++) {
		if (n == 3)
			assert_int_equal(check_n(s, n, 1, 77), 0);
		else if (n % 3 == 0)
			assert_int_equal(check_n(s, n, 1, rec_len(n)), -ENOENT);
		else
			assert_int_equal(check_n(s, n, 1, rec_len(n)), 0);
	}
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

struct iter_state {
	uint8_t seen[400];
	unsigned count;
	unsigned stop_at;
};

static int iter_cb(void *arg, const struct store_key *key, const struct store_rec_info *info)
{
	struct iter_state *it = arg;
	struct store_key k;

	assert_true(info->user < 400);
	mkkey(&k, info->user, 2);
	assert_memory_equal(k.b, key->b, STORE_KEY_LEN);
	assert_int_equal(info->len, rec_len(info->user));
	it->seen[info->user]++;
	it->count++;
	return it->stop_at && it->count == it->stop_at ? 42 : 0;
}

static void test_iterate(void **state)
{
	const char *p = tpath(SHM, "iter");
	struct iter_state it = { 0 };
	struct store_key k;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 400; n++)
		assert_int_equal(put_n(s, n, 2, rec_len(n)), 0);
	for (uint32_t n = 0; n < 400; n += 4) {
		mkkey(&k, n, 2);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_iterate(s, iter_cb, &it), 0);
	assert_int_equal(it.count, 300);
	for (uint32_t n = 0; n < 400; n++)
		assert_int_equal(it.seen[n], n % 4 ? 1 : 0);
	memset(&it, 0, sizeof(it));
	it.stop_at = 10;
	assert_int_equal(store_iterate(s, iter_cb, &it), 42);
	assert_int_equal(it.count, 10);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_big_records(void **state)
{
	const char *p = tpath(SHM, "big");
	struct store *s;
	size_t max;
	uint8_t *buf;

	assert_int_equal(create_store(p, 128 * MiB, 0), 0);
	s = open_store(p, false, -1);
	max = store_max_record(s);
	assert_true(max >= 2 * MiB);
	buf = calloc(1, max + 1);
	assert_non_null(buf);
	{
		struct store_key k;

		mkkey(&k, 1000, 3);
		assert_int_equal(store_put(s, STORE_REC_META, &k, buf, max + 1, 0, 0), -EFBIG);
	}
	free(buf);
	for (uint32_t n = 0; n < 6; n++)
		assert_int_equal(put_n(s, n, 3, n % 2 ? max : max - 4096 * n - 13), 0);
	/* Spanning several write buffers, still unsynced. */
	for (uint32_t n = 0; n < 6; n++)
		assert_int_equal(check_n(s, n, 3, n % 2 ? max : max - 4096 * n - 13), 0);
	assert_int_equal(store_sync(s), 0);
	for (uint32_t n = 0; n < 6; n++)
		assert_int_equal(check_n(s, n, 3, n % 2 ? max : max - 4096 * n - 13), 0);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, true, -1);
	for (uint32_t n = 0; n < 6; n++)
		assert_int_equal(check_n(s, n, 3, n % 2 ? max : max - 4096 * n - 13), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_fill_enospc(void **state)
{
	const char *p = tpath(SHM, "full");
	struct store_fsck_report rep;
	struct store_stats st;
	struct store *s;
	uint32_t n, last;
	int r = 0;

	assert_int_equal(create_store(p, 24 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	for (n = 0; n < 100000; n++) {
		r = put_n(s, n, 4, 60000 + n % 1000);
		if (r)
			break;
		if (n % 50 == 0)
			assert_int_equal(store_sync(s), 0);
	}
	assert_int_equal(r, -ENOSPC);
	last = n;
	assert_true(last > 100);
	assert_int_equal(store_sync(s), 0);
	store_get_stats(s, &st);
	assert_int_equal(st.records, last);
	assert_true(st.used > st.capacity / 2);
	assert_true(st.used + st.free + st.reclaimable <= st.capacity);
	/* Small records still fit into the open segment or fail cleanly. */
	r = put_n(s, 200000, 4, 100);
	assert_true(r == 0 || r == -ENOSPC);
	if (!r)
		last++;
	assert_int_equal(store_close(s), 0);

	s = open_store(p, false, -1);
	for (n = 0; n < last - (r == 0); n++)
		assert_int_equal(check_n(s, n, 4, 60000 + n % 1000), 0);
	/* Deleting makes room again once checkpoints release the segments. */
	for (n = 0; n < last / 2; n++) {
		struct store_key k;

		mkkey(&k, n, 4);
		assert_int_equal(store_delete(s, &k), 0);
	}
	for (n = 0; n < 20; n++)
		assert_int_equal(put_n(s, 300000 + n, 4, 60000), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.records, last - last / 2 + 20);
	unlink(p);
}

/* Batched gets, 4 KiB records and every tenth 128 KiB: from the write
 * buffers, then from disk after a reopen.  In /dev/shm the payloads are
 * read straight into the callers' buffers; in /var/tmp (O_DIRECT with
 * 512-byte alignment on ext4 or xfs) through the aligned arena. */
static uint32_t batch_len(uint32_t id)
{
	return id % 10 ? 4096 : 131072;
}

/* borrow: every request borrows; in /var/tmp after the reopen the payloads
 * then stay in the arena (data is not buf); in /dev/shm and without borrow
 * they are in buf. */
static void get_batch_in(const char *dir, bool borrow)
{
	const char *p = tpath(dir, "batch");
	struct store_get_req *rq;
	struct store *s;
	unsigned n = 300;
	uint8_t *want = malloc(131072);

	assert_non_null(want);
	assert_int_equal(create_store(p, 128 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(put_n(s, i, 5, batch_len(i)), 0);
	assert_int_equal(store_sync(s), 0);
	rq = calloc(n + 1, sizeof(*rq));
	assert_non_null(rq);
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i <= n; i++) {
			uint32_t id = (i * 97) % n;

			mkkey(&rq[i].key, i == n ? 777777 : id, 5);
			rq[i].bufsize = batch_len(id);
			rq[i].buf = malloc(rq[i].bufsize);
			rq[i].borrow = borrow;
			rq[i].res = 1;
		}
		assert_int_equal(store_get_batch(s, rq, n + 1), -ENOENT);
		for (unsigned i = 0; i < n; i++) {
			uint32_t id = (i * 97) % n;

			fill(want, batch_len(id), id ^ 5);
			assert_int_equal(rq[i].res, 0);
			assert_int_equal(rq[i].len, batch_len(id));
			assert_memory_equal(rq[i].data, want, batch_len(id));
			assert_int_equal(rq[i].info.user, id);
			/* (Before the reopen, the records already written out
			 * may be borrowed too.) */
			if (borrow && round == 1 && strcmp(dir, SHM))
				assert_ptr_not_equal(rq[i].data, rq[i].buf);
			else if (!borrow || !strcmp(dir, SHM))
				assert_ptr_equal(rq[i].data, rq[i].buf);
		}
		assert_int_equal(rq[n].res, -ENOENT);
		for (unsigned i = 0; i <= n; i++)
			free(rq[i].buf);
		/* Second round: from disk after a reopen. */
		assert_int_equal(store_close(s), 0);
		s = open_store(p, false, -1);
	}
	free(rq);
	free(want);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_get_batch(void **state)
{
	get_batch_in(SHM, false);
	get_batch_in("/var/tmp", false);
	get_batch_in(SHM, true);
	get_batch_in("/var/tmp", true);
}

static void direct_mode(const char *dir, int direct)
{
	const char *p = tpath(dir, "direct");
	struct store_info in;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 0), 0);
	s = open_store(p, false, direct);
	store_get_info(s, &in);
	if (direct == 0)
		assert_false(in.direct_io);
	for (uint32_t n = 0; n < 200; n++)
		assert_int_equal(put_n(s, n, 6, rec_len(n) * 3), 0);
	assert_int_equal(store_sync(s), 0);
	for (uint32_t n = 0; n < 200; n++)
		assert_int_equal(check_n(s, n, 6, rec_len(n) * 3), 0);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, true, direct);
	for (uint32_t n = 0; n < 200; n++)
		assert_int_equal(check_n(s, n, 6, rec_len(n) * 3), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_direct_modes(void **state)
{
	direct_mode(SHM, 0);
	direct_mode(SHM, -1);
	direct_mode("/tmp", 0);
	direct_mode("/tmp", -1);
}

struct thr {
	struct store *s;
	uint32_t id;
	int err;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	for (uint32_t n = 0; n < 400 && !t->err; n++) {
		uint32_t id = t->id * 100000 + n;

		t->err = put_n(t->s, id, 7, rec_len(n) / 2);
		if (!t->err)
			t->err = check_n(t->s, id, 7, rec_len(n) / 2);
		if (!t->err && n % 100 == 99)
			t->err = store_sync(t->s);
		/* Read what another thread wrote earlier, if it is there yet. */
		if (!t->err && n > 10) {
			uint32_t o = ((t->id + 1) % 4) * 100000 + n - 10;
			int r = check_n(t->s, o, 7, rec_len(n - 10) / 2);

			if (r && r != -ENOENT)
				t->err = r;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	const char *p = tpath(SHM, "thr");
	struct thr t[4];
	pthread_t th[4];
	struct store *s;

	assert_int_equal(create_store(p, 128 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t i = 0; i < 4; i++) {
		t[i] = (struct thr){ .s = s, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].err, 0);
	}
	assert_int_equal(store_close(s), 0);
	s = open_store(p, true, -1);
	for (uint32_t i = 0; i < 4; i++)
		for (uint32_t n = 0; n < 400; n++)
			assert_int_equal(check_n(s, i * 100000 + n, 7, rec_len(n) / 2), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_accounting(void **state)
{
	const char *p = tpath(SHM, "acct");
	struct store_stats a, b;
	struct store_key k;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	store_get_stats(s, &a);
	for (uint32_t n = 0; n < 100; n++)
		assert_int_equal(put_n(s, n, 8, 1000), 0);
	store_get_stats(s, &b);
	/* 1000 bytes + 64-byte header, padded to 8: 1064 each. */
	assert_int_equal(b.used - a.used, 100 * 1064);
	assert_int_equal(b.records, 100);
	assert_true(b.free < a.free);
	for (uint32_t n = 0; n < 50; n++) {
		mkkey(&k, n, 8);
		assert_int_equal(store_delete(s, &k), 0);
	}
	store_get_stats(s, &a);
	assert_int_equal(a.used, b.used - 50 * 1064);
	assert_true(a.reclaimable >= b.reclaimable + 50 * 1064);
	assert_int_equal(a.records, 50);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, false, -1);
	store_get_stats(s, &b);
	assert_int_equal(b.used, a.used);
	assert_int_equal(b.records, 50);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void expect_open_fails(const char *p, int err, const char *msg)
{
	struct store_open_opts o = { .path = p };
	struct store *s = (struct store *)0x1;
	uint64_t before = file_hash(p);

	log_start();
	assert_int_equal(store_open(&o, &s), err);
	log_stop();
	assert_null(s);
	assert_non_null(strstr(log_buf, p));
	if (msg)
		assert_non_null(strstr(log_buf, msg));
	assert_int_equal(file_hash(p), before);
}

/* Records of an earlier format with the same geometry must not come back. */
static void test_reformat_ignores_old_records(void **state)
{
	const char *p = tpath(SHM, "reformat");
	struct store_create_opts co = { .path = p, .size = 64 * MiB, .force = true };
	struct store_stats st;
	struct store *s;

	for (int round = 0; round < 2; round++) {
		assert_int_equal(store_create(&co), 0);
		s = open_store(p, false, -1);
		store_get_stats(s, &st);
		assert_int_equal(st.records, 0);
		assert_int_equal(check_n(s, 1, 12, 100), -ENOENT);
		for (uint32_t n = 0; n < 100; n++)
			assert_int_equal(put_n(s, n, 12, 1000), 0);
		assert_int_equal(store_close(s), 0);
	}
	unlink(p);
}

static void test_bad_input(void **state)
{
	const char *p = tpath(SHM, "bad");
	struct store_create_opts co = { .path = p, .size = 1 * MiB };
	struct stat st;
	uint8_t blk[512];
	int fd;

	/* Random bytes. */
	garbage_at(p, 16 * MiB, 0, 99);
	expect_open_fails(p, -EINVAL, "not a strata store");
	unlink(p);
	/* Too small: refused before anything is created. */
	assert_int_equal(store_create(&co), -ENOSPC);
	assert_int_equal(stat(p, &st), -1);
	co.size = 17 * MiB;
	co.segment_size = 8 << 20;
	assert_int_equal(store_create(&co), -ENOSPC);
	assert_int_equal(stat(p, &st), -1);
	/* Truncated superblock. */
	assert_int_equal(create_store(p, 32 * MiB, 0), 0);
	fd = open(p, O_RDONLY);
	assert_int_equal(strata_pread_full(fd, blk, sizeof(blk), 0), 0);
	close(fd);
	assert_int_equal(truncate(p, 100), 0);
	expect_open_fails(p, -EINVAL, "too short");
	/* Newer version, and a damaged superblock. */
	assert_int_equal(truncate(p, 32 * MiB), 0);
	write_at(p, blk, sizeof(blk), 0);
	{
		struct store *s = open_store(p, true, 0);

		store_close(s);
	}
	blk[8] = 2;
	write_at(p, blk, sizeof(blk), 0);
	expect_open_fails(p, -EPROTONOSUPPORT, "newer than this strata");
	blk[8] = 1;
	blk[40] ^= 0xff;
	write_at(p, blk, sizeof(blk), 0);
	expect_open_fails(p, -EUCLEAN, "checksum");
	blk[40] ^= 0xff;
	write_at(p, blk, sizeof(blk), 0);
	/* Shrunk below the size it was formatted with. */
	assert_int_equal(truncate(p, 20 * MiB), 0);
	expect_open_fails(p, -EUCLEAN, "shrunk");
	assert_int_equal(truncate(p, 32 * MiB), 0);
	{
		struct store *s = open_store(p, false, -1);

		assert_int_equal(store_close(s), 0);
	}
	unlink(p);
	expect_open_fails(p, -ENOENT, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_open_reopen),
		cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_big_records),
		cmocka_unit_test(test_fill_enospc),
		cmocka_unit_test(test_get_batch),
		cmocka_unit_test(test_direct_modes),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_reformat_ignores_old_records),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
