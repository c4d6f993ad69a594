// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: a layer blob as a stream of uncompressed tar bytes, produced by a
 * thread of its own.  The thread reads the blob, hashes it (the blob
 * digest, checked with its size against the descriptor at the end),
 * decompresses it (zlib, zstd) and hashes the output (the DiffID), while
 * the walker's thread parses the tar, chunks the files and writes them:
 * inflating a gzip layer alone costs about as much CPU as `tar -xf` of the
 * same tar, and it no longer sits on the walker's path.
 *
 * Hand-over: a ring of NSLOTS buffers.  The thread fills free slots in
 * order; tw_stream_next() gives the consumer the next full one and frees
 * the one it gave before (libarchive keeps a buffer until its next read
 * callback).  The lock is the stream's own, held only to move a slot's
 * state; never while reading, hashing or decompressing.  An error or the
 * end is a slot like the others (n <= 0), after which the thread exits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "store/image-internal.h"
#include "strata/log.h"
#include "strata/util.h"

#define IN_CAP (128u << 10)
#define SLOT_CAP (256u << 10)
#define NSLOTS 4u

struct ts_slot {
	ssize_t n; /* bytes, 0 the end, -errno */
	bool full; /* under lock */
	uint8_t *buf;
};

struct tw_stream {
	struct tw_stream_opts opts;
	char *name;
	image_read_fn rd;
	void *rd_arg;

	/* The producing thread's (read only by the consumer after the end
	 * slot, which the lock orders after them). */
	uint8_t *in;
	size_t in_len, in_pos;
	bool in_eof;
	uint64_t blob_size;
	struct image_sha256 *blob_hash;
	struct image_digest blob_digest, diff_id;
	enum image_compression comp;
	bool detected;
	z_stream z;
	bool z_init, z_end;
	ZSTD_DStream *zs;
	size_t zs_ret;
	bool stream_eof;
	struct image_sha256 *diff_hash;

	/* The ring. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ts_slot slot[NSLOTS];
	uint8_t *mem;
	uint64_t prod, cons; /* slots produced / taken so far */
	bool taken;	     /* the consumer holds slot (cons - 1) % NSLOTS */
	bool stop;
	pthread_t thread;
	bool started;
	ssize_t last; /* the end or error slot's n, once taken */
};

/* Read up to cap blob bytes into buf, hashing and counting them; at the
 * end, check the blob's size and digest.  Returns bytes, 0 at the end,
 * -errno. */
static ssize_t raw_read(struct tw_stream *st, uint8_t *buf, size_t cap)
{
	char want[IMAGE_DIGEST_STRLEN], got[IMAGE_DIGEST_STRLEN];
	ssize_t n = st->rd(st->rd_arg, buf, cap);

	if (n < 0) {
		log_err("layer %s: read error: %s", st->name, strerror((int)-n));
		return n;
	}
	st->blob_size += (uint64_t)n;
	if (st->opts.expect_blob_size >= 0 && st->blob_size > (uint64_t)st->opts.expect_blob_size) {
		log_err("layer %s: size mismatch: blob is larger than its descriptor's size %lld",
			st->name, (long long)st->opts.expect_blob_size);
		return -EBADMSG;
	}
	if (n) {
		image_sha256_update(st->blob_hash, buf, (size_t)n);
		return n;
	}
	st->in_eof = true;
	image_sha256_final(st->blob_hash, &st->blob_digest);
	if (st->opts.expect_blob_size >= 0 &&
	    st->blob_size != (uint64_t)st->opts.expect_blob_size) {
		log_err("layer %s: size mismatch: blob has %llu bytes, descriptor says %lld",
			st->name, (unsigned long long)st->blob_size,
			(long long)st->opts.expect_blob_size);
		return -EBADMSG;
	}
	if (st->opts.expect_blob_digest &&
	    !image_digest_equal(&st->blob_digest, st->opts.expect_blob_digest)) {
		log_err("layer %s: digest mismatch: descriptor says %s, blob hashes to %s", st->name,
			image_digest_format(st->opts.expect_blob_digest, want),
			image_digest_format(&st->blob_digest, got));
		return -EBADMSG;
	}
	return 0;
}

/* Refill the input buffer once it is used up (nothing at the end). */
static int raw_fill(struct tw_stream *st)
{
	ssize_t n;

	if (st->in_pos < st->in_len || st->in_eof)
		return 0;
	n = raw_read(st, st->in, IN_CAP);
	if (n < 0)
		return (int)n;
	st->in_pos = 0;
	st->in_len = (size_t)n;
	return 0;
}

static const char *comp_name(enum image_compression c)
{
	return c == IMAGE_COMP_GZIP ? "gzip" : c == IMAGE_COMP_ZSTD ? "zstd" : "tar";
}

