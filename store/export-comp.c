// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Layer compression for export: gzip through zlib and zstd through
 * libzstd, both streaming into a sink.  gzip is compressed the way pigz
 * does it, on all CPUs: the input is cut into 1 MiB blocks, each deflated
 * on its own (primed with the previous 32 KiB as dictionary, ended with a
 * sync flush, the last one with the final block), and the pieces are
 * concatenated between a gzip header (no name, mtime 0) and the CRC-32 and
 * size trailer.  Output depends only on input and level, not on the number
 * of threads, so a layer shared by several images compresses to the same
 * blob every time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "strata/log.h"
#include "store/export-internal.h"

#define OUT_BUF (1u << 20)
#define GZ_BLOCK (1u << 20)
#define GZ_DICT (32u << 10)
#define GZ_MAX_THREADS 8

/* One gzip block: deflated on its own by one thread. */
struct gz_block {
	uint8_t *in;
	size_t in_len;
	const uint8_t *dict;
	size_t dict_len;
	uint8_t *out;
	size_t out_len, out_cap;
	bool last;
	int level;
	int err;
};

struct exp_comp {
	enum image_compression comp;
	exp_sink_fn sink;
	void *arg;
	int level;
	/* gzip: a batch of nblocks blocks, filled in order, deflated together */
	struct gz_block *blocks;
	size_t nblocks, cur;
	uint8_t *dict; /* the last GZ_DICT bytes before the batch */
	size_t dict_len;
	uLong crc;
	uint64_t isize;
	bool header_done;
	ZSTD_CCtx *zc;
	uint8_t *out;
};

int exp_comp_create(enum image_compression comp, int level, exp_sink_fn sink, void *arg,
		    struct exp_comp **out)
{
	struct exp_comp *z = calloc(1, sizeof(*z));
	int r = -ENOMEM;

	if (!z)
		return -ENOMEM;
	z->comp = comp;
	z->sink = sink;
	z->arg = arg;
	switch (comp) {
	case IMAGE_COMP_NONE:
		break;
	case IMAGE_COMP_GZIP: {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		if (level < 0 || level > 9) {
			r = -EINVAL;
			goto err;
		}
		z->level = level ? level : Z_DEFAULT_COMPRESSION;
		z->nblocks = ncpu < 1 ? 1 : ncpu > GZ_MAX_THREADS ? GZ_MAX_THREADS : (size_t)ncpu;
		z->blocks = calloc(z->nblocks, sizeof(*z->blocks));
		z->dict = malloc(GZ_DICT);
		if (!z->blocks || !z->dict)
			goto err;
		for (size_t i = 0; i < z->nblocks; i++) {
			z->blocks[i].in = malloc(GZ_BLOCK);
			if (!z->blocks[i].in)
				goto err;
		}
		z->crc = crc32(0, NULL, 0);
		break;
	}
	case IMAGE_COMP_ZSTD:
		if (level < 0 || level > ZSTD_maxCLevel()) {
			r = -EINVAL;
			goto err;
		}
		z->zc = ZSTD_createCCtx();
		if (!z->zc)
			goto err;
		if (ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel,
							level ? level : ZSTD_CLEVEL_DEFAULT))) {
			r = -EINVAL;
			goto err;
		}
		break;
	default:
		r = -EINVAL;
		goto err;
	}
	if (comp == IMAGE_COMP_ZSTD) {
		z->out = malloc(OUT_BUF);
		if (!z->out)
			goto err;
	}
	*out = z;
	return 0;
err:
	exp_comp_destroy(z);
	return r;
}

void exp_comp_destroy(struct exp_comp *z)
{
	if (!z)
		return;
	for (size_t i = 0; z->blocks && i < z->nblocks; i++) {
		free(z->blocks[i].in);
		free(z->blocks[i].out);
	}
	free(z->blocks);
	free(z->dict);
	ZSTD_freeCCtx(z->zc);
	free(z->out);
	free(z);
}

