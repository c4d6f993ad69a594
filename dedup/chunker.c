// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Content-defined chunking, FastCDC family (Xia et al., USENIX ATC 2016 and
 * IEEE TPDS 2020): a gear rolling hash, normalized chunking with a strict
 * mask before the average size and a loose one after it, and no hashing at
 * all below the minimum size (cut-point skipping), which is where most of
 * FastCDC's speed comes from.
 *
 * The chunker is a state machine over bytes: its whole state is the
 * position inside the open chunk and the gear hash, so a cut depends only
 * on the bytes since the previous cut.  That is what makes boundaries
 * independent of how the stream is split into feeds, and it lets the
 * low-level scan work without copying anything.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/dedup.h"
#include "strata/util.h"
#include "dedup/dedup-internal.h"

struct dedup_chunker {
	struct dedup_chunker_params p;
	uint64_t mask_s;  /* before avg_size: log2(avg) + DEDUP_NC_LEVEL bits */
	uint64_t mask_l;  /* from avg_size on: log2(avg) - DEDUP_NC_LEVEL bits */
	uint64_t hash;    /* gear hash of the open chunk's bytes from min_size on */
	uint32_t pos;     /* bytes in the open chunk */
	/* dedup_chunker_feed() only: */
	uint64_t offset;  /* stream offset of the open chunk */
	uint8_t *buf;     /* max_size bytes: an open chunk that spans feeds */
	uint32_t buf_len; /* bytes of the open chunk held in buf (== pos) */
};

void dedup_chunker_params_default(struct dedup_chunker_params *p)
{
	p->min_size = DEDUP_CHUNK_MIN_DEFAULT;
	p->avg_size = DEDUP_CHUNK_AVG_DEFAULT;
	p->max_size = DEDUP_CHUNK_MAX_DEFAULT;
	p->whole_max = 0;
}

int dedup_chunker_params_check(const struct dedup_chunker_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->avg_size < DEDUP_CHUNK_AVG_LIMIT_LO || (p->avg_size & (p->avg_size - 1)))
		return -EINVAL;
	if (p->min_size < DEDUP_CHUNK_MIN_LIMIT || p->min_size >= p->avg_size)
		return -EINVAL;
	if (p->max_size <= p->avg_size || p->max_size > DEDUP_CHUNK_MAX_LIMIT)
		return -EINVAL;
	if (p->whole_max > p->max_size)
		return -EINVAL;
	return 0;
}

bool dedup_whole_object(const struct dedup_chunker_params *p, uint64_t file_size)
{
	struct dedup_chunker_params def;

	if (!p) {
		dedup_chunker_params_default(&def);
		p = &def;
	}
	return file_size <= (p->whole_max ? p->whole_max : p->avg_size);
}

/* Set up c (no allocation) for valid parameters p. */
static void chunker_init(struct dedup_chunker *c, const struct dedup_chunker_params *p)
{
	unsigned bits = (unsigned)__builtin_ctz(p->avg_size);

	memset(c, 0, sizeof(*c));
	c->p = *p;
	c->mask_s = dedup_gear_mask(bits + DEDUP_NC_LEVEL);
	c->mask_l = dedup_gear_mask(bits - DEDUP_NC_LEVEL);
}

static int params_or_default(const struct dedup_chunker_params *p,
			     struct dedup_chunker_params *out)
{
	if (!p) {
		dedup_chunker_params_default(out);
		return 0;
	}
	if (dedup_chunker_params_check(p))
		return -EINVAL;
	*out = *p;
	return 0;
}

int dedup_chunker_create(const struct dedup_chunker_params *p, struct dedup_chunker **out)
{
	struct dedup_chunker_params params;
	struct dedup_chunker *c;

	if (params_or_default(p, &params))
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	chunker_init(c, &params);
	*out = c;
	return 0;
}

void dedup_chunker_destroy(struct dedup_chunker *c)
{
	if (!c)
		return;
	free(c->buf);
	free(c);
}

void dedup_chunker_reset(struct dedup_chunker *c)
{
	c->hash = 0;
	c->pos = 0;
	c->offset = 0;
	c->buf_len = 0;
}

uint32_t dedup_chunker_pending(const struct dedup_chunker *c)
{
	return c->pos;
}

/*
 * The cut rule.  Bytes [0, min) of a chunk are skipped unhashed; the hash
 * starts from 0 at byte min; after hashing byte i (counting from the chunk
 * start) the chunk ends after that byte if the hash has no bit of mask_s
 * set (i < avg) or of mask_l (i >= avg); it always ends after max bytes.
 * The loops run over precomputed spans so the per-byte work is one shift,
 * one add, one table load and one test.
 */
