// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The per-store dedup policy (dedup/policy.c): two-slot record, newest
 * generation wins, failed or torn updates leave the old policy, damaged
 * slots are skipped; and the parsers of its command-line forms.
 */
#include "tests/unit/store-test-lib.h"

#include "strata/dedup.h"

static int fail_put = 0; /* -errno to return from the next store_put */
static int fail_sync = 0;

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

static struct store *st;
static const char *spath;

static int setup(void **state)
{
	spath = tpath("/tmp", "policy");
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

static void reopen(void)
{
	assert_int_equal(store_close(st), 0);
	st = open_store(spath, false, 0);
}

static void slot_key(unsigned slot, struct store_key *key)
{
	uint8_t buf[18] = "strata-policy-v1";
	struct dedup_cid cid;

	buf[17] = (uint8_t)slot;
	assert_int_equal(dedup_cid_compute(buf, sizeof(buf), &cid), 0);
	dedup_cid_to_key(&cid, key);
}

static void test_empty_store(void **state)
{
	struct dedup_store_policy p;

	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.generation, 0);
	assert_false(p.has_compress);
	assert_false(p.has_chunking);
	assert_int_equal(p.compress.algo, DEDUP_COMPRESS_ZSTD);
	assert_int_equal(p.chunking.avg_size, DEDUP_CHUNK_AVG_DEFAULT);
}

static void test_save_load_generations(void **state)
{
	struct dedup_store_policy p, q;
	struct store_key k0, k1;

	dedup_store_policy_default(&p);
	p.has_compress = true;
	p.compress.algo = DEDUP_COMPRESS_NONE;
	assert_int_equal(dedup_store_policy_save(st, &p), 0);
	assert_int_equal(p.generation, 1);
	p.has_chunking = true;
	p.chunking = (struct dedup_chunker_params){ 4096, 16384, 65536, 32768 };
	assert_int_equal(dedup_store_policy_save(st, &p), 0);
	assert_int_equal(p.generation, 2);
	slot_key(0, &k0);
	slot_key(1, &k1);
	assert_int_equal(store_lookup(st, &k0, NULL), 0);
	assert_int_equal(store_lookup(st, &k1, NULL), 0);
	reopen();
	assert_int_equal(dedup_store_policy_load(st, &q), 0);
	assert_int_equal(q.generation, 2);
	assert_true(q.has_compress && q.has_chunking);
	assert_int_equal(q.compress.algo, DEDUP_COMPRESS_NONE);
	assert_int_equal(q.chunking.min_size, 4096);
	assert_int_equal(q.chunking.avg_size, 16384);
	assert_int_equal(q.chunking.max_size, 65536);
	assert_int_equal(q.chunking.whole_max, 32768);
	/* The third write goes back to slot 0; still two records. */
	q.compress = (struct dedup_compress_policy){ DEDUP_COMPRESS_ZSTD, -5 };
	assert_int_equal(dedup_store_policy_save(st, &q), 0);
	reopen();
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.generation, 3);
	assert_int_equal(p.compress.level, -5);
}

/* A put or sync that fails leaves the newest policy in place. */
static void test_failed_update(void **state)
{
	struct dedup_store_policy p, q;

	dedup_store_policy_default(&p);
	p.has_compress = true;
	p.compress.level = 9;
	assert_int_equal(dedup_store_policy_save(st, &p), 0);
	assert_int_equal(dedup_store_policy_save(st, &p), 0); /* gen 2, slot 1 */
	q = p;
	q.compress.level = 1;
	fail_put = -ENOSPC;
	assert_int_equal(dedup_store_policy_save(st, &q), -ENOSPC);
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.generation, 2);
	assert_int_equal(p.compress.level, 9);
	reopen();
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.generation, 2);
	assert_int_equal(p.compress.level, 9);
	q.compress.level = 2;
	fail_sync = -EIO;
	assert_int_equal(dedup_store_policy_save(st, &q), -EIO);
	/* Not synced, but readable in this process: the new one, never a mix. */
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_true(p.compress.level == 2 || p.compress.level == 9);
	/* Bad policies are refused before anything is written. */
	q.chunking = (struct dedup_chunker_params){ 4096, 12000, 65536, 0 };
	q.has_chunking = true;
	assert_int_equal(dedup_store_policy_save(st, &q), -EINVAL);
	q.has_chunking = false;
	q.compress.level = 99;
	assert_int_equal(dedup_store_policy_save(st, &q), -EINVAL);
}

