// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for dedup_decompress(), which reads on-disk data: the
 * first three bytes are the raw length the record claims (up to 1 MiB +
 * a bit), the rest is the frame.  It must never read or write out of
 * bounds, and on success the frame really declared that length.  The
 * input is also compressed and decompressed again, which must round-trip.
 * Build with tests/fuzz/build.sh.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "strata/dedup.h"
#include "strata/log.h"

#define CHECK(x)                           \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

static struct dedup_zctx *zc;

static void quiet(enum strata_log_level lvl, const char *line, void *arg)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dedup_compress_policy pol = { .algo = DEDUP_COMPRESS_ZSTD, .level = 1 };

	strata_log_set_sink(quiet, NULL);
	CHECK(dedup_zctx_create(&pol, &zc) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t raw_len, zlen;
	uint8_t *dst, *z;
	int ret;

	if (size < 3)
		return 0;
	raw_len = ((size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16) &
		  ((2u << 20) - 1);
	/* Exactly raw_len bytes, so ASan sees any write past the end. */
	dst = malloc(raw_len ? raw_len : 1);
	CHECK(dst);
	ret = dedup_decompress(zc, data + 3, size - 3, dst, raw_len);
	CHECK(ret == 0 || ret == -EBADMSG);
	if (!ret)
		CHECK(ZSTD_getFrameContentSize(data + 3, size - 3) == raw_len);
	free(dst);

	/* Round trip of the input itself. */
	z = malloc(size);
	dst = malloc(size);
	CHECK(z && dst);
	CHECK(dedup_compress(zc, data, size, z, size, &zlen) == 0);
	if (zlen) {
		CHECK(zlen + dedup_compress_min_saving(size) <= size);
		CHECK(dedup_decompress(zc, z, zlen, dst, size) == 0);
		CHECK(!memcmp(dst, data, size));
	}
	free(z);
	free(dst);
	return 0;
}