static size_t chunker_scan(struct dedup_chunker *c, const uint8_t *p, size_t len, bool *cut)
{
	const uint8_t *q, *end;
	uint64_t h = c->hash;
	uint32_t pos = c->pos;
	size_t i = 0, n;

	*cut = false;
	if (pos < c->p.min_size) {
		n = MIN(len, (size_t)(c->p.min_size - pos));
		i += n;
		pos += (uint32_t)n;
		if (pos < c->p.min_size)
			goto out;
	}
	if (pos < c->p.avg_size) {
		const uint64_t mask = c->mask_s;

		n = MIN(len - i, (size_t)(c->p.avg_size - pos));
		for (q = p + i, end = q + n; q < end;) {
			h = (h << 1) + dedup_gear[*q++];
			if (!(h & mask)) {
				i = (size_t)(q - p);
				goto cut;
			}
		}
		i += n;
		pos += (uint32_t)n;
		if (pos < c->p.avg_size)
			goto out;
	}
	{
		const uint64_t mask = c->mask_l;

		n = MIN(len - i, (size_t)(c->p.max_size - pos));
		for (q = p + i, end = q + n; q < end;) {
			h = (h << 1) + dedup_gear[*q++];
			if (!(h & mask)) {
				i = (size_t)(q - p);
				goto cut;
			}
		}
		i += n;
		pos += (uint32_t)n;
		if (pos == c->p.max_size)
			goto cut;
	}
out:
	c->hash = h;
	c->pos = pos;
	return i;
cut:
	c->hash = 0;
	c->pos = 0;
	*cut = true;
	return i;
}

size_t dedup_chunker_scan(struct dedup_chunker *c, const void *buf, size_t len, bool *cut)
{
	return chunker_scan(c, buf, len, cut);
}

int dedup_chunker_feed(struct dedup_chunker *c, const void *buf, size_t len,
		       dedup_chunk_fn fn, void *arg)
{
	const uint8_t *p = buf;
	int ret;

	if (!len)
		return 0;
	/*
	 * Allocate before scanning so that -ENOMEM leaves the stream as it
	 * was.  Only feeders pay for the buffer, not dedup_chunker_scan().
	 */
	if (!c->buf) {
		c->buf = malloc(c->p.max_size);
		if (!c->buf)
			return -ENOMEM;
	}
	while (len) {
		struct dedup_chunk ch = { .offset = c->offset };
		bool cut;
		size_t n = chunker_scan(c, p, len, &cut);

		if (!cut) {
			/* All of it belongs to the open chunk: n == len. */
			memcpy(c->buf + c->buf_len, p, n);
			c->buf_len += (uint32_t)n;
			return 0;
		}
		if (c->buf_len) {
			memcpy(c->buf + c->buf_len, p, n);
			ch.data = c->buf;
			ch.len = c->buf_len + (uint32_t)n;
			c->buf_len = 0;
		} else {
			/* The whole chunk is in this feed: no copy. */
			ch.data = p;
			ch.len = (uint32_t)n;
		}
		c->offset += ch.len;
		p += n;
		len -= n;
		ret = fn(arg, &ch);
		if (ret)
			return ret;
	}
	return 0;
}

int dedup_chunker_finish(struct dedup_chunker *c, dedup_chunk_fn fn, void *arg)
{
	struct dedup_chunk ch = { .offset = c->offset, .len = c->buf_len, .data = c->buf };
	int ret = 0;

	if (ch.len)
		ret = fn(arg, &ch);
	dedup_chunker_reset(c);
	return ret;
}

int dedup_chunk_buffer(const struct dedup_chunker_params *p, const void *buf, size_t len,
		       struct dedup_span **spans, size_t *count)
{
	struct dedup_chunker_params params;
	struct dedup_span *v = NULL, *nv;
	struct dedup_chunker c;
	const uint8_t *data = buf;
	size_t n = 0, cap = 0, off = 0;

	if (params_or_default(p, &params))
		return -EINVAL;
	chunker_init(&c, &params);
	while (off < len) {
		size_t start = off;
		bool cut;

		/* Every scan starts a chunk; without a cut it ran to the end. */
		off += chunker_scan(&c, data + off, len - off, &cut);
		if (n == cap) {
			/* A first guess from the average, then doubling. */
			cap = cap ? 2 * cap : len / params.avg_size + 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n].offset = start;
		v[n].len = (uint32_t)(off - start);
		n++;
	}
	*spans = v;
	*count = n;
	return 0;
}
