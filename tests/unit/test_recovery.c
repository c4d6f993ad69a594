// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: checkpoints, roll-forward, torn tails, corrupted records and
 * checkpoints, injected I/O faults, fsck.
 */
#include "store-test-lib.h"
#include "store/store-internal.h"

#define SHM "/dev/shm"
#define MiB (1ull << 20)

static void test_checkpoint_then_rollforward(void **state)
{
	const char *p = tpath(SHM, "cp");
	struct store_fsck_report rep;
	struct store_stats st;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 200; n++)
		assert_int_equal(put_n(s, n, 1, rec_len(n)), 0);
	assert_int_equal(store_checkpoint(s), 0);
	store_get_stats(s, &st);
	assert_int_equal(st.checkpoint_gen, 2);
	assert_int_equal(store_close(s), 0);

	/* Opened from the checkpoint: nothing replayed. */
	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.dropped_bytes, 0);
	assert_int_equal(st.records, 200);
	for (uint32_t n = 200; n < 300; n++)
		assert_int_equal(put_n(s, n, 1, rec_len(n)), 0);
	{
		struct store_key k;

		mkkey(&k, 10, 1);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_sync(s), 0);
	store_test_crash(s);

	/* Synced after the checkpoint: rolled forward. */
	s = open_store(p, true, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.replayed, 101);
	assert_int_equal(st.records, 299);
	for (uint32_t n = 0; n < 300; n++)
		assert_int_equal(check_n(s, n, 1, rec_len(n)), n == 10 ? -ENOENT : 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.replayed, 101);
	assert_true(rep.checkpoint_ok);
	assert_int_equal(rep.records, 299);

	/* A read-write open writes the recovery checkpoint. */
	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.replayed, 101);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.records, 299);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

/*
 * A checkpoint of many records loads into an index sized for them at once
 * (idx_reserve): every record is found after the reopen, and the index
 * keeps working for puts, duplicate keys and deletes after it.
 */
static void test_checkpoint_many(void **state)
{
	const char *p = tpath(SHM, "cpmany");
	const uint32_t n = 30000;
	struct store_stats st;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(put_n(s, i, 3, 100 + i % 200), 0);
	assert_int_equal(store_close(s), 0); /* close writes a checkpoint */

	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.records, n);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(check_n(s, i, 3, 100 + i % 200), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		struct store_key k;

		mkkey(&k, i, 3);
		assert_int_equal(store_delete(s, &k), 0);
		assert_int_equal(put_n(s, n + i, 3, 64), 0);
		assert_int_equal(put_n(s, 1000 + i, 3, 300), -EEXIST);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.records, n);
	for (uint32_t i = 0; i < n + 1000; i++)
		assert_int_equal(check_n(s, i, 3, i < 1000 ? 0 : i >= n ? 64 : 100 + i % 200),
				 i < 1000 ? -ENOENT : 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_torn_tail(void **state)
{
	const char *p = tpath(SHM, "torn");
	struct store_fsck_report rep;
	struct store_stats st;
	uint64_t head;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 100; n++)
		assert_int_equal(put_n(s, n, 2, rec_len(n)), 0);
	assert_int_equal(store_sync(s), 0);
	head = store_test_head_offset(s);
	assert_int_equal(head % 4096, 0);
	/* Unsynced, but enough to push several full buffers to the file. */
	for (uint32_t n = 100; n < 400; n++)
		assert_int_equal(put_n(s, n, 2, rec_len(n)), 0);
	store_test_crash(s);
	/* The first block after the synced point is torn. */
	garbage_at(p, 4096, (off_t)head, 5);

	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_true(st.dropped_bytes > 0);
	for (uint32_t n = 0; n < 100; n++)
		assert_int_equal(check_n(s, n, 2, rec_len(n)), 0);
	for (uint32_t n = 100; n < 400; n++)
		assert_int_equal(check_n(s, n, 2, rec_len(n)), -ENOENT);
	assert_int_equal(st.records, 100);
	/* The store goes on: new records after the tear survive a crash too. */
	for (uint32_t n = 100; n < 150; n++)
		assert_int_equal(put_n(s, n, 2, 333), 0);
	assert_int_equal(store_sync(s), 0);
	store_test_crash(s);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.records, 150);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 150; n++)
		assert_int_equal(check_n(s, n, 2, n < 100 ? rec_len(n) : 333), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.replayed, 0);
	unlink(p);
}

