// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the chunker.  The first four bytes choose the
 * parameters (min/avg/max anywhere in the allowed ranges) and the seed of
 * the feed split; the rest is the stream.  Checks, for the one-shot,
 * streaming (feed) and copy-free (scan) interfaces: the chunks tile the
 * input exactly, every chunk is within [min, max] (the last within
 * [1, max]), the three agree, the bytes handed to callbacks are the
 * input's, and every cut is where a byte-at-a-time reference cuts.
 * Build with tests/fuzz/build.sh.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/dedup.h"
#include "dedup/dedup-internal.h"

#define CHECK(x)                           \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

struct run {
	const struct dedup_chunker_params *p;
	const uint8_t *src;
	const struct dedup_span *spans;
	size_t n, k;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t ref_cut(const struct dedup_chunker_params *p, const uint8_t *buf, size_t len)
{
	unsigned bits = (unsigned)__builtin_ctz(p->avg_size);
	uint64_t ms = dedup_gear_mask(bits + DEDUP_NC_LEVEL);
	uint64_t ml = dedup_gear_mask(bits - DEDUP_NC_LEVEL);
	uint64_t h = 0;

	for (size_t i = p->min_size; i < len && i < p->max_size; i++) {
		h = (h << 1) + dedup_gear[buf[i]];
		if (!(h & (i < p->avg_size ? ms : ml)))
			return i + 1;
	}
	return len < p->max_size ? len : p->max_size;
}

static int chunk_fn(void *arg, const struct dedup_chunk *ch)
{
	struct run *r = arg;

	CHECK(r->k < r->n);
	CHECK(ch->offset == r->spans[r->k].offset);
	CHECK(ch->len == r->spans[r->k].len);
	CHECK(!memcmp(ch->data, r->src + ch->offset, ch->len));
	r->k++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dedup_chunker_params p = { 0 };
	struct dedup_span *spans;
	struct dedup_chunker *c;
	const uint8_t *src;
	size_t len, n, off, start, k;
	uint32_t maxmax;
	uint64_t seed;
	struct run r;

	if (size < 4)
		return 0;
	/* avg 256 B .. 512 KiB; min in [64, avg); max in (avg, min(4 avg, 1 MiB)]. */
	p.avg_size = 1u << (8 + data[0] % 12);
	p.min_size = 64 + (uint32_t)((uint64_t)data[1] * (p.avg_size - 65) / 255);
	maxmax = p.avg_size * 4 < DEDUP_CHUNK_MAX_LIMIT ? p.avg_size * 4 : DEDUP_CHUNK_MAX_LIMIT;
	p.max_size = p.avg_size + 1 + (uint32_t)((uint64_t)data[2] * (maxmax - p.avg_size - 1) / 255);
	seed = data[3];
	src = data + 4;
	len = size - 4;
	CHECK(dedup_chunker_params_check(&p) == 0);

	/* One-shot: tiling, bounds, reference cuts. */
	CHECK(dedup_chunk_buffer(&p, src, len, &spans, &n) == 0);
	CHECK(len ? n >= 1 : n == 0);
	off = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(spans[i].offset == off);
		CHECK(spans[i].len >= 1 && spans[i].len <= p.max_size);
		CHECK(i + 1 == n || spans[i].len >= p.min_size);
		CHECK(spans[i].len == ref_cut(&p, src + off, len - off));
		off += spans[i].len;
	}
	CHECK(off == len);

	/* Streaming with a split chosen by the seed: same chunks, same bytes. */
	CHECK(dedup_chunker_create(&p, &c) == 0);
	r = (struct run){ .p = &p, .src = src, .spans = spans, .n = n };
	for (off = 0; off < len;) {
		size_t piece = (size_t)(splitmix64(&seed) % (2 * (uint64_t)p.min_size + 2));

		if (piece > len - off)
			piece = len - off;
		CHECK(dedup_chunker_feed(c, src + off, piece, chunk_fn, &r) == 0);
		off += piece;
	}
	CHECK(dedup_chunker_finish(c, chunk_fn, &r) == 0);
	CHECK(r.k == n);

	/* Copy-free scan with another split. */
	start = 0;
	k = 0;
	for (off = 0; off < len;) {
		size_t piece = 1 + (size_t)(splitmix64(&seed) % (p.max_size + 1));
		bool cut;

		if (piece > len - off)
			piece = len - off;
		while (piece) {
			size_t used = dedup_chunker_scan(c, src + off, piece, &cut);

			CHECK(used <= piece);
			off += used;
			piece -= used;
			if (cut) {
				CHECK(k < n && spans[k].offset == start && spans[k].len == off - start);
				k++;
				start = off;
			} else {
				CHECK(piece == 0 && dedup_chunker_pending(c) == off - start);
			}
		}
	}
	CHECK(off == start ? k == n : (k + 1 == n && spans[k].len == off - start));

	dedup_chunker_destroy(c);
	free(spans);
	return 0;
}
