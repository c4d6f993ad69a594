// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-chunker: throughput of the dedup/ pipeline stages on one core, in
 * MB/s (10^6 bytes per second) of input.  Prints figures; never fails on
 * time.  Build without sanitizers for meaningful numbers.
 *
 *   tests/bench/bench-chunker [MiB]     (default 256)
 *
 * Two inputs: random bytes (incompressible, the chunker's worst case for
 * skipping nothing) and text-like data (compresses about 4x).  Each figure
 * is the best of three runs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/dedup.h"
#include "strata/util.h"

#define RUNS 3

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *b, size_t len)
{
	uint64_t seed = 1;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v = splitmix64(&seed);

		memcpy(b + i, &v, 8);
	}
}

static void fill_text(uint8_t *b, size_t len)
{
	static const char *const words[] = {
		"layer ", "image ", "chunk ", "store ", "digest ", "manifest ", "overlay ",
		"whiteout ", "\n", "sha256 ", "config ", "rootfs ", "the ", "of ", "and ",
		"filesystem ", "container ", "registry ", "block ", "segment ",
	};
	uint64_t seed = 2;
	size_t off = 0;

	while (off < len) {
		uint64_t r = splitmix64(&seed);
		const char *w = words[r % (sizeof(words) / sizeof(words[0]))];
		size_t n = strlen(w);

		if (n > len - off)
			n = len - off;
		memcpy(b + off, w, n);
		off += n;
		/* Some numbers, so that it is not all dictionary. */
		if ((r >> 32) % 8 == 0 && len - off > 12)
			off += (size_t)snprintf((char *)b + off, 12, "%u ", (unsigned)(r >> 40));
	}
}

struct pipeline {
	struct dedup_hasher *h;
	struct dedup_zctx *z;
	uint8_t *zbuf;
	uint64_t chunks, zbytes, raw_kept;
	int hash, compress;
};

static int chunk_cb(void *arg, const struct dedup_chunk *ch)
{
	struct pipeline *p = arg;
	struct dedup_cid cid;
	size_t zlen;
	int ret;

	p->chunks++;
	if (p->hash) {
		ret = dedup_cid_compute(ch->data, ch->len, &cid);
		if (ret)
			return ret;
	}
	if (p->compress) {
		ret = dedup_compress(p->z, ch->data, ch->len, p->zbuf, ch->len, &zlen);
		if (ret)
			return ret;
		p->zbytes += zlen ? zlen : ch->len;
		p->raw_kept += !zlen;
	}
	return 0;
}

/* Feed the buffer in 1 MiB pieces, as an importer reading a tar would. */
static int run_pipeline(struct pipeline *p, const uint8_t *buf, size_t len)
{
	struct dedup_chunker *c;
	int ret;

	ret = dedup_chunker_create(NULL, &c);
	if (ret)
		return ret;
	for (size_t off = 0; off < len && !ret; off += 1 << 20)
		ret = dedup_chunker_feed(c, buf + off, MIN((size_t)1 << 20, len - off), chunk_cb, p);
	if (!ret)
		ret = dedup_chunker_finish(c, chunk_cb, p);
	dedup_chunker_destroy(c);
	return ret;
}

static double mbps(size_t len, uint64_t ns)
{
	return ns ? (double)len / 1e6 / ((double)ns / 1e9) : 0;
}

static int bench_input(const char *name, const uint8_t *buf, size_t len, struct pipeline *p)
{
	uint64_t best[4] = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
	struct dedup_span *spans = NULL;
	size_t n = 0;
	int ret;

	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = strata_now_ns(), t;
		struct dedup_cid cid;

		/* Chunking alone: boundaries only, no copies. */
		free(spans);
		ret = dedup_chunk_buffer(NULL, buf, len, &spans, &n);
		if (ret)
			return ret;
		t = strata_now_ns();
		best[0] = MIN(best[0], t - t0);

		/* SHA-256 alone, over the same chunks. */
		t0 = strata_now_ns();
		for (size_t i = 0; i < n; i++) {
			ret = dedup_cid_compute(buf + spans[i].offset, spans[i].len, &cid);
			if (ret)
				return ret;
		}
		t = strata_now_ns();
		best[1] = MIN(best[1], t - t0);

		/* Chunk + hash, streaming. */
		p->hash = 1;
		p->compress = 0;
		t0 = strata_now_ns();
		ret = run_pipeline(p, buf, len);
		if (ret)
			return ret;
		t = strata_now_ns();
		best[2] = MIN(best[2], t - t0);

		/* zstd level 3 alone, over the same chunks, keep-if-it-pays. */
		p->zbytes = p->raw_kept = 0;
		t0 = strata_now_ns();
		for (size_t i = 0; i < n; i++) {
			struct dedup_chunk ch = { spans[i].offset, spans[i].len,
						  buf + spans[i].offset };

			p->hash = 0;
			p->compress = 1;
			ret = chunk_cb(p, &ch);
			if (ret)
				return ret;
		}
		t = strata_now_ns();
		best[3] = MIN(best[3], t - t0);
	}
	printf("%-7s %6zu MiB %6zu chunks, mean %6.0f B | chunk %7.0f | sha256 %7.0f | "
	       "chunk+sha256 %7.0f | zstd-3 %7.0f MB/s (stored %.1f%% of raw, %llu/%zu raw)\n",
	       name, len >> 20, n, (double)len / (double)n, mbps(len, best[0]),
	       mbps(len, best[1]), mbps(len, best[2]), mbps(len, best[3]),
	       100.0 * (double)p->zbytes / (double)len, (unsigned long long)p->raw_kept, n);
	free(spans);
	return 0;
}

int main(int argc, char **argv)
{
	struct dedup_compress_policy pol = { .algo = DEDUP_COMPRESS_ZSTD, .level = 3 };
	struct pipeline p = { 0 };
	size_t len = (size_t)(argc > 1 ? atoi(argv[1]) : 256) << 20;
	uint8_t *buf;
	int ret;

	if (len == 0) {
		fprintf(stderr, "usage: bench-chunker [MiB]\n");
		return 2;
	}
	buf = malloc(len);
	p.zbuf = malloc(DEDUP_CHUNK_MAX_LIMIT);
	if (!buf || !p.zbuf) {
		fprintf(stderr, "bench-chunker: out of memory\n");
		return 1;
	}
	ret = dedup_zctx_create(&pol, &p.z);
	if (ret)
		goto out;
	printf("bench-chunker: defaults %u/%u/%u, best of %d, MB/s of input on one core\n",
	       DEDUP_CHUNK_MIN_DEFAULT, DEDUP_CHUNK_AVG_DEFAULT, DEDUP_CHUNK_MAX_DEFAULT, RUNS);
	fill_random(buf, len);
	ret = bench_input("random", buf, len, &p);
	if (ret)
		goto out;
	fill_text(buf, len);
	ret = bench_input("text", buf, len, &p);
out:
	if (ret)
		fprintf(stderr, "bench-chunker: %s\n", strerror(-ret));
	dedup_zctx_destroy(p.z);
	free(p.zbuf);
	free(buf);
	return ret ? 1 : 0;
}