/* A slot that does not decode is skipped; with none usable: -EBADMSG. */
static void test_damaged_slots(void **state)
{
	static const uint8_t junk[48] = "STPOLCY1";
	struct dedup_store_policy p;
	struct store_key k0, k1;

	dedup_store_policy_default(&p);
	p.has_compress = true;
	p.compress.algo = DEDUP_COMPRESS_NONE;
	assert_int_equal(dedup_store_policy_save(st, &p), 0); /* gen 1, slot 0 */
	p.compress.algo = DEDUP_COMPRESS_ZSTD;
	assert_int_equal(dedup_store_policy_save(st, &p), 0); /* gen 2, slot 1 */
	slot_key(0, &k0);
	slot_key(1, &k1);
	/* The newest slot damaged (bad flags): the older one is used. */
	assert_int_equal(store_delete(st, &k1), 0);
	{
		uint8_t bad[48];

		memcpy(bad, junk, sizeof(bad));
		bad[8] = 9;     /* generation 9 */
		bad[16] = 0x80; /* unknown flag */
		assert_int_equal(store_put(st, STORE_REC_META, &k1, bad, sizeof(bad), 0,
					   DEDUP_POLICY_KIND),
				 0);
	}
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.generation, 1);
	assert_int_equal(p.compress.algo, DEDUP_COMPRESS_NONE);
	/* Both damaged (wrong length, wrong kind): defaults and -EBADMSG. */
	assert_int_equal(store_delete(st, &k0), 0);
	assert_int_equal(store_put(st, STORE_REC_META, &k0, junk, 20, 0, DEDUP_POLICY_KIND), 0);
	assert_int_equal(dedup_store_policy_load(st, &p), -EBADMSG);
	assert_false(p.has_compress);
	/* Saving over the damage works and starts again at generation 1. */
	p.has_compress = true;
	p.compress.algo = DEDUP_COMPRESS_NONE;
	assert_int_equal(dedup_store_policy_save(st, &p), 0);
	assert_int_equal(p.generation, 1);
	assert_int_equal(dedup_store_policy_load(st, &p), 0);
	assert_int_equal(p.compress.algo, DEDUP_COMPRESS_NONE);
}

static void test_parsers(void **state)
{
	struct dedup_chunker_params p = { 1, 2, 3, 4 };
	struct dedup_compress_policy c;
	const char *why;
	uint32_t w;
	char buf[32];

	assert_int_equal(dedup_chunking_parse("16K:64K:256K", &p, &why), 0);
	assert_null(why);
	assert_int_equal(p.min_size, 16384);
	assert_int_equal(p.avg_size, 65536);
	assert_int_equal(p.max_size, 262144);
	assert_int_equal(p.whole_max, 0);
	assert_int_equal(dedup_chunking_parse("64:256:1M", &p, &why), 0);
	assert_int_equal(p.max_size, 1 << 20);
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "16K:60K:256K", "power of two" },
		{ "16K:128:256K", "at least 256 bytes" },
		{ "32:256:1K", "at least 64 bytes" },
		{ "64K:64K:256K", "below the average" },
		{ "16K:64K:64K", "above the average" },
		{ "16K:64K:2M", "at most 1 MiB" },
		{ "16K:64K", "MIN:AVG:MAX" },
		{ "16K:64K:256K:1K", "MIN:AVG:MAX" },
		{ "a:b:c", "MIN:AVG:MAX" },
		{ ":64K:256K", "MIN:AVG:MAX" },
		{ "16K:64K:8G", "MIN:AVG:MAX" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = (struct dedup_chunker_params){ 1, 2, 3, 4 };
		assert_int_equal(dedup_chunking_parse(bad[i].s, &p, &why), -EINVAL);
		assert_non_null(why);
		if (!strstr(why, bad[i].why))
			fail_msg("%s: '%s' does not say '%s'", bad[i].s, why, bad[i].why);
		assert_int_equal(p.min_size, 1); /* untouched */
	}
	assert_int_equal(dedup_whole_max_parse("128K", &w, &why), 0);
	assert_int_equal(w, 131072);
	assert_int_equal(dedup_whole_max_parse("0", &w, &why), 0);
	assert_int_equal(w, 0);
	assert_int_equal(dedup_whole_max_parse("2M", &w, &why), -EINVAL);
	assert_int_equal(dedup_whole_max_parse("-1", &w, &why), -EINVAL);
	p = (struct dedup_chunker_params){ 16384, 65536, 262144, 524288 };
	assert_non_null(strstr(dedup_chunker_params_why(&p), "whole-file threshold"));
	p.whole_max = 262144;
	assert_null(dedup_chunker_params_why(&p));
	assert_int_equal(dedup_compress_policy_parse("zstd:7", &c), 0);
	assert_string_equal(dedup_compress_policy_format(&c, buf, sizeof(buf)), "zstd:7");
	assert_int_equal(dedup_compress_policy_parse("zstd", &c), 0);
	assert_string_equal(dedup_compress_policy_format(&c, buf, sizeof(buf)), "zstd:1");
	assert_int_equal(dedup_compress_policy_parse("none", &c), 0);
	assert_string_equal(dedup_compress_policy_format(&c, buf, sizeof(buf)), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_slots, setup, teardown),
		cmocka_unit_test(test_parsers),
	};

	strata_log_init("test_policy", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
