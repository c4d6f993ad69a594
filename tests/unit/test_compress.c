// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedup/ chunk compression: policy parsing, round trips, the keep-only-
 * when-it-pays rule, strict decoding of corrupt or mismatched frames, and
 * ENOMEM.
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
#include <zstd.h>

#include "strata/dedup.h"

static int fail_calloc_in;

void *__real_calloc(size_t n, size_t size);

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_calloc_in > 0 && --fail_calloc_in == 0)
		return NULL;
	return __real_calloc(n, size);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *b, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)splitmix64(&seed);
}

/* Text-like data: words from a small vocabulary, compresses about 3-4x. */
static void fill_text(uint8_t *b, size_t len, uint64_t seed)
{
	static const char *const words[] = { "layer ", "image ", "chunk ", "store ", "digest ",
					     "manifest ", "overlay ", "whiteout ", "\n",
					     "sha256 ", "config ", "rootfs " };
	size_t off = 0;

	while (off < len) {
		const char *w = words[splitmix64(&seed) % (sizeof(words) / sizeof(words[0]))];
		size_t n = strlen(w);

		if (n > len - off)
			n = len - off;
		memcpy(b + off, w, n);
		off += n;
	}
}

static struct dedup_zctx *zstd_ctx(int level)
{
	struct dedup_compress_policy pol = { .algo = DEDUP_COMPRESS_ZSTD, .level = level };
	struct dedup_zctx *z = NULL;

	assert_int_equal(dedup_zctx_create(&pol, &z), 0);
	assert_non_null(z);
	return z;
}

static void test_policy_parse(void **state)
{
	struct dedup_compress_policy p, orig = { .algo = 77, .level = 77 };
	static const char *const bad[] = {
		"", "zstd:", "zstd:x", "zstd:3x", "zstd:1000", "zstd:-1000000000", "zstd3",
		"zstd:99999999999999999999", "lz4", "ZSTD", "none:1", " zstd", "zstd: 3", "zstd:+3",
		"zstd:-", "zstd:3 ",
	};

	assert_int_equal(dedup_compress_policy_parse("none", &p), 0);
	assert_int_equal(p.algo, DEDUP_COMPRESS_NONE);
	assert_int_equal(dedup_compress_policy_parse("zstd", &p), 0);
	assert_int_equal(p.algo, DEDUP_COMPRESS_ZSTD);
	assert_int_equal(p.level, DEDUP_ZSTD_LEVEL_DEFAULT);
	assert_int_equal(dedup_compress_policy_parse("zstd:19", &p), 0);
	assert_int_equal(p.level, 19);
	assert_int_equal(dedup_compress_policy_parse("zstd:-5", &p), 0);
	assert_int_equal(p.level, -5);
	assert_int_equal(dedup_compress_policy_parse("zstd:0", &p), 0);
	assert_int_equal(p.level, DEDUP_ZSTD_LEVEL_DEFAULT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = orig;
		assert_int_equal(dedup_compress_policy_parse(bad[i], &p), -EINVAL);
		assert_int_equal(p.algo, orig.algo);
		assert_int_equal(p.level, orig.level);
	}
	assert_int_equal(dedup_compress_policy_parse(NULL, &p), -EINVAL);
}

static void test_zctx_create(void **state)
{
	struct dedup_compress_policy pol = { .algo = DEDUP_COMPRESS_ZSTD, .level = 1000 };
	struct dedup_zctx *z = NULL;

	assert_int_equal(dedup_zctx_create(&pol, &z), -EINVAL);
	pol.level = ZSTD_maxCLevel() + 1;
	assert_int_equal(dedup_zctx_create(&pol, &z), -EINVAL);
	pol.algo = 9;
	pol.level = 3;
	assert_int_equal(dedup_zctx_create(&pol, &z), -EINVAL);
	assert_null(z);
	assert_int_equal(dedup_zctx_create(NULL, &z), 0);
	dedup_zctx_destroy(z);
	dedup_zctx_destroy(NULL);

	fail_calloc_in = 1;
	assert_int_equal(dedup_zctx_create(NULL, &z), -ENOMEM);
	fail_calloc_in = 0;
}