/* Deflate one block as a raw piece of the stream (runs on any thread). */
static void *gz_block_run(void *arg)
{
	struct gz_block *b = arg;
	z_stream zs = { 0 };
	size_t need;
	int zr;

	b->err = 0;
	if (deflateInit2(&zs, b->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		b->err = -ENOMEM;
		return NULL;
	}
	if (b->dict_len && deflateSetDictionary(&zs, b->dict, (uInt)b->dict_len) != Z_OK) {
		b->err = -EIO;
		goto out;
	}
	/* deflateBound() covers Z_FINISH; a sync flush adds at most a few bytes. */
	need = deflateBound(&zs, (uLong)b->in_len) + 64;
	if (b->out_cap < need) {
		uint8_t *o = realloc(b->out, need);

		if (!o) {
			b->err = -ENOMEM;
			goto out;
		}
		b->out = o;
		b->out_cap = need;
	}
	zs.next_in = b->in;
	zs.avail_in = (uInt)b->in_len;
	zs.next_out = b->out;
	zs.avail_out = (uInt)b->out_cap;
	zr = deflate(&zs, b->last ? Z_FINISH : Z_SYNC_FLUSH);
	if ((b->last && zr != Z_STREAM_END) || (!b->last && zr != Z_OK) || zs.avail_in ||
	    !zs.avail_out)
		b->err = -EIO;
	b->out_len = b->out_cap - zs.avail_out;
out:
	deflateEnd(&zs);
	return NULL;
}

/*
 * Deflate blocks 0..n-1 of the batch in parallel and pass them on in
 * order; the header goes first, the trailer after the last block.
 */
static int gz_batch(struct exp_comp *z, size_t n, bool final)
{
	static const uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	pthread_t th[GZ_MAX_THREADS];
	bool started[GZ_MAX_THREADS] = { false };
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		struct gz_block *b = &z->blocks[i];

		b->level = z->level;
		b->last = final && i == n - 1;
		if (i == 0) {
			b->dict = z->dict;
			b->dict_len = z->dict_len;
		} else {
			const struct gz_block *p = &z->blocks[i - 1];
			size_t d = p->in_len < GZ_DICT ? p->in_len : GZ_DICT;

			b->dict = p->in + p->in_len - d;
			b->dict_len = d;
		}
	}
	/* Block 0 on this thread, the others each on its own. */
	for (size_t i = 1; i < n; i++)
		started[i] = !pthread_create(&th[i], NULL, gz_block_run, &z->blocks[i]);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || !started[i])
			gz_block_run(&z->blocks[i]);
		else
			pthread_join(th[i], NULL);
	}
	for (size_t i = 0; i < n && !r; i++) {
		if (z->blocks[i].err) {
			log_err("gzip: deflate failed: %s", strerror(-z->blocks[i].err));
			r = z->blocks[i].err;
		}
	}
	if (!r && !z->header_done) {
		r = z->sink(z->arg, hdr, sizeof(hdr));
		z->header_done = true;
	}
	for (size_t i = 0; i < n && !r; i++)
		r = z->sink(z->arg, z->blocks[i].out, z->blocks[i].out_len);
	if (r)
		return r;
	if (n && !final) {
		/* The next batch's dictionary: the tail of this one (whose blocks
		 * are all full: only the final batch has a short block). */
		const struct gz_block *b = &z->blocks[n - 1];

		memcpy(z->dict, b->in + b->in_len - GZ_DICT, GZ_DICT);
		z->dict_len = GZ_DICT;
	}
	for (size_t i = 0; i < n; i++)
		z->blocks[i].in_len = 0;
	z->cur = 0;
	if (final) {
		uint8_t tr[8];

		for (int i = 0; i < 4; i++) {
			tr[i] = (uint8_t)(z->crc >> (8 * i));
			tr[4 + i] = (uint8_t)(z->isize >> (8 * i));
		}
		r = z->sink(z->arg, tr, sizeof(tr));
	}
	return r;
}

static int gz_write(struct exp_comp *z, const uint8_t *p, size_t len)
{
	while (len) {
		struct gz_block *b = &z->blocks[z->cur];
		size_t n = GZ_BLOCK - b->in_len;
		uInt c;

		if (n > len)
			n = len;
		memcpy(b->in + b->in_len, p, n);
		b->in_len += n;
		for (size_t done = 0; done < n; done += c) {
			c = (uInt)(n - done > (1u << 30) ? (1u << 30) : n - done);
			z->crc = crc32(z->crc, p + done, c);
		}
		z->isize += n;
		p += n;
		len -= n;
		if (b->in_len == GZ_BLOCK && ++z->cur == z->nblocks) {
			int r = gz_batch(z, z->nblocks, false);

			if (r)
				return r;
		}
	}
	return 0;
}

static int zstd_run(struct exp_comp *z, const void *buf, size_t len, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t left;
	int r;

	do {
		ZSTD_outBuffer ob = { z->out, OUT_BUF, 0 };

		left = ZSTD_compressStream2(z->zc, &ob, &in, end);
		if (ZSTD_isError(left)) {
			log_err("zstd: %s", ZSTD_getErrorName(left));
			return -EIO;
		}
		if (ob.pos) {
			r = z->sink(z->arg, z->out, ob.pos);
			if (r)
				return r;
		}
	} while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

int exp_comp_write(struct exp_comp *z, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	switch (z->comp) {
	case IMAGE_COMP_GZIP:
		return gz_write(z, p, len);
	case IMAGE_COMP_ZSTD:
		return len ? zstd_run(z, buf, len, ZSTD_e_continue) : 0;
	default:
		return len ? z->sink(z->arg, buf, len) : 0;
	}
}

int exp_comp_finish(struct exp_comp *z)
{
	switch (z->comp) {
	case IMAGE_COMP_GZIP:
		/* Blocks filled so far plus the current one, which is the last
		 * (an empty last block just ends the deflate stream). */
		return gz_batch(z, z->cur + 1, true);
	case IMAGE_COMP_ZSTD:
		return zstd_run(z, NULL, 0, ZSTD_e_end);
	default:
		return 0;
	}
}
