// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Chunk compression: zstd frames kept only when they pay, decoded with
 * strict bounds.  The zstd contexts are allocated once per dedup_zctx
 * (one per worker thread), not per chunk: a ZSTD_CCtx at level 3 is about
 * a megabyte of tables, which would otherwise be set up for every 64 KiB.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "strata/dedup.h"
#include "strata/log.h"
#include "strata/util.h"

struct dedup_zctx {
	struct dedup_compress_policy pol;
	ZSTD_CCtx *cctx; /* NULL under policy none */
	ZSTD_DCtx *dctx; /* created on first use: many writers never read */
};

/* Smallest saving worth keeping a frame for; see dedup.h for why. */
#define MIN_SAVING_BYTES 512u
#define MIN_SAVING_SHIFT 3 /* 1/8 */

static int level_valid(int level)
{
	return level == 0 || (level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel());
}

int dedup_compress_policy_parse(const char *s, struct dedup_compress_policy *out)
{
	struct dedup_compress_policy pol = { .algo = DEDUP_COMPRESS_NONE };
	char *end;
	long level;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "none")) {
		*out = pol;
		return 0;
	}
	if (strncmp(s, "zstd", 4))
		return -EINVAL;
	pol.algo = DEDUP_COMPRESS_ZSTD;
	pol.level = DEDUP_ZSTD_LEVEL_DEFAULT;
	s += 4;
	if (*s) {
		/* strtol() would skip blanks and take '+': be strict. */
		if (*s++ != ':' || !(*s == '-' || (*s >= '0' && *s <= '9')))
			return -EINVAL;
		errno = 0;
		level = strtol(s, &end, 10);
		if (errno || *end || level < INT_MIN || level > INT_MAX ||
		    !level_valid((int)level))
			return -EINVAL;
		pol.level = level ? (int)level : DEDUP_ZSTD_LEVEL_DEFAULT;
	}
	*out = pol;
	return 0;
}

int dedup_zctx_create(const struct dedup_compress_policy *pol, struct dedup_zctx **out)
{
	struct dedup_compress_policy none = { .algo = DEDUP_COMPRESS_NONE };
	struct dedup_zctx *z;
	size_t r;

	if (!pol)
		pol = &none;
	if (pol->algo != DEDUP_COMPRESS_NONE && pol->algo != DEDUP_COMPRESS_ZSTD)
		return -EINVAL;
	if (pol->algo == DEDUP_COMPRESS_ZSTD && !level_valid(pol->level))
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->pol = *pol;
	if (pol->algo == DEDUP_COMPRESS_ZSTD) {
		if (!z->pol.level)
			z->pol.level = DEDUP_ZSTD_LEVEL_DEFAULT;
		z->cctx = ZSTD_createCCtx();
		if (!z->cctx) {
			free(z);
			return -ENOMEM;
		}
		/*
		 * Sticky parameters, set once.  The content size goes in the
		 * frame so that reads can check it against the record; no
		 * zstd checksum, the store's record checksum covers the frame.
		 */
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, z->pol.level);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0);
		if (ZSTD_isError(r)) {
			log_err("zstd: cannot set level %d: %s", z->pol.level,
				ZSTD_getErrorName(r));
			dedup_zctx_destroy(z);
			return -EINVAL;
		}
	}
	*out = z;
	return 0;
}

void dedup_zctx_destroy(struct dedup_zctx *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

size_t dedup_compress_min_saving(size_t raw_len)
{
	return MAX(raw_len >> MIN_SAVING_SHIFT, (size_t)MIN_SAVING_BYTES);
}

int dedup_compress(struct dedup_zctx *z, const void *src, size_t len, void *dst, size_t dst_cap,
		   size_t *zlen)
{
	size_t need, cap, r;

	if (!z || !zlen || (len && (!src || !dst)))
		return -EINVAL;
	*zlen = 0;
	if (!z->cctx)
		return 0;
	need = dedup_compress_min_saving(len);
	if (len <= need)
		return 0;
	/*
	 * Give zstd only as much room as a frame worth keeping may take: if
	 * it does not fit, it does not pay, and zstd says so with
	 * dstSize_tooSmall instead of us compressing into a bound-sized
	 * buffer and comparing afterwards.
	 */
	cap = MIN(dst_cap, len - need);
	r = ZSTD_compress2(z->cctx, dst, cap, src, len);
	if (ZSTD_isError(r)) {
		/* ZSTD_compress2() starts every call with a fresh session. */
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return 0;
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		log_err("zstd: compressing %zu bytes failed: %s", len, ZSTD_getErrorName(r));
		return -EIO;
	}
	*zlen = r;
	return 0;
}

int dedup_decompress(struct dedup_zctx *z, const void *src, size_t src_len, void *dst,
		     size_t raw_len)
{
	unsigned long long declared;
	size_t fsize, r;

	if (!z || (src_len && !src) || (raw_len && !dst))
		return -EINVAL;
	/*
	 * Check the frame's own claims before decoding: exactly one frame
	 * spanning all of src, with a content size equal to the length the
	 * record says.  A mismatch is corruption (or the wrong record), and
	 * decoding is then never attempted.
	 */
	fsize = ZSTD_findFrameCompressedSize(src, src_len);
	if (ZSTD_isError(fsize) || fsize != src_len) {
		log_err("zstd: corrupt frame (%zu bytes): %s", src_len,
			ZSTD_isError(fsize) ? ZSTD_getErrorName(fsize) : "trailing bytes");
		return -EBADMSG;
	}
	declared = ZSTD_getFrameContentSize(src, src_len);
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR) {
		log_err("zstd: frame does not declare its size (record says %zu bytes)", raw_len);
		return -EBADMSG;
	}
	if (declared != raw_len) {
		log_err("zstd: frame declares %llu bytes, record says %zu", declared, raw_len);
		return -EBADMSG;
	}
	if (!z->dctx) {
		z->dctx = ZSTD_createDCtx();
		if (!z->dctx)
			return -ENOMEM;
	}
	r = ZSTD_decompressDCtx(z->dctx, dst, raw_len, src, src_len);
	if (ZSTD_isError(r) || r != raw_len) {
		if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		log_err("zstd: corrupt frame (%zu bytes): %s", src_len,
			ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short output");
		return -EBADMSG;
	}
	return 0;
}