static void test_min_saving(void **state)
{
	assert_int_equal(dedup_compress_min_saving(0), 512);
	assert_int_equal(dedup_compress_min_saving(4096), 512);
	assert_int_equal(dedup_compress_min_saving(4097), 512);
	assert_int_equal(dedup_compress_min_saving(8192), 1024);
	assert_int_equal(dedup_compress_min_saving(64 << 10), 8 << 10);
}

/* Compressible chunks round-trip, many times through one context. */
static void test_roundtrip(void **state)
{
	static const int levels[] = { 1, 3, 9, -1 };
	static const size_t sizes[] = { 4096, 65536, 256 << 10, 1 << 20 };
	size_t cap = 1 << 20;
	uint8_t *src = malloc(cap), *z = malloc(cap), *out = malloc(cap);

	assert_true(src && z && out);
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		struct dedup_zctx *ctx = zstd_ctx(levels[l]);

		for (int rep = 0; rep < 3; rep++) {
			for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				size_t len = sizes[s], zlen = 99;

				fill_text(src, len, rep * 100 + s);
				assert_int_equal(dedup_compress(ctx, src, len, z, cap, &zlen), 0);
				assert_true(zlen > 0);
				assert_true(zlen <= len - dedup_compress_min_saving(len));
				memset(out, 0xee, len);
				assert_int_equal(dedup_decompress(ctx, z, zlen, out, len), 0);
				assert_memory_equal(out, src, len);
			}
		}
		dedup_zctx_destroy(ctx);
	}
	free(src);
	free(z);
	free(out);
}

/* Random data, tiny chunks and small savings are stored raw. */
static void test_store_raw(void **state)
{
	size_t len = 64 << 10, zlen = 99;
	uint8_t *src = malloc(len), *z = malloc(len);
	struct dedup_zctx *ctx = zstd_ctx(3), *none;

	assert_true(src && z);
	fill_random(src, len, 1);
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_int_equal(zlen, 0);

	/* 4 KiB of zeros in 64 KiB of noise saves ~4 KiB: under 1/8, raw. */
	memset(src + 1000, 0, 4096);
	zlen = 99;
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_int_equal(zlen, 0);
	/* 16 KiB of zeros saves ~16 KiB: kept. */
	memset(src + 1000, 0, 16384);
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_true(zlen > 0 && zlen <= len - (8 << 10));

	/* At most 512 bytes can never save 512: raw without trying. */
	memset(src, 0, 512);
	zlen = 99;
	assert_int_equal(dedup_compress(ctx, src, 512, z, len, &zlen), 0);
	assert_int_equal(zlen, 0);
	assert_int_equal(dedup_compress(ctx, src, 0, z, len, &zlen), 0);
	assert_int_equal(zlen, 0);

	/* A destination too small for a worthwhile frame: raw, not an error. */
	memset(src, 0, len);
	assert_int_equal(dedup_compress(ctx, src, len, z, 8, &zlen), 0);
	assert_int_equal(zlen, 0);

	/* Policy none: raw, and it still decodes frames from other policies. */
	assert_int_equal(dedup_zctx_create(NULL, &none), 0);
	zlen = 99;
	assert_int_equal(dedup_compress(none, src, len, z, len, &zlen), 0);
	assert_int_equal(zlen, 0);
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_true(zlen > 0);
	assert_int_equal(dedup_decompress(none, z, zlen, src, len), 0);

	assert_int_equal(dedup_compress(NULL, src, len, z, len, &zlen), -EINVAL);
	assert_int_equal(dedup_compress(ctx, NULL, len, z, len, &zlen), -EINVAL);
	dedup_zctx_destroy(none);
	dedup_zctx_destroy(ctx);
	free(src);
	free(z);
}

