// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: segment compaction (store_compact): space comes back, records stay
 * byte-exact, reopen through checkpoint / roll-forward / full scan, a full
 * store becomes writable, crashes at every write and sync of a compaction,
 * concurrent put/get/delete.
 */
#include <pthread.h>

#include "store-test-lib.h"
#include "store/store-internal.h"

#define SHM "/dev/shm"
#define MiB (1ull << 20)
#define LEN 4000u		/* rec_total(4000) = 4064 */
#define RT 4064u

/* Which of records [0, n) survive deletion in the layout used here. */
static bool kept(uint32_t n)
{
	return n % 4 == 0;
}

static void fill_and_delete(struct store *s, uint32_t n, uint32_t salt)
{
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(put_n(s, i, salt, LEN), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct store_key k;

		if (kept(i))
			continue;
		mkkey(&k, i, salt);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_sync(s), 0);
}

/*
 * Read records first..first+count-1 (payload LEN) in one store_get_batch()
 * and check each: present and byte-exact when want(i) is 1, absent when 0,
 * either when -1.  Returns how many were present.
 */
static uint32_t check_range(struct store *s, uint32_t first, uint32_t count, uint32_t salt,
			    int (*want)(uint32_t))
{
	struct store_get_req *rq = calloc(count ? count : 1, sizeof(*rq));
	uint8_t *bufs = malloc((size_t)(count ? count : 1) * (LEN + 16)), *exp = malloc(LEN);
	uint32_t present = 0;

	assert_non_null(rq);
	assert_non_null(bufs);
	assert_non_null(exp);
	for (uint32_t i = 0; i < count; i++) {
		mkkey(&rq[i].key, first + i, salt);
		rq[i].buf = bufs + (size_t)i * (LEN + 16);
		rq[i].bufsize = LEN + 16;
	}
	(void)store_get_batch(s, rq, count);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t id = first + i;
		int w = want(id);

		if (rq[i].res == -ENOENT && w != 1)
			continue;
		assert_int_equal(rq[i].res, 0);
		assert_int_not_equal(w, 0);
		assert_int_equal(rq[i].len, LEN);
		assert_int_equal(rq[i].info.type, STORE_REC_CHUNK);
		assert_int_equal(rq[i].info.user, id);
		assert_int_equal(rq[i].info.flags, id & 1);
		fill(exp, LEN, id ^ salt);
		assert_memory_equal(rq[i].buf, exp, LEN);
		present++;
	}
	free(exp);
	free(bufs);
	free(rq);
	return present;
}

static int want_kept(uint32_t n)
{
	return kept(n);
}

static int want_any(uint32_t n)
{
	return -1;
}

static int want_kept_or_reput(uint32_t n)
{
	return kept(n) || (n < 400 && n % 4 == 1);
}

/* Records [0, n): the kept ones byte-exact, the deleted ones gone. */
static void check_all(struct store *s, uint32_t n, uint32_t salt)
{
	assert_int_equal(check_range(s, 0, n, salt, want_kept), (n + 3) / 4);
}

static void stats_consistent(const struct store_stats *st)
{
	/* Every byte is live, reclaimable or free (no torn segment here). */
	assert_int_equal(st->used + st->reclaimable + st->free, st->capacity);
}