static void test_torn_record(void **state)
{
	const char *p = tpath(SHM, "tornrec");
	struct store_stats st;
	struct store_key k;
	uint64_t at;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 50; n++)
		assert_int_equal(put_n(s, n, 3, 3000), 0);
	assert_int_equal(store_sync(s), 0);
	for (uint32_t n = 50; n < 60; n++)
		assert_int_equal(put_n(s, n, 3, 3000), 0);
	assert_int_equal(store_sync(s), 0);
	mkkey(&k, 55, 3);
	assert_int_equal(store_test_locate(s, &k, &at), 0);
	store_test_crash(s);
	/* Half of record 55's payload never reached the disk. */
	garbage_at(p, 1500, (off_t)at + REC_HDR + 1000, 9);
	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_true(st.dropped_bytes > 0);
	for (uint32_t n = 0; n < 60; n++)
		assert_int_equal(check_n(s, n, 3, 3000), n < 55 ? 0 : -ENOENT);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

/* A corrupt payload: EBADMSG also for a batched get that borrows (in
 * /var/tmp the record is checked in the arena, not copied out). */
static void corrupt_payload_in(const char *dir)
{
	const char *p = tpath(dir, "badrec");
	struct store_fsck_report rep;
	struct store_key k;
	uint8_t buf[5000];
	size_t len;
	uint64_t at;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 30; n++)
		assert_int_equal(put_n(s, n, 4, 4000), 0);
	mkkey(&k, 17, 4);
	assert_int_equal(store_test_locate(s, &k, &at), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	garbage_at(p, 1, (off_t)at + REC_HDR + 2000, 1);

	s = open_store(p, false, -1);
	log_start();
	assert_int_equal(store_get(s, &k, buf, sizeof(buf), &len, NULL), -EBADMSG);
	{
		struct store_get_req q = { .key = k, .buf = buf, .bufsize = sizeof(buf),
					   .borrow = true };

		assert_int_equal(store_get_batch(s, &q, 1), -EBADMSG);
		assert_int_equal(q.res, -EBADMSG);
	}
	log_stop();
	/* The log line names the key and where it is. */
	{
		char hex[65];

		strata_hex(k.b, 32, hex);
		assert_non_null(strstr(log_buf, hex));
		assert_non_null(strstr(log_buf, "segment"));
	}
	for (uint32_t n = 0; n < 30; n++)
		if (n != 17)
			assert_int_equal(check_n(s, n, 4, 4000), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), -EUCLEAN);
	assert_int_equal(rep.bad_records, 1);
	assert_int_equal(rep.records, 30);
	assert_true(rep.checkpoint_ok);
	unlink(p);
}

static void test_corrupt_payload(void **state)
{
	corrupt_payload_in(SHM);
	corrupt_payload_in("/var/tmp");
}

static void test_both_slots_corrupt(void **state)
{
	const char *p = tpath(SHM, "slots");
	struct store_fsck_report rep;
	struct store_stats st;
	struct store_key k;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 300; n++)
		assert_int_equal(put_n(s, n, 5, rec_len(n)), 0);
	mkkey(&k, 7, 5);
	assert_int_equal(store_delete(s, &k), 0);
	assert_int_equal(store_checkpoint(s), 0);
	for (uint32_t n = 300; n < 350; n++)
		assert_int_equal(put_n(s, n, 5, rec_len(n)), 0);
	assert_int_equal(store_close(s), 0);
	garbage_at(p, 4096, 4096, 1);
	garbage_at(p, 4096, 8192, 2);

	assert_int_equal(fsck(p, &rep), -EUCLEAN);
	assert_false(rep.checkpoint_ok);
	assert_int_equal(rep.records, 349);
	assert_int_equal(rep.bad_records, 0);

	s = open_store(p, false, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.records, 349);
	for (uint32_t n = 0; n < 350; n++)
		assert_int_equal(check_n(s, n, 5, rec_len(n)), n == 7 ? -ENOENT : 0);
	assert_int_equal(put_n(s, 1000, 5, 100), 0);
	assert_int_equal(store_close(s), 0);
	/* The open rewrote a checkpoint: clean again. */
	assert_int_equal(fsck(p, &rep), 0);
	assert_true(rep.checkpoint_ok);
	assert_int_equal(rep.records, 350);
	unlink(p);
}

