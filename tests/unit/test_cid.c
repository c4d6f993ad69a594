// SPDX-License-Identifier: GPL-2.0-or-later
/* dedup/ content ids: SHA-256 vectors, the text form, store keys, XXH3. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/dedup.h"

static void assert_cid_hex(const struct dedup_cid *cid, const char *hex)
{
	char buf[DEDUP_CID_STR_SIZE];

	dedup_cid_format(cid, buf);
	assert_int_equal(strlen(buf), DEDUP_CID_STR_LEN);
	assert_memory_equal(buf, "sha256:", 7);
	assert_string_equal(buf + 7, hex);
}

static uint8_t *fill(size_t len, int c)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	memset(b, c, len);
	return b;
}

/* FIPS 180-2 / NIST vectors, plus 1 MiB of 'a' checked against sha256sum. */
static void test_sha256_vectors(void **state)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct dedup_cid cid;
	uint8_t *a;

	assert_int_equal(dedup_cid_compute("", 0, &cid), 0);
	assert_cid_hex(&cid, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(dedup_cid_compute(NULL, 0, &cid), 0);
	assert_cid_hex(&cid, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(dedup_cid_compute("abc", 3, &cid), 0);
	assert_cid_hex(&cid, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(dedup_cid_compute(two_blocks, strlen(two_blocks), &cid), 0);
	assert_cid_hex(&cid, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	a = fill(1 << 20, 'a');
	assert_int_equal(dedup_cid_compute(a, 1000000, &cid), 0);
	assert_cid_hex(&cid, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	assert_int_equal(dedup_cid_compute(a, 1 << 20, &cid), 0);
	assert_cid_hex(&cid, "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360");
	free(a);
}

/* Streaming gives the one-shot result for any split, and reuses itself. */
static void test_hasher_stream(void **state)
{
	struct dedup_hasher *h;
	struct dedup_cid cid, one;
	uint8_t *a = fill(1 << 20, 'a');
	size_t off = 0, step = 1;

	assert_int_equal(dedup_hasher_create(&h), 0);
	while (off < (1u << 20)) {
		size_t n = step < (1u << 20) - off ? step : (1u << 20) - off;

		assert_int_equal(dedup_hasher_update(h, a + off, n), 0);
		off += n;
		step = step * 3 + 1; /* 1, 4, 13, 40 ... odd sizes across blocks */
	}
	assert_int_equal(dedup_hasher_final(h, &cid), 0);
	assert_cid_hex(&cid, "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360");

	/* final resets: the next id starts from nothing. */
	assert_int_equal(dedup_hasher_update(h, "abc", 3), 0);
	assert_int_equal(dedup_hasher_final(h, &cid), 0);
	assert_cid_hex(&cid, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(dedup_hasher_final(h, &cid), 0);
	assert_cid_hex(&cid, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	/* reset drops what was added. */
	assert_int_equal(dedup_hasher_update(h, a, 12345), 0);
	assert_int_equal(dedup_hasher_reset(h), 0);
	assert_int_equal(dedup_hasher_update(h, "ab", 2), 0);
	assert_int_equal(dedup_hasher_update(h, "c", 1), 0);
	assert_int_equal(dedup_hasher_final(h, &cid), 0);
	assert_int_equal(dedup_cid_compute("abc", 3, &one), 0);
	assert_true(dedup_cid_equal(&cid, &one));

	dedup_hasher_destroy(h);
	dedup_hasher_destroy(NULL);
	free(a);
}

static void test_format_parse_roundtrip(void **state)
{
	char buf[DEDUP_CID_STR_SIZE];
	struct dedup_cid cid, back;

	for (int k = 0; k < 64; k++) {
		for (int i = 0; i < DEDUP_CID_LEN; i++)
			cid.b[i] = (uint8_t)(k * 37 + i * 101);
		if (k == 0)
			memset(cid.b, 0, sizeof(cid.b));
		if (k == 1)
			memset(cid.b, 0xff, sizeof(cid.b));
		dedup_cid_format(&cid, buf);
		assert_int_equal(strlen(buf), 71);
		assert_int_equal(dedup_cid_parse(buf, &back), 0);
		assert_true(dedup_cid_equal(&cid, &back));
		assert_int_equal(dedup_cid_cmp(&cid, &back), 0);
	}
	assert_int_equal(dedup_cid_parse(
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &cid), 0);
	assert_int_equal(cid.b[0], 0xba);
	assert_int_equal(cid.b[31], 0xad);
}

static void test_parse_rejects(void **state)
{
	static const char good_hex[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char *const bad[] = {
		"",
		"sha256:",
		"sha256",
		/* wrong algorithm or spelling of it */
		"sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha25:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		/* length */
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00",
		/* uppercase and non-hex digits */
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD",
		"sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a ",
		"sha256: a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		" sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\n",
		"sha256:+a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	};
	struct dedup_cid cid, orig;
	char buf[80];

	memset(&orig, 0x5a, sizeof(orig));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cid = orig;
		assert_int_equal(dedup_cid_parse(bad[i], &cid), -EINVAL);
		assert_true(dedup_cid_equal(&cid, &orig)); /* untouched */
	}
	assert_int_equal(dedup_cid_parse(NULL, &cid), -EINVAL);

	/* parse_n: exact length, no NUL needed, NUL inside rejected. */
	snprintf(buf, sizeof(buf), "sha256:%sXYZ", good_hex);
	assert_int_equal(dedup_cid_parse_n(buf, 71, &cid), 0);
	assert_int_equal(dedup_cid_parse_n(buf, 70, &cid), -EINVAL);
	assert_int_equal(dedup_cid_parse_n(buf, 72, &cid), -EINVAL);
	buf[40] = '\0';
	assert_int_equal(dedup_cid_parse_n(buf, 71, &cid), -EINVAL);
	assert_int_equal(dedup_cid_parse_n(NULL, 71, &cid), -EINVAL);
}

/* A content id is byte for byte the store key of its chunk record. */
static void test_store_key(void **state)
{
	struct dedup_cid cid, back;
	struct store_key key;

	assert_int_equal(sizeof(struct dedup_cid), STORE_KEY_LEN);
	assert_int_equal(dedup_cid_compute("abc", 3, &cid), 0);
	dedup_cid_to_key(&cid, &key);
	assert_memory_equal(key.b, cid.b, STORE_KEY_LEN);
	memset(&back, 0, sizeof(back));
	dedup_cid_from_key(&key, &back);
	assert_true(dedup_cid_equal(&cid, &back));
}

static void test_cmp(void **state)
{
	struct dedup_cid a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	b.b[31] = 1;
	assert_true(dedup_cid_cmp(&a, &b) < 0);
	assert_true(dedup_cid_cmp(&b, &a) > 0);
	assert_false(dedup_cid_equal(&a, &b));
	a.b[0] = 1;
	assert_true(dedup_cid_cmp(&a, &b) > 0);
}

/* XXH3 against xxhsum -H3, and the seed matters. */
static void test_hash64(void **state)
{
	struct dedup_cid cid;

	assert_int_equal(dedup_hash64("", 0, 0), 0x2d06800538d394c2ull);
	assert_int_equal(dedup_hash64("abc", 3, 0), 0x78af5f94892f3950ull);
	assert_int_not_equal(dedup_hash64("abc", 3, 1), dedup_hash64("abc", 3, 0));
	assert_int_equal(dedup_cid_compute("abc", 3, &cid), 0);
	assert_int_equal(dedup_cid_hash(&cid, 7), dedup_hash64(cid.b, sizeof(cid.b), 7));
	assert_int_not_equal(dedup_cid_hash(&cid, 7), dedup_cid_hash(&cid, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_hasher_stream),
		cmocka_unit_test(test_format_parse_roundtrip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_store_key),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_hash64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
