// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/view.c: a read-only handle opened before another handle (another
 * process, in real use: strata-fuse vs strata gc + import) compacted the
 * store and overwrote the freed segments still reads every record it
 * knew, byte-exact, through store_get() and store_get_batch(); it reloads
 * its index once for that, and not at all for a record that is simply
 * corrupt.  In /dev/shm (payloads read straight into the caller's buffer)
 * and in /var/tmp (O_DIRECT: the aligned arena).
 */
#include "store-test-lib.h"
#include "store/store-internal.h"

#define MiB (1ull << 20)
#define LEN 4000u
#define N 2000u

static bool kept(uint32_t n)
{
	return n % 4 == 0;
}

/* Records [0, N) of salt 1, all but every fourth deleted, closed. */
static void make_store(const char *p)
{
	struct store *w;

	assert_int_equal(create_store(p, 24 * MiB, 1 << 20), 0);
	w = open_store(p, false, -1);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(put_n(w, i, 1, LEN), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct store_key k;

		mkkey(&k, i, 1);
		if (!kept(i))
			assert_int_equal(store_delete(w, &k), 0);
	}
	assert_int_equal(store_close(w), 0);
}

/* Every kept record of salt 1 through one store_get_batch(): all present
 * and byte-exact. */
static void check_batch(struct store *s)
{
	struct store_get_req *rq = calloc(N / 4, sizeof(*rq));
	uint8_t *bufs = malloc((size_t)(N / 4) * LEN), *exp = malloc(LEN);

	assert_non_null(rq);
	assert_non_null(bufs);
	assert_non_null(exp);
	for (uint32_t i = 0; i < N / 4; i++) {
		mkkey(&rq[i].key, i * 4, 1);
		rq[i].buf = bufs + (size_t)i * LEN;
		rq[i].bufsize = LEN;
	}
	assert_int_equal(store_get_batch(s, rq, N / 4), 0);
	for (uint32_t i = 0; i < N / 4; i++) {
		assert_int_equal(rq[i].res, 0);
		assert_int_equal(rq[i].len, LEN);
		assert_int_equal(rq[i].info.user, i * 4);
		fill(exp, LEN, (i * 4) ^ 1);
		assert_memory_equal(rq[i].data, exp, LEN);
	}
	free(exp);
	free(bufs);
	free(rq);
}

/*
 * The reader r opened; then another handle compacts (moving every kept
 * record) and fills the store with new records until it is full, so every
 * freed segment is written again.
 */
static void compact_and_overwrite(const char *p)
{
	struct store_compact_opts co = { .min_reclaim = 0.25 };
	struct store_compact_report rep;
	struct store *w = open_store(p, false, -1);
	uint32_t i = 0;
	int r;

	assert_int_equal(store_compact(w, &co, &rep), 0);
	assert_true(rep.records_moved >= N / 4);
	assert_true(rep.segments_freed >= 6);
	while ((r = put_n(w, i, 2, LEN)) == 0)
		i++;
	assert_int_equal(r, -ENOSPC);
	assert_true(i > N);
	assert_int_equal(store_close(w), 0);
}

static void follows_in(const char *dir, bool batch)
{
	const char *p = tpath(dir, batch ? "view-batch" : "view-one");
	struct store *r;

	make_store(p);
	r = open_store(p, true, -1);
	check_batch(r);
	assert_int_equal(store_test_view_loads(r), 0);
	compact_and_overwrite(p);
	if (batch) {
		check_batch(r);
	} else {
		for (uint32_t i = 0; i < N; i += 4)
			assert_int_equal(check_n(r, i, 1, LEN), 0);
	}
	/* One reload for all of them. */
	assert_int_equal(store_test_view_loads(r), 1);
	/* The reloaded view has the other handle's records too. */
	assert_int_equal(check_n(r, 7, 2, LEN), 0);
	assert_int_equal(check_n(r, 1, 1, LEN), -ENOENT);
	assert_int_equal(store_close(r), 0);
	unlink(p);
}

static void test_view_follows_compaction(void **state)
{
	follows_in("/dev/shm", true);
	follows_in("/dev/shm", false);
	follows_in("/var/tmp", true);
	follows_in("/var/tmp", false);
}

/* A corrupt record in a store nobody changed: EBADMSG, no reload. */
static void test_view_corrupt_no_reload(void **state)
{
	const char *p = tpath("/dev/shm", "view-corrupt");
	struct store_key k;
	struct store *r;
	uint64_t foff;
	uint8_t b = 0x5a;

	make_store(p);
	r = open_store(p, true, -1);
	mkkey(&k, 8, 1);
	assert_int_equal(store_test_locate(r, &k, &foff), 0);
	write_at(p, &b, 1, (off_t)(foff + 64 + 100));
	log_start();
	for (int i = 0; i < 3; i++)
		assert_int_equal(check_n(r, 8, 1, LEN), -EBADMSG);
	log_stop();
	assert_int_equal(store_test_view_loads(r), 0);
	assert_int_equal(check_n(r, 12, 1, LEN), 0);
	assert_int_equal(store_close(r), 0);
	unlink(p);
}

/* A writable handle never reloads: it is the only writer (the store's
 * lock), its own index is the truth. */
static void test_view_writer_no_reload(void **state)
{
	const char *p = tpath("/dev/shm", "view-writer");
	struct store *w;

	make_store(p);
	w = open_store(p, false, -1);
	assert_int_equal(check_n(w, 8, 1, LEN), 0);
	assert_int_equal(view_refresh(w), 0);
	assert_int_equal(store_test_view_loads(w), 0);
	assert_int_equal(store_close(w), 0);
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_follows_compaction),
		cmocka_unit_test(test_view_corrupt_no_reload),
		cmocka_unit_test(test_view_writer_no_reload),
	};

	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