static void test_one_slot_corrupt(void **state)
{
	const char *p = tpath(SHM, "slot1");
	struct store_stats st;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 100; n++)
		assert_int_equal(put_n(s, n, 6, rec_len(n)), 0);
	assert_int_equal(store_checkpoint(s), 0); /* gen 2: slot B */
	for (uint32_t n = 100; n < 200; n++)
		assert_int_equal(put_n(s, n, 6, rec_len(n)), 0);
	assert_int_equal(store_checkpoint(s), 0); /* gen 3: slot A */
	for (uint32_t n = 200; n < 220; n++)
		assert_int_equal(put_n(s, n, 6, rec_len(n)), 0);
	assert_int_equal(store_sync(s), 0);
	store_test_crash(s);
	/* A torn write of slot A: fall back to gen 2 and roll forward further. */
	garbage_at(p, 100, 4096, 3);
	s = open_store(p, true, -1);
	store_get_stats(s, &st);
	assert_int_equal(st.checkpoint_gen, 2);
	assert_int_equal(st.replayed, 120);
	for (uint32_t n = 0; n < 220; n++)
		assert_int_equal(check_n(s, n, 6, rec_len(n)), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

/* ---- fault injection ---- */

struct fault {
	int op;		/* SIO_READ / SIO_WRITE, -1 any */
	int err;	/* returned instead of the result; 0: short transfers */
	unsigned hits;
};

static int fault_fn(void *arg, const struct sio_req *req, uint64_t off, size_t len, int res)
{
	struct fault *f = arg;

	if (f->op >= 0 && req->op != f->op)
		return res;
	f->hits++;
	if (f->err)
		return f->err;
	/* Short transfer: half of it (at least one byte). */
	return res > 1 ? res / 2 : res;
}

static void write_fault(int err)
{
	const char *p = tpath(SHM, "wfault");
	struct fault f = { .op = SIO_WRITE, .err = err };
	struct store_fsck_report rep;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 50; n++)
		assert_int_equal(put_n(s, n, 7, 5000), 0);
	assert_int_equal(store_sync(s), 0);
	sio_set_fault(store_test_sio(s), fault_fn, &f);
	/* A few buffers' worth: they fail in the background. */
	for (uint32_t n = 50; n < 800; n++)
		assert_int_equal(put_n(s, n, 7, 5000), 0);
	assert_int_equal(store_sync(s), err);
	assert_true(f.hits > 0);
	/* Still readable (from memory), and nothing acknowledged was lost. */
	for (uint32_t n = 0; n < 800; n++)
		assert_int_equal(check_n(s, n, 7, 5000), 0);
	assert_int_equal(store_checkpoint(s), err);
	sio_set_fault(store_test_sio(s), NULL, NULL);
	/* The fault is gone: the retained buffers are written by the next sync. */
	assert_int_equal(store_sync(s), 0);
	for (uint32_t n = 0; n < 800; n++)
		assert_int_equal(check_n(s, n, 7, 5000), 0);
	store_test_crash(s);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 800; n++)
		assert_int_equal(check_n(s, n, 7, 5000), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.records, 800);
	unlink(p);
}

static void test_write_eio(void **state)
{
	write_fault(-EIO);
}

static void test_write_enospc(void **state)
{
	write_fault(-ENOSPC);
}

static void test_read_eio(void **state)
{
	const char *p = tpath(SHM, "rfault");
	struct fault f = { .op = SIO_READ, .err = -EIO };
	struct store_get_req rq[4];
	uint8_t buf[4][3000];
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 10; n++)
		assert_int_equal(put_n(s, n, 8, 3000), 0);
	assert_int_equal(store_close(s), 0);
	s = open_store(p, false, -1);
	sio_set_fault(store_test_sio(s), fault_fn, &f);
	assert_int_equal(check_n(s, 3, 8, 3000), -EIO);
	memset(rq, 0, sizeof(rq));
	for (int i = 0; i < 4; i++) {
		mkkey(&rq[i].key, (uint32_t)i, 8);
		rq[i].buf = buf[i];
		rq[i].bufsize = sizeof(buf[i]);
	}
	assert_int_equal(store_get_batch(s, rq, 4), -EIO);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rq[i].res, -EIO);
	sio_set_fault(store_test_sio(s), NULL, NULL);
	for (uint32_t n = 0; n < 10; n++)
		assert_int_equal(check_n(s, n, 8, 3000), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_short_io(void **state)
{
	const char *p = tpath(SHM, "short");
	struct fault f = { .op = -1, .err = 0 };
	struct sio_counters c;
	struct store *s;

	assert_int_equal(create_store(p, 64 * MiB, 0), 0);
	s = open_store(p, false, -1);
	sio_set_fault(store_test_sio(s), fault_fn, &f);
	for (uint32_t n = 0; n < 400; n++)
		assert_int_equal(put_n(s, n, 9, rec_len(n)), 0);
	assert_int_equal(store_sync(s), 0);
	assert_int_equal(store_checkpoint(s), 0);
	for (uint32_t n = 0; n < 400; n++)
		assert_int_equal(check_n(s, n, 9, rec_len(n)), 0);
	sio_get_counters(store_test_sio(s), &c);
	assert_true(c.short_io > 0);
	store_test_crash(s);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 400; n++)
		assert_int_equal(check_n(s, n, 9, rec_len(n)), 0);
	assert_int_equal(store_close(s), 0);
	unlink(p);
}