static int detect(struct tw_stream *st)
{
	enum image_compression magic = IMAGE_COMP_NONE;
	int r;

	/* Gather at least 4 bytes (or the whole blob) for the magic. */
	while (st->in_len < 4 && !st->in_eof) {
		uint8_t tmp[4];
		size_t have = st->in_len;

		memcpy(tmp, st->in, have);
		st->in_pos = st->in_len;
		if ((r = raw_fill(st)))
			return r;
		if (st->in_eof)
			st->in_len = 0;
		if (have) {
			/* Rare short read: keep earlier bytes in front. */
			memmove(st->in + have, st->in, st->in_len);
			memcpy(st->in, tmp, have);
			st->in_len += have;
		}
		st->in_pos = 0;
	}
	if (st->in_len >= 2 && st->in[0] == 0x1f && st->in[1] == 0x8b)
		magic = IMAGE_COMP_GZIP;
	else if (st->in_len >= 4 && !memcmp(st->in, "\x28\xb5\x2f\xfd", 4))
		magic = IMAGE_COMP_ZSTD;
	st->detected = true;
	if (st->in_len == 0) {
		/* A zero-length blob is an empty layer whatever its media type. */
		st->comp = IMAGE_COMP_NONE;
		return 0;
	}
	if (st->opts.comp != IMAGE_COMP_AUTO && st->opts.comp != magic) {
		log_err("layer %s: media type says %s but the data is %s", st->name,
			comp_name(st->opts.comp), comp_name(magic));
		return -EBADMSG;
	}
	st->comp = magic;
	if (magic == IMAGE_COMP_GZIP) {
		/* 15 + 16: gzip only (no zlib/raw guessing). */
		if (inflateInit2(&st->z, 15 + 16) != Z_OK)
			return -ENOMEM;
		st->z_init = true;
	} else if (magic == IMAGE_COMP_ZSTD) {
		st->zs = ZSTD_createDStream();
		if (!st->zs || ZSTD_isError(ZSTD_initDStream(st->zs)))
			return -ENOMEM;
		/* Bound memory: a hostile frame could ask for 2 GiB windows. */
		ZSTD_DCtx_setParameter(st->zs, ZSTD_d_windowLogMax, 27);
	}
	return 0;
}

/* Up to cap uncompressed bytes into dst: their number, 0 at the end, -errno. */
static ssize_t produce(struct tw_stream *st, uint8_t *dst, size_t cap)
{
	int r;

	if (!st->detected && (r = detect(st)))
		return r;
	for (;;) {
		if (st->stream_eof)
			return 0;
		if (st->comp == IMAGE_COMP_NONE) {
			/* A plain tar is the blob: its DiffID is the blob digest.
			 * What detection read is handed on from in; the rest is
			 * read straight into dst, not copied. */
			ssize_t n;

			if (st->in_pos < st->in_len) {
				n = (ssize_t)MIN(st->in_len - st->in_pos, cap);
				memcpy(dst, st->in + st->in_pos, (size_t)n);
				st->in_pos += (size_t)n;
				return n;
			}
			n = st->in_eof ? 0 : raw_read(st, dst, cap);
			if (n == 0) {
				st->stream_eof = true;
				st->diff_id = st->blob_digest;
			}
			return n;
		}
		if ((r = raw_fill(st)))
			return r;
		if (st->comp == IMAGE_COMP_GZIP) {
			int zr;

			if (st->in_pos == st->in_len && st->in_eof) {
				if (!st->z_end) {
					log_err("layer %s: truncated gzip stream", st->name);
					return -EBADMSG;
				}
				break;
			}
			if (st->z_end) {
				/* Concatenated gzip members are one stream (RFC 1952). */
				if (st->in[st->in_pos] != 0x1f) {
					log_err("layer %s: trailing garbage after the gzip stream",
						st->name);
					return -EBADMSG;
				}
				inflateReset(&st->z);
				st->z_end = false;
			}
			st->z.next_in = st->in + st->in_pos;
			st->z.avail_in = (uInt)(st->in_len - st->in_pos);
			st->z.next_out = dst;
			st->z.avail_out = (uInt)cap;
			zr = inflate(&st->z, Z_NO_FLUSH);
			st->in_pos = st->in_len - st->z.avail_in;
			if (zr == Z_STREAM_END)
				st->z_end = true;
			else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				log_err("layer %s: corrupt gzip stream: %s", st->name,
					st->z.msg ? st->z.msg : "inflate failed");
				return -EBADMSG;
			}
			if (cap - st->z.avail_out) {
				image_sha256_update(st->diff_hash, dst, cap - st->z.avail_out);
				return (ssize_t)(cap - st->z.avail_out);
			}
			continue;
		}
		/* zstd */
		if (st->in_pos == st->in_len && st->in_eof) {
			if (st->zs_ret != 0) {
				log_err("layer %s: truncated zstd stream", st->name);
				return -EBADMSG;
			}
			break;
		}
		ZSTD_inBuffer ib = { st->in, st->in_len, st->in_pos };
		ZSTD_outBuffer ob = { dst, cap, 0 };

		st->zs_ret = ZSTD_decompressStream(st->zs, &ob, &ib);
		st->in_pos = ib.pos;
		if (ZSTD_isError(st->zs_ret)) {
			log_err("layer %s: corrupt zstd stream: %s", st->name,
				ZSTD_getErrorName(st->zs_ret));
			return -EBADMSG;
		}
		if (ob.pos) {
			image_sha256_update(st->diff_hash, dst, ob.pos);
			return (ssize_t)ob.pos;
		}
	}
	/* The end of a compressed stream (the blob checked by raw_fill()). */
	st->stream_eof = true;
	image_sha256_final(st->diff_hash, &st->diff_id);
	return 0;
}