/* Corrupt, truncated, padded or size-less frames are -EBADMSG. */
static void test_corrupt_frame(void **state)
{
	size_t len = 64 << 10, zlen, cap = ZSTD_compressBound(64 << 10);
	uint8_t *src = malloc(len), *z = malloc(cap + 16), *bad = malloc(cap + 16);
	uint8_t *out = malloc(len);
	struct dedup_zctx *ctx = zstd_ctx(3);

	assert_true(src && z && bad && out);
	fill_text(src, len, 5);
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_true(zlen > 16);

	/* Bad magic number. */
	memcpy(bad, z, zlen);
	bad[0] ^= 0xff;
	assert_int_equal(dedup_decompress(ctx, bad, zlen, out, len), -EBADMSG);
	/* Truncated at several points, header included. */
	for (size_t cut = 0; cut < zlen; cut += zlen / 7 + 1)
		assert_int_equal(dedup_decompress(ctx, z, cut, out, len), -EBADMSG);
	assert_int_equal(dedup_decompress(ctx, z, zlen - 1, out, len), -EBADMSG);
	/* Trailing bytes after the frame. */
	memcpy(bad, z, zlen);
	bad[zlen] = 0;
	assert_int_equal(dedup_decompress(ctx, bad, zlen + 1, out, len), -EBADMSG);
	/* Two frames back to back are not one record. */
	memcpy(bad + zlen, z, 16);
	assert_int_equal(dedup_decompress(ctx, bad, zlen + 16, out, len), -EBADMSG);
	/* Garbage. */
	fill_random(bad, zlen, 9);
	assert_int_equal(dedup_decompress(ctx, bad, zlen, out, len), -EBADMSG);
	/* A block header claiming a reserved block type (3). */
	memcpy(bad, z, zlen);
	{
		/* Frame header: magic(4) + descriptor(1) + size field. */
		uint8_t fhd = bad[4];
		size_t fcs_len = (size_t[]){ 0, 2, 4, 8 }[fhd >> 6];
		size_t hdr = 5 + (fhd & 0x20 ? 0 : 1) + ((size_t[]){ 0, 1, 2, 4 }[fhd & 3]) +
			     (fcs_len ? fcs_len : (fhd & 0x20 ? 1 : 0));

		bad[hdr] |= 0x06;
		assert_int_equal(dedup_decompress(ctx, bad, zlen, out, len), -EBADMSG);
	}

	/* A frame without a content size (streamed without a pledge). */
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		ZSTD_inBuffer in = { src, len, 0 };
		ZSTD_outBuffer ob = { bad, cap, 0 };

		assert_non_null(cc);
		assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_continue)));
		while (ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end) != 0)
			;
		assert_int_equal(ZSTD_getFrameContentSize(bad, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
		assert_int_equal(dedup_decompress(ctx, bad, ob.pos, out, len), -EBADMSG);
		ZSTD_freeCCtx(cc);
	}

	/* The context is still good afterwards. */
	assert_int_equal(dedup_decompress(ctx, z, zlen, out, len), 0);
	assert_memory_equal(out, src, len);
	dedup_zctx_destroy(ctx);
	free(src);
	free(z);
	free(bad);
	free(out);
}

/* The frame's size must match the size the record says, both ways. */
static void test_wrong_size(void **state)
{
	size_t len = 64 << 10, zlen;
	uint8_t *src = malloc(len), *z = malloc(len), *out = malloc(len + 1);
	struct dedup_zctx *ctx = zstd_ctx(3);

	assert_true(src && z && out);
	fill_text(src, len, 6);
	assert_int_equal(dedup_compress(ctx, src, len, z, len, &zlen), 0);
	assert_true(zlen > 0);
	assert_int_equal(dedup_decompress(ctx, z, zlen, out, len - 1), -EBADMSG);
	assert_int_equal(dedup_decompress(ctx, z, zlen, out, len + 1), -EBADMSG);
	assert_int_equal(dedup_decompress(ctx, z, zlen, out, 0), -EBADMSG);
	assert_int_equal(dedup_decompress(ctx, z, zlen, out, len), 0);
	assert_memory_equal(out, src, len);
	dedup_zctx_destroy(ctx);
	free(src);
	free(z);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_zctx_create),
		cmocka_unit_test(test_min_saving),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_store_raw),
		cmocka_unit_test(test_corrupt_frame),
		cmocka_unit_test(test_wrong_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