static void test_fsck_clean(void **state)
{
	const char *p = tpath(SHM, "fsck");
	struct store_fsck_report rep;
	struct store *s;

	assert_int_equal(create_store(p, 32 * MiB, 0), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_true(rep.superblock_ok);
	assert_true(rep.checkpoint_ok);
	assert_true(rep.accounting_ok);
	assert_int_equal(rep.records, 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 500; n++)
		assert_int_equal(put_n(s, n, 10, rec_len(n) / 3), 0);
	for (uint32_t n = 0; n < 500; n += 5) {
		struct store_key k;

		mkkey(&k, n, 10);
		assert_int_equal(store_delete(s, &k), 0);
	}
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_true(rep.accounting_ok);
	assert_int_equal(rep.records, 400);
	assert_int_equal(rep.bad_records, 0);
	assert_int_equal(rep.checkpoint_gen, 2);
	unlink(p);
	/* Not a store at all. */
	garbage_at(p, 1 << 20, 0, 4);
	assert_int_equal(fsck(p, &rep), -EUCLEAN);
	assert_false(rep.superblock_ok);
	unlink(p);
}

/* Many checkpoints and deletes: segments are reused, reopen stays exact. */
static void test_segment_reuse(void **state)
{
	const char *p = tpath(SHM, "reuse");
	struct store_fsck_report rep;
	struct store_stats st;
	struct store *s;
	uint32_t live_from = 0, next = 0;

	assert_int_equal(create_store(p, 20 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	for (int round = 0; round < 30; round++) {
		for (int i = 0; i < 60; i++, next++)
			assert_int_equal(put_n(s, next, 11, 20000), 0);
		while (next - live_from > 150) {
			struct store_key k;

			mkkey(&k, live_from++, 11);
			assert_int_equal(store_delete(s, &k), 0);
		}
		if (round % 3 == 0)
			assert_int_equal(store_checkpoint(s), 0);
		if (round % 7 == 6) {
			assert_int_equal(store_sync(s), 0);
			store_test_crash(s);
			s = open_store(p, false, -1);
		}
	}
	store_get_stats(s, &st);
	assert_int_equal(st.records, next - live_from);
	assert_true(next * 20064ull > st.capacity); /* it did wrap around */
	for (uint32_t n = live_from; n < next; n++)
		assert_int_equal(check_n(s, n, 11, 20000), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.records, next - live_from);
	assert_int_equal(rep.torn_bytes, 0);
	unlink(p);
}

/*
 * Regression: a segment emptied by deletes was free at once, before its
 * tombstones were synced, so new records could overwrite a deleted
 * record's bytes while (after a power cut) the checkpoint still indexed it.
 * It must come free only once a sync made the tombstones durable.
 */
static void test_deleted_segment_free_after_sync(void **state)
{
	const char *p = tpath(SHM, "delsync");
	struct store_stats st0, st1, st2;
	struct store_fsck_report rep;
	struct store *s;

	assert_int_equal(create_store(p, 20 * MiB, 1 << 20), 0);
	s = open_store(p, false, -1);
	for (uint32_t n = 0; n < 150; n++)
		assert_int_equal(put_n(s, n, 12, 20000), 0);
	assert_int_equal(store_checkpoint(s), 0);
	assert_int_equal(store_checkpoint(s), 0);
	store_get_stats(s, &st0);
	for (uint32_t n = 0; n < 75; n++) {
		struct store_key k;

		mkkey(&k, n, 12);
		assert_int_equal(store_delete(s, &k), 0);
	}
	store_get_stats(s, &st1);
	assert_int_equal(st1.free_segments, st0.free_segments);
	assert_int_equal(store_sync(s), 0);
	store_get_stats(s, &st2);
	assert_true(st2.free_segments > st1.free_segments);
	for (uint32_t n = 75; n < 150; n++)
		assert_int_equal(check_n(s, n, 12, 20000), 0);
	assert_int_equal(store_close(s), 0);
	assert_int_equal(fsck(p, &rep), 0);
	assert_int_equal(rep.records, 75);
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoint_then_rollforward),
		cmocka_unit_test(test_checkpoint_many),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_torn_record),
		cmocka_unit_test(test_corrupt_payload),
		cmocka_unit_test(test_both_slots_corrupt),
		cmocka_unit_test(test_one_slot_corrupt),
		cmocka_unit_test(test_write_eio),
		cmocka_unit_test(test_write_enospc),
		cmocka_unit_test(test_read_eio),
		cmocka_unit_test(test_short_io),
		cmocka_unit_test(test_fsck_clean),
		cmocka_unit_test(test_segment_reuse),
		cmocka_unit_test(test_deleted_segment_free_after_sync),
	};

	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