static void *stream_main(void *arg)
{
	struct tw_stream *st = arg;
	ssize_t n;

	do {
		struct ts_slot *sl = &st->slot[st->prod % NSLOTS];

		pthread_mutex_lock(&st->lock);
		while (sl->full && !st->stop)
			pthread_cond_wait(&st->cond, &st->lock);
		pthread_mutex_unlock(&st->lock);
		if (st->stop)
			return NULL;
		n = produce(st, sl->buf, SLOT_CAP);
		pthread_mutex_lock(&st->lock);
		sl->n = n;
		sl->full = true;
		st->prod++;
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
	} while (n > 0);
	return NULL;
}

int tw_stream_create(const struct tw_stream_opts *opts, image_read_fn rd, void *arg,
		     struct tw_stream **out)
{
	struct tw_stream *st = calloc(1, sizeof(*st));
	sigset_t all, old;
	int r;

	if (!st)
		return -ENOMEM;
	st->opts = *opts;
	st->rd = rd;
	st->rd_arg = arg;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->name = strdup(opts->name ? opts->name : "(layer)");
	st->in = malloc(IN_CAP);
	st->mem = strata_big_alloc((size_t)NSLOTS * SLOT_CAP);
	if (!st->name || !st->in || !st->mem || image_sha256_create(&st->blob_hash) ||
	    image_sha256_create(&st->diff_hash)) {
		tw_stream_destroy(st);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < NSLOTS; i++)
		st->slot[i].buf = st->mem + (size_t)i * SLOT_CAP;
	/* Signals (SIGINT of an import) stay with the caller's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&st->thread, NULL, stream_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		log_err("layer %s: cannot start the reader thread: %s", st->name, strerror(r));
		tw_stream_destroy(st);
		return -r;
	}
	st->started = true;
	*out = st;
	return 0;
}

ssize_t tw_stream_next(struct tw_stream *st, const uint8_t **buf)
{
	struct ts_slot *sl;
	ssize_t n;

	if (st->last <= 0 && st->cons && !st->taken)
		return st->last;
	pthread_mutex_lock(&st->lock);
	if (st->taken) {
		st->slot[(st->cons - 1) % NSLOTS].full = false;
		st->taken = false;
		pthread_cond_broadcast(&st->cond);
	}
	sl = &st->slot[st->cons % NSLOTS];
	while (!sl->full)
		pthread_cond_wait(&st->cond, &st->lock);
	n = sl->n;
	st->cons++;
	if (n > 0) {
		st->taken = true;
		*buf = sl->buf;
	}
	st->last = n;
	pthread_mutex_unlock(&st->lock);
	if (n <= 0 && st->started) {
		/* The thread wrote its last slot and returns. */
		pthread_join(st->thread, NULL);
		st->started = false;
	}
	return n;
}

void tw_stream_result(const struct tw_stream *st, struct image_digest *diff_id,
		      struct image_digest *blob_digest, uint64_t *blob_size)
{
	if (diff_id)
		*diff_id = st->diff_id;
	if (blob_digest)
		*blob_digest = st->blob_digest;
	if (blob_size)
		*blob_size = st->blob_size;
}

void tw_stream_destroy(struct tw_stream *st)
{
	if (!st)
		return;
	if (st->started) {
		pthread_mutex_lock(&st->lock);
		st->stop = true;
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thread, NULL);
	}
	if (st->z_init)
		inflateEnd(&st->z);
	ZSTD_freeDStream(st->zs);
	image_sha256_destroy(st->blob_hash);
	image_sha256_destroy(st->diff_hash);
	strata_big_free(st->mem, (size_t)NSLOTS * SLOT_CAP);
	free(st->in);
	free(st->name);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}