static void test_compact_basic(void **state)
{
	const char *p = tpath(SHM, "basic");
	struct store_compact_opts o = { .min_reclaim = 0.5 };
	struct store_compact_report rep, rep2;
	struct store_fsck_report fr;
	struct store_stats a, b;
	struct store_info info;
	struct store *s;
	const uint32_t n = 2000;

	assert_int_equal(create_store(p, 64 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	fill_and_delete(s, n, 1);
	store_get_stats(s, &a);
	stats_consistent(&a);
	assert_int_equal(a.records, n / 4);
	assert_int_equal(a.used, (uint64_t)n / 4 * RT);
	assert_int_equal(store_compact(s, &o, &rep), 0);
	store_get_stats(s, &b);
	stats_consistent(&b);
	/* ~8 segments of 1 MiB held the records; each is 3/4 dead. */
	assert_true(rep.segments_cleaned >= 6);
	assert_int_equal(rep.segments_freed, rep.segments_cleaned);
	assert_int_equal(rep.bytes_freed, rep.segments_freed * MiB);
	assert_true(rep.records_moved >= 300);
	assert_true(rep.records_moved <= n / 4);
	assert_int_equal(rep.bytes_moved, rep.records_moved * RT + rep.tombstones_kept * REC_HDR);
	/* Live bytes and records unchanged; free grew by what was freed less
	 * what the moves and two checkpoints appended. */
	assert_int_equal(b.used, a.used);
	assert_int_equal(b.records, a.records);
	assert_true(b.free <= a.free + rep.bytes_freed - rep.bytes_moved);
	assert_true(b.free + 256 * 1024 >= a.free + rep.bytes_freed - rep.bytes_moved);
	assert_true(b.reclaimable + rep.bytes_freed / 2 < a.reclaimable);
	check_all(s, n, 1);
	/* Segments already cleaned are not picked again: at most the old head
	 * (tombstones, last records) is worth cleaning now. */
	assert_int_equal(store_compact(s, &o, &rep2), 0);
	assert_true(rep2.segments_cleaned <= 1);
	assert_true(rep2.records_moved < rep.records_moved / 4);
	check_all(s, n, 1);
	store_get_info(s, &info);
	assert_int_equal(store_close(s), 0);

	assert_int_equal(fsck(p, &fr), 0);
	assert_true(fr.accounting_ok);
	assert_int_equal(fr.records, n / 4);
	/* Checkpoint path. */
	s = open_store(p, false, -1);
	store_get_stats(s, &a);
	assert_int_equal(a.replayed, 0);
	assert_int_equal(a.used, b.used);
	check_all(s, n, 1);
	/* Roll-forward path: more puts, deletes and a compaction after it... */
	for (uint32_t i = n; i < n + 600; i++)
		assert_int_equal(put_n(s, i, 1, LEN), 0);
	for (uint32_t i = n; i < n + 600; i++) {
		struct store_key k;

		if (kept(i))
			continue;
		mkkey(&k, i, 1);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_compact(s, &(struct store_compact_opts){ .min_reclaim = 0.25 },
				       &rep), 0);
	assert_true(rep.records_moved > 0);
	for (uint32_t i = n + 600; i < n + 700; i++)
		assert_int_equal(put_n(s, i, 1, LEN), 0);
	assert_int_equal(store_sync(s), 0);
	store_get_stats(s, &b);
	store_test_crash(s);
	s = open_store(p, true, -1);
	store_get_stats(s, &a);
	assert_int_equal(a.replayed, 100);
	assert_int_equal(a.records, b.records);
	assert_int_equal(a.used, b.used);
	check_all(s, n + 600, 1);
	for (uint32_t i = n + 600; i < n + 700; i++)
		assert_int_equal(check_n(s, i, 1, LEN), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	assert_true(fr.accounting_ok);

	/* ...and from the checkpoint before the compaction's own, rolling
	 * forward through the moves (newest slot damaged). */
	s = open_store(p, false, -1);
	assert_int_equal(store_compact(s, &(struct store_compact_opts){ .min_reclaim = 0.01 },
				       &rep), 0);
	assert_true(rep.records_moved > 0);
	store_get_stats(s, &b);
	assert_int_equal(store_sync(s), 0);
	store_test_crash(s);
	garbage_at(p, 100, (b.checkpoint_gen & 1) ? info.block_size : 2 * info.block_size, 7);
	s = open_store(p, true, -1);
	store_get_stats(s, &a);
	assert_int_equal(a.checkpoint_gen, b.checkpoint_gen - 1);
	assert_true(a.replayed >= rep.records_moved);
	assert_int_equal(a.records, b.records);
	assert_int_equal(a.used, b.used);
	check_all(s, n + 600, 1);
	for (uint32_t i = n + 600; i < n + 700; i++)
		assert_int_equal(check_n(s, i, 1, LEN), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	assert_true(fr.accounting_ok);
	assert_int_equal(fr.bad_records, 0);
	unlink(p);
}

static void test_compact_bad_args(void **state)
{
	const char *p = tpath(SHM, "args");
	struct store_compact_opts o = { .min_reclaim = 1.5 };
	struct store_compact_report rep;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	assert_int_equal(store_compact(s, &o, &rep), -EINVAL);
	o.min_reclaim = -0.1;
	assert_int_equal(store_compact(s, &o, &rep), -EINVAL);
	assert_int_equal(store_compact(NULL, NULL, &rep), -EINVAL);
	/* Empty store: nothing to do, and again (no -EBUSY left behind). */
	assert_int_equal(store_compact(s, NULL, &rep), 0);
	assert_int_equal(rep.segments_cleaned, 0);
	assert_int_equal(store_compact(s, NULL, &rep), 0);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, true, -1);
	assert_int_equal(store_compact(s, NULL, &rep), -EROFS);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static int stop_after_one(void *arg, const struct store_compact_report *sofar, uint64_t victims)
{
	unsigned *calls = arg;

	assert_true(victims > 1);
	(*calls)++;
	return 1;
}

/* A byte budget and a cancelling progress callback stop early, cleanly. */
static void test_compact_budget_and_progress(void **state)
{
	const char *p = tpath(SHM, "budget");
	struct store_compact_opts o = { .min_reclaim = 0.5, .max_bytes = 2 * 70 * RT };
	struct store_compact_report rep;
	struct store_fsck_report fr;
	unsigned calls = 0;
	struct store *s;
	const uint32_t n = 2000;

	assert_int_equal(create_store(p, 64 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	fill_and_delete(s, n, 2);
	assert_int_equal(store_compact(s, &o, &rep), 0);
	/* The budget counts live bytes; tombstones carried along come on top. */
	assert_true(rep.segments_cleaned >= 1);
	assert_true(rep.records_moved * RT <= o.max_bytes);
	assert_true(rep.bytes_moved <= o.max_bytes + rep.tombstones_kept * REC_HDR);
	check_all(s, n, 2);
	o.max_bytes = 0;
	o.progress = stop_after_one;
	o.progress_arg = &calls;
	assert_int_equal(store_compact(s, &o, &rep), -ECANCELED);
	assert_int_equal(calls, 1);
	assert_int_equal(rep.segments_cleaned, 1);
	assert_int_equal(rep.segments_freed, 1);
	check_all(s, n, 2);
	o.progress = NULL;
	assert_int_equal(store_compact(s, &o, &rep), 0);
	assert_true(rep.segments_cleaned >= 3);
	check_all(s, n, 2);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	assert_int_equal(fr.records, n / 4);
	unlink(p);
}

/* A store whose puts fail with ENOSPC takes puts again after delete + compact. */
static void test_compact_full_store(void **state)
{
	const char *p = tpath(SHM, "full");
	struct store_compact_report rep;
	struct store_fsck_report fr;
	struct store *s;
	uint32_t n, last;
	int r = 0;

	assert_int_equal(create_store(p, 24 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	for (n = 0; n < 100000; n++) {
		r = put_n(s, n, 3, 60000);
		if (r)
			break;
		if (n % 50 == 0)
			assert_int_equal(store_sync(s), 0);
	}
	assert_int_equal(r, -ENOSPC);
	last = n;
	/* Two of three records go: no segment becomes empty by itself. */
	for (n = 0; n < last; n++) {
		struct store_key k;

		if (n % 3 == 0)
			continue;
		mkkey(&k, n, 3);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_sync(s), 0);
	assert_int_equal(put_n(s, 500000, 3, 60000), -ENOSPC);
	assert_int_equal(store_compact(s, NULL, &rep), 0);
	assert_true(rep.segments_freed >= 4);
	/* Writable again: at least half of what was freed takes new records. */
	for (n = 0; n < rep.segments_freed * 6; n++)
		assert_int_equal(put_n(s, 500000 + n, 3, 60000), 0);
	for (n = 0; n < last; n++)
		assert_int_equal(check_n(s, n, 3, 60000), n % 3 ? -ENOENT : 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	assert_int_equal(fr.records, (last + 2) / 3 + rep.segments_freed * 6);
	unlink(p);
}

/*
 * Tombstones: after compaction, with both checkpoint slots gone, a full log
 * scan must not bring back a deleted record from a segment still on disk.
 */
static void test_compact_full_scan_no_resurrection(void **state)
{
	const char *p = tpath(SHM, "scan");
	struct store_compact_report rep;
	struct store_info info;
	struct store_stats st;
	struct store *s;
	const uint32_t n = 1200;

	assert_int_equal(create_store(p, 32 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	store_get_info(s, &info);
	fill_and_delete(s, n, 4);
	/* More records after the tombstones, so their segment is closed. */
	for (uint32_t i = n; i < n + 600; i++)
		assert_int_equal(put_n(s, i, 4, LEN), 0);
	for (uint32_t i = n; i < n + 600; i++) {
		struct store_key k;

		if (kept(i))
			continue;
		mkkey(&k, i, 4);
		assert_int_equal(store_delete(s, &k), 0);
	}
	for (uint32_t i = n + 600; i < n + 900; i++)
		assert_int_equal(put_n(s, i, 4, 100), 0);
	/* Deleted then put again: their tombstones must not outlive them. */
	for (uint32_t i = 1; i < 400; i += 4)
		assert_int_equal(put_n(s, i, 4, LEN), 0);
	assert_int_equal(store_compact(s, &(struct store_compact_opts){ .min_reclaim = 0.1 },
				       &rep), 0);
	assert_true(rep.segments_cleaned >= 4);
	assert_true(rep.tombstones_kept + rep.tombstones_dropped > 0);
	assert_int_equal(store_close(s), 0);
	garbage_at(p, info.block_size, info.block_size, 1);
	garbage_at(p, info.block_size, 2 * info.block_size, 2);
	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.records, (n + 600) / 4 + 300 + 100);
	assert_int_equal(check_range(s, 0, n + 600, 4, want_kept_or_reput), (n + 600) / 4 + 100);
	for (uint32_t i = n + 600; i < n + 900; i++)
		assert_int_equal(check_n(s, i, 4, 100), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static int want_none(uint32_t n)
{
	return 0;
}

static int want_all(uint32_t n)
{
	return 1;
}

static int want_not_50(uint32_t n)
{
	return n % 50 != 0;
}

/*
 * A tombstone in a cleaned segment whose record lives on in a segment that
 * is not cleaned (nearly all live) must be carried forward: dropping it
 * would let a full log scan bring the record back.
 */
static void test_compact_tombstone_outlives_record(void **state)
{
	const char *p = tpath(SHM, "tomb");
	struct store_compact_report rep;
	struct store_info info;
	struct store_stats st;
	struct store_key k;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	store_get_info(s, &info);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(put_n(s, i, 9, LEN), 0);
	for (uint32_t i = 0; i < 1000; i += 50) {
		mkkey(&k, i, 9);
		assert_int_equal(store_delete(s, &k), 0);
	}
	/* Dead filler after the tombstones, then move the head on. */
	for (uint32_t i = 5000; i < 5400; i++)
		assert_int_equal(put_n(s, i, 9, LEN), 0);
	for (uint32_t i = 5000; i < 5400; i++) {
		mkkey(&k, i, 9);
		assert_int_equal(store_delete(s, &k), 0);
	}
	for (uint32_t i = 6000; i < 6300; i++)
		assert_int_equal(put_n(s, i, 9, LEN), 0);
	assert_int_equal(store_compact(s, &(struct store_compact_opts){ .min_reclaim = 0.3 },
				       &rep), 0);
	assert_true(rep.segments_cleaned >= 1);
	assert_true(rep.tombstones_kept >= 20);
	assert_int_equal(store_close(s), 0);
	garbage_at(p, info.block_size, info.block_size, 1);
	garbage_at(p, info.block_size, 2 * info.block_size, 2);
	s = open_store(p, true, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.records, 980 + 300);
	assert_int_equal(check_range(s, 0, 1000, 9, want_not_50), 980);
	assert_int_equal(check_range(s, 5000, 400, 9, want_none), 0);
	assert_int_equal(check_range(s, 6000, 300, 9, want_all), 300);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

/* check_n() without cmocka assertions (not thread-safe): 0, -errno from
 * store_get(), or -EILSEQ when anything read back is wrong. */
static int verify_n(struct store *s, uint32_t n, uint32_t salt, size_t len)
{
	uint8_t *buf = malloc(len + 16), *want = malloc(len ? len : 1);
	struct store_rec_info info;
	struct store_key k;
	size_t got = 0;
	int r = -ENOMEM;

	if (!buf || !want)
		goto out;
	mkkey(&k, n, salt);
	fill(want, len, n ^ salt);
	r = store_get(s, &k, buf, len + 16, &got, &info);
	if (!r && (got != len || memcmp(buf, want, len) || info.type != STORE_REC_CHUNK ||
		   info.user != n || info.flags != (n & 1) || info.len != len))
		r = -EILSEQ;
out:
	free(buf);
	free(want);
	return r;
}

/* ---- a get racing with a move ---- */

struct race {
	const char *path;
	pthread_t reader;
	uint64_t foff;		/* the record's place before compaction */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;		/* 0 armed, 1 reader waits, 2 moved and overwritten, 3 off */
};

/*
 * The reader's read of the old place has completed; hold it until the
 * record was moved and its old segment overwritten, then hand the reader
 * what the device holds now: a read that landed after the reuse.
 */
static int race_fn(void *arg, const struct sio_req *req, uint64_t off, size_t len, int res)
{
	struct race *rc = arg;
	int fd;

	if (req->op != SIO_READ || !pthread_equal(pthread_self(), rc->reader) || res <= 0 ||
	    rc->foff < off || rc->foff >= off + len)
		return res;
	pthread_mutex_lock(&rc->lock);
	if (rc->stage != 0) {
		pthread_mutex_unlock(&rc->lock);
		return res;
	}
	rc->stage = 1;
	pthread_cond_broadcast(&rc->cond);
	while (rc->stage != 2)
		pthread_cond_wait(&rc->cond, &rc->lock);
	rc->stage = 3;
	pthread_mutex_unlock(&rc->lock);
	/* No cmocka assertions in this thread: a failure shows as -EIO. */
	fd = open(rc->path, O_RDONLY);
	if (fd < 0)
		return -EIO;
	if (strata_pread_full(fd, (uint8_t *)req->buf + (off - req->off), (size_t)res,
			      (off_t)off))
		res = -EIO;
	close(fd);
	return res;
}

struct race_reader {
	struct store *s;
	uint32_t id;
	int res;
};

static void *race_reader_main(void *arg)
{
	struct race_reader *rr = arg;

	rr->res = verify_n(rr->s, rr->id, 8, LEN);
	return NULL;
}

static void test_compact_get_races_move(void **state)
{
	const char *p = tpath(SHM, "race");
	struct race rc = { .stage = 0 };
	struct race_reader rr;
	struct store_compact_report rep;
	uint64_t after;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 1 << 20), 0);
	s = open_store(p, false, 0);
	fill_and_delete(s, 1000, 8);
	rr = (struct race_reader){ .s = s, .id = 400 };
	assert_true(kept(rr.id));
	{
		struct store_key k;

		mkkey(&k, rr.id, 8);
		assert_int_equal(store_test_locate(s, &k, &rc.foff), 0);
	}
	rc.path = p;
	pthread_mutex_init(&rc.lock, NULL);
	pthread_cond_init(&rc.cond, NULL);
	pthread_mutex_lock(&rc.lock);
	assert_int_equal(pthread_create(&rc.reader, NULL, race_reader_main, &rr), 0);
	sio_set_fault(store_test_sio(s), race_fn, &rc);
	while (rc.stage != 1)
		pthread_cond_wait(&rc.cond, &rc.lock);
	pthread_mutex_unlock(&rc.lock);
	/* The reader holds the old location; move the record away... */
	assert_int_equal(store_compact(s, NULL, &rep), 0);
	assert_true(rep.records_moved > 0);
	{
		struct store_key k;

		mkkey(&k, rr.id, 8);
		assert_int_equal(store_test_locate(s, &k, &after), 0);
		assert_true(after != rc.foff);
	}
	/* ...and reuse its old segment (it is free now). */
	garbage_at(p, 8192, (off_t)(rc.foff & ~4095ull), 3);
	pthread_mutex_lock(&rc.lock);
	rc.stage = 2;
	pthread_cond_broadcast(&rc.cond);
	pthread_mutex_unlock(&rc.lock);
	pthread_join(rc.reader, NULL);
	sio_set_fault(store_test_sio(s), NULL, NULL);
	assert_int_equal(rc.stage, 3);
	/* The record, byte-exact: not ENOENT, not the bytes now at the old place. */
	assert_int_equal(rr.res, 0);
	check_all(s, 1000, 8);
	assert_int_equal(store_close(s), 0);
	pthread_mutex_destroy(&rc.lock);
	pthread_cond_destroy(&rc.cond);
	unlink(p);
}

/* ---- crash injection ---- */

struct crash {
	const char *path;
	const char *img_all;	/* every write issued so far landed */
	const char *img_durable; /* only what the last sync made durable */
	const char *img_last;	/* durable + the latest write only */
	unsigned at;		/* crash at this write/sync completion (0: count only) */
	unsigned events;
	bool hit;
};

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static uint8_t buf[1 << 20];
	ssize_t n;
	off_t off = 0;

	assert_true(in >= 0 && out >= 0);
	while ((n = pread(in, buf, sizeof(buf), off)) > 0) {
		assert_int_equal(strata_pwrite_full(out, buf, (size_t)n, off), 0);
		off += n;
	}
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

static int crash_fn(void *arg, const struct sio_req *req, uint64_t off, size_t len, int res)
{
	struct crash *c = arg;

	if (req->op == SIO_READ)
		return res;
	if (c->hit)
		return -EIO; /* the device is gone: nothing after the crash counts */
	c->events++;
	if (req->op == SIO_SYNC && res == 0 && c->at && c->events < c->at)
		copy_file(c->path, c->img_durable);
	if (c->at && c->events == c->at) {
		c->hit = true;
		copy_file(c->path, c->img_all);
		copy_file(c->img_durable, c->img_last);
		if (req->op == SIO_WRITE && res > 0)
			write_at(c->img_last, (const uint8_t *)req->buf + (off - req->off),
				 (size_t)res, (off_t)off);
		return -EIO;
	}
	return res;
}

#define AFTER 600u	/* records put after the compaction (ids 100000 + i) */

/* Compact a store with little free room, then put enough to wrap around
 * into the segments compaction freed. */
static int compact_then_put(struct store *s)
{
	int r = store_compact(s, NULL, NULL);

	for (uint32_t i = 0; !r && i < AFTER; i++) {
		r = put_n(s, 100000 + i, 5, LEN);
		if (!r && i % 150 == 149)
			r = store_sync(s);
	}
	return r;
}

static void check_crash_image(const char *img, uint32_t n, uint32_t salt)
{
	struct store_fsck_report fr;
	uint64_t after = 0;
	struct store *s;

	assert_int_equal(fsck(img, &fr), 0);
	assert_int_equal(fr.bad_records, 0);
	assert_true(fr.accounting_ok);
	s = open_store(img, false, 0);
	/* Nothing live lost, nothing deleted back. */
	check_all(s, n, salt);
	/* Records put after the compaction: exact when present. */
	after = check_range(s, 100000, AFTER, salt, want_any);
	assert_int_equal(fr.records, (n + 3) / 4 + after);
	/* The store goes on: compaction runs again after the crash. */
	assert_int_equal(store_compact(s, NULL, NULL), 0);
	check_all(s, n, salt);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(img, &fr), 0);
	assert_true(fr.accounting_ok);
	assert_int_equal(fr.records, (n + 3) / 4 + after);
}

/*
 * Crash at every write and sync completion of a compaction of a nearly full
 * store (so it runs out of room, commits midway and refills freed
 * segments) and of the puts after it.  Three crash images per point: all
 * writes issued so far landed; only what the last sync made durable; that
 * plus the latest write alone (writes are not ordered between syncs).
 */
static void test_compact_crash_points(void **state)
{
	char base[256], all[256], dur[256], last[256], work[256];
	struct crash c = { 0 };
	struct store *s;
	unsigned total, step, points = 0;
	uint32_t n;
	int r = 0;

	snprintf(base, sizeof(base), "%s", tpath(SHM, "crash-base"));
	snprintf(all, sizeof(all), "%s", tpath(SHM, "crash-all"));
	snprintf(dur, sizeof(dur), "%s", tpath(SHM, "crash-dur"));
	snprintf(last, sizeof(last), "%s", tpath(SHM, "crash-last"));
	snprintf(work, sizeof(work), "%s", tpath(SHM, "crash-work"));
	assert_int_equal(create_store(base, 16 * MiB, 1 << 20), 0);
	s = open_store(base, false, 0);
	for (n = 0; n < 100000 && !r; n++)
		r = put_n(s, n, 5, LEN);
	assert_int_equal(r, -ENOSPC);
	n--;
	for (uint32_t i = 0; i < n; i++) {
		struct store_key k;

		if (kept(i))
			continue;
		mkkey(&k, i, 5);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_close(s), 0);

	/* Count the writes and syncs. */
	copy_file(base, work);
	c.path = work;
	s = open_store(work, false, 0);
	sio_set_fault(store_test_sio(s), crash_fn, &c);
	assert_int_equal(compact_then_put(s), 0);
	sio_set_fault(store_test_sio(s), NULL, NULL);
	assert_int_equal(store_close(s), 0);
	total = c.events;
	assert_true(total >= 20);
	step = total > 80 ? total / 80 : 1;

	for (unsigned at = 1; at <= total; at += step, points++) {
		memset(&c, 0, sizeof(c));
		c.path = work;
		c.img_all = all;
		c.img_durable = dur;
		c.img_last = last;
		c.at = at;
		copy_file(base, work);
		copy_file(base, dur);
		s = open_store(work, false, 0);
		sio_set_fault(store_test_sio(s), crash_fn, &c);
		/* Fails once the "device" is gone (or finishes, for the last point). */
		(void)compact_then_put(s);
		assert_true(c.hit);
		sio_set_fault(store_test_sio(s), NULL, NULL);
		store_test_crash(s);
		check_crash_image(all, n, 5);
		check_crash_image(dur, n, 5);
		check_crash_image(last, n, 5);
	}
	print_message("%u crash points of %u write/sync completions, 3 images each\n", points,
		      total);
	unlink(base);
	unlink(all);
	unlink(dur);
	unlink(last);
	unlink(work);
}

/* ---- threads ---- */

struct worker {
	struct store *s;
	uint32_t id;
	int err;
	volatile bool *stop;
	uint32_t put;	/* records put by this worker (ids id*100000 + k) */
};

#define PRE 1600u


static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint32_t k = 0;

	while (!*w->stop && !w->err && k < 3000) {
		uint32_t id = 1000000 + w->id * 100000 + k;
		uint32_t old = (k * 4 + w->id * 97) % PRE;
		int r;

		/* Reads of records compaction is moving: never ENOENT, never stale. */
		r = verify_n(w->s, old, 6, LEN);
		if (r != (kept(old) ? 0 : -ENOENT)) {
			w->err = r ? r : -EINVAL;
			break;
		}
		r = put_n(w->s, id, 6, 1000 + k % 3000);
		if (r == -ENOSPC)
			break;
		if (!r)
			r = verify_n(w->s, id, 6, 1000 + k % 3000);
		/* Every other record of our own goes again. */
		if (!r && k % 2) {
			struct store_key key;

			mkkey(&key, id, 6);
			r = store_delete(w->s, &key);
		}
		if (!r && k % 200 == 199)
			r = store_sync(w->s);
		if (r)
			w->err = r;
		k++;
	}
	w->put = k;
	return NULL;
}

static void check_worker(struct store *s, const struct worker *w)
{
	for (uint32_t k = 0; k < w->put; k++) {
		uint32_t id = 1000000 + w->id * 100000 + k;

		assert_int_equal(check_n(s, id, 6, 1000 + k % 3000), k % 2 ? -ENOENT : 0);
	}
}

static void test_compact_concurrent(void **state)
{
	const char *p = tpath(SHM, "conc");
	struct store_compact_report rep;
	struct store_fsck_report fr;
	uint64_t moved = 0, freed = 0;
	volatile bool stop = false;
	struct worker w[4];
	pthread_t th[4];
	struct store *s;

	assert_int_equal(create_store(p, 96 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	fill_and_delete(s, PRE, 6);
	for (uint32_t i = 0; i < 4; i++) {
		w[i] = (struct worker){ .s = s, .id = i, .stop = &stop };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int round = 0; round < 6; round++) {
		int r = store_compact(s, &(struct store_compact_opts){ .min_reclaim = 0.3 },
				      &rep);

		assert_int_equal(r, 0);
		moved += rep.records_moved;
		freed += rep.segments_freed;
	}
	stop = true;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].err, 0);
		assert_true(w[i].put > 0);
	}
	assert_true(moved >= PRE / 4 / 2);
	assert_true(freed >= 3);
	check_all(s, PRE, 6);
	for (int i = 0; i < 4; i++)
		check_worker(s, &w[i]);
	assert_int_equal(store_sync(s), 0);
	store_test_crash(s);
	assert_int_equal(fsck(p, &fr), 0);
	assert_true(fr.accounting_ok);
	s = open_store(p, false, -1);
	check_all(s, PRE, 6);
	for (int i = 0; i < 4; i++)
		check_worker(s, &w[i]);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	unlink(p);
}

/* store_trim(): free segments' blocks go back to the file system, a few
 * stay allocated (the reserve), the store reopens clean with its records. */
static void test_trim(void **state)
{
	const char *p = tpath(SHM, "trim");
	struct store_compact_opts o = { .min_reclaim = 0.25 };
	struct store_compact_report rep;
	struct store_fsck_report fr;
	struct stat a, b;
	uint64_t bytes = 0;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	fill_and_delete(s, 4000, 9);
	assert_int_equal(store_compact(s, &o, &rep), 0);
	assert_true(rep.segments_freed >= 8);
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(store_trim(s, &bytes), 0);
	assert_int_equal(stat(p, &b), 0);
	/* 512-byte blocks: at least 8 segments of 1 MiB went back. */
	assert_true(bytes >= 8 * MiB);
	assert_true((uint64_t)(a.st_blocks - b.st_blocks) * 512 >= bytes);
	/* Nothing more to give back the second time. */
	assert_int_equal(store_trim(s, &bytes), 0);
	assert_int_equal(bytes, 0);
	check_all(s, 4000, 9);
	assert_int_equal(put_n(s, 5, 10, LEN), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &fr), 0);
	s = open_store(p, true, -1);
	check_all(s, 4000, 9);
	assert_int_equal(check_n(s, 5, 10, LEN), 0);
	assert_int_equal(store_trim(s, &bytes), -EROFS);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_basic),
		cmocka_unit_test(test_compact_bad_args),
		cmocka_unit_test(test_compact_budget_and_progress),
		cmocka_unit_test(test_compact_full_store),
		cmocka_unit_test(test_compact_full_scan_no_resurrection),
		cmocka_unit_test(test_compact_tombstone_outlives_record),
		cmocka_unit_test(test_compact_get_races_move),
		cmocka_unit_test(test_compact_crash_points),
		cmocka_unit_test(test_compact_concurrent),
		cmocka_unit_test(test_trim),
	};

	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
