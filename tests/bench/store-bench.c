// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store-bench: throughput of the block store through its public API, for
 * comparison with fio on the same target (tests/bench/store-bench.sh).
 * Prints figures; never fails on time.
 *
 *   store-bench [--qd N] [--threads N] [--seq-mib N] [--rand-mib N]
 *               [--rand-ops N] [--no-put] [--borrow-first] STORE
 *
 * STORE must be freshly made (`strata store init`); it is filled.  Phases:
 *   put      seq-mib MiB of 128 KiB records, then store_sync(); timed from
 *            the first put to the end of the sync (fio: rw=write bs=128k
 *            end_fsync=1).  One thread: puts serialize on the log lock.
 *   get      every 128 KiB record once, in key order, with store_get_batch()
 *            of qd records (fio: rw=read bs=128k iodepth=qd).
 *   getb     the same with every request borrowing (store_get_req.borrow:
 *            where the device needs aligned reads the verified payload is
 *            left in the store's read buffer, as chunk reads do); before
 *            get with --borrow-first.
 *   randget  rand-ops gets of 4 KiB records chosen at random among
 *            rand-mib MiB of them (put untimed first), batches of qd
 *            (fio: rw=randread bs=4k iodepth=qd).
 * get and randget run on --threads threads (fio: numjobs), each with its
 * own batches.  Every payload is checked for length (the store checks the
 * checksum).  One line per phase:
 *   store-bench op=put bs=131072 qd=32 threads=1 ops=4096 bytes=536870912
 *     secs=0.301 MBps=1783.6 iops=13608
 * MBps is 10^6 bytes per second of payload.  --no-put skips both put
 * phases and reads what an earlier run with the same sizes left (for
 * profiling the read paths alone).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/log.h"
#include "strata/store.h"

#define SEQ_BS (128u << 10)
#define RAND_BS 4096u

struct bench {
	struct store *s;
	unsigned qd, threads;
	uint64_t nseq, nrand, rand_ops;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Keys look random (as content ids do) so that the index shards evenly. */
static void make_key(uint64_t set, uint64_t i, struct store_key *k)
{
	uint64_t x = set << 48 ^ i;

	for (int w = 0; w < 4; w++) {
		uint64_t v = splitmix(&x);

		memcpy(k->b + 8 * w, &v, 8);
	}
}

static void report(const char *op, unsigned bs, const struct bench *b, unsigned threads,
		   uint64_t ops, double secs)
{
	double bytes = (double)ops * bs;

	printf("store-bench op=%s bs=%u qd=%u threads=%u ops=%" PRIu64 " bytes=%.0f secs=%.4f "
	       "MBps=%.1f iops=%.0f\n",
	       op, bs, b->qd, threads, ops, bytes, secs, bytes / secs / 1e6, (double)ops / secs);
	fflush(stdout);
}

static int put_set(struct bench *b, uint64_t set, uint64_t n, unsigned bs, double *secs)
{
	uint8_t *buf = malloc(bs);
	uint64_t x = set + 7;
	double t0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < bs; i += 8) {
		uint64_t v = splitmix(&x);

		memcpy(buf + i, &v, 8);
	}
	t0 = now();
	for (uint64_t i = 0; i < n && !r; i++) {
		struct store_key k;

		make_key(set, i, &k);
		memcpy(buf, &i, sizeof(i)); /* every record differs */
		r = store_put(b->s, STORE_REC_CHUNK, &k, buf, bs, 0, 0);
		if (r)
			fprintf(stderr, "store-bench: put %" PRIu64 ": %s\n", i, strerror(-r));
	}
	if (!r) {
		r = store_sync(b->s);
		if (r)
			fprintf(stderr, "store-bench: sync: %s\n", strerror(-r));
	}
	*secs = now() - t0;
	free(buf);
	return r;
}

/* ---- reader threads ---- */

struct reader {
	struct bench *b;
	pthread_t tid;
	unsigned id;
	bool random, borrow;
	pthread_barrier_t *start;
	uint64_t ops;
	double t0, t1;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct bench *b = rd->b;
	unsigned bs = rd->random ? RAND_BS : SEQ_BS, qd = b->qd;
	uint64_t set = rd->random ? 2 : 1, nkeys = rd->random ? b->nrand : b->nseq;
	uint64_t lo, hi, total, x = 0x1234567ull * (rd->id + 1);
	struct store_get_req *q = calloc(qd, sizeof(*q));
	uint8_t *bufs = malloc((size_t)qd * bs);

	if (!q || !bufs) {
		rd->err = -ENOMEM;
		goto out;
	}
	/* Fault the buffers in before the clock starts. */
	memset(bufs, 0, (size_t)qd * bs);
	/* Sequential: each thread reads its own slice, like fio's numjobs
	 * with offset_increment; random: rand_ops spread over the threads. */
	lo = nkeys * rd->id / b->threads;
	hi = nkeys * (rd->id + 1) / b->threads;
	total = rd->random ? b->rand_ops / b->threads : hi - lo;
	pthread_barrier_wait(rd->start);
	rd->t0 = now();
	for (uint64_t done = 0; done < total;) {
		unsigned n = (unsigned)(total - done < qd ? total - done : qd);
		int r;

		for (unsigned j = 0; j < n; j++) {
			uint64_t i = rd->random ? splitmix(&x) % nkeys : lo + done + j;

			make_key(set, i, &q[j].key);
			q[j].buf = bufs + (size_t)j * bs;
			q[j].bufsize = bs;
			q[j].borrow = rd->borrow;
		}
		r = store_get_batch(b->s, q, n);
		for (unsigned j = 0; !r && j < n; j++)
			if (q[j].len != bs)
				r = -EBADMSG;
		if (r) {
			fprintf(stderr, "store-bench: get batch at %" PRIu64 ": %s\n", done,
				strerror(-r));
			rd->err = r;
			break;
		}
		done += n;
		rd->ops = done;
	}
	rd->t1 = now();
out:
	free(q);
	free(bufs);
	return NULL;
}

static int run_readers(struct bench *b, bool random, bool borrow, const char *op)
{
	struct reader *rd = calloc(b->threads, sizeof(*rd));
	pthread_barrier_t start;
	double t0 = 0, t1 = 0;
	uint64_t ops = 0;
	int err = 0;

	if (!rd)
		return -ENOMEM;
	pthread_barrier_init(&start, NULL, b->threads);
	for (unsigned i = 0; i < b->threads; i++) {
		rd[i] = (struct reader){ .b = b, .id = i, .random = random, .borrow = borrow,
					 .start = &start };
		if (pthread_create(&rd[i].tid, NULL, reader_main, &rd[i])) {
			fprintf(stderr, "store-bench: cannot start thread %u\n", i);
			exit(1); /* the barrier would wait forever */
		}
	}
	for (unsigned i = 0; i < b->threads; i++) {
		pthread_join(rd[i].tid, NULL);
		if (rd[i].err && !err)
			err = rd[i].err;
		ops += rd[i].ops;
		if (!i || rd[i].t0 < t0)
			t0 = rd[i].t0;
		if (rd[i].t1 > t1)
			t1 = rd[i].t1;
	}
	pthread_barrier_destroy(&start);
	free(rd);
	if (!err)
		report(op, random ? RAND_BS : SEQ_BS, b, b->threads, ops, t1 - t0);
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: store-bench [--qd N] [--threads N] [--seq-mib N] [--rand-mib N] "
			"[--rand-ops N] [--no-put] [--borrow-first] STORE\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "qd", required_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 't' },
		{ "seq-mib", required_argument, NULL, 's' },
		{ "rand-mib", required_argument, NULL, 'r' },
		{ "rand-ops", required_argument, NULL, 'o' },
		{ "no-put", no_argument, NULL, 'n' },
		{ "borrow-first", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .qd = 32, .threads = 1, .rand_ops = 200000 };
	struct store_open_opts oo = { .direct = -1 };
	uint64_t seq_mib = 512, rand_mib = 64;
	struct store_info in;
	double secs;
	bool no_put = false, borrow_first = false;
	int c, r;

	strata_log_init("store-bench", STRATA_LOG_WARN);
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		unsigned long long v;
		char *end;

		if (c == '?')
			return usage();
		if (c == 'n') {
			no_put = true;
			continue;
		}
		if (c == 'b') {
			borrow_first = true;
			continue;
		}
		v = strtoull(optarg, &end, 10);
		if (*end || !v)
			return usage();
		switch (c) {
		case 'q':
			b.qd = (unsigned)v;
			break;
		case 't':
			b.threads = (unsigned)v;
			break;
		case 's':
			seq_mib = v;
			break;
		case 'r':
			rand_mib = v;
			break;
		case 'o':
			b.rand_ops = v;
			break;
		}
	}
	if (optind != argc - 1)
		return usage();
	b.nseq = seq_mib * (1u << 20) / SEQ_BS;
	b.nrand = rand_mib * (1u << 20) / RAND_BS;
	oo.path = argv[optind];
	oo.queue_depth = b.qd;
	r = store_open(&oo, &b.s);
	if (r) {
		fprintf(stderr, "store-bench: %s: %s\n", oo.path, strerror(-r));
		return 1;
	}
	store_get_info(b.s, &in);
	printf("store-bench info block_device=%d direct_io=%d block_size=%u\n",
	       in.is_block_device, in.direct_io, in.block_size);

	if (!no_put) {
		r = put_set(&b, 1, b.nseq, SEQ_BS, &secs);
		if (r)
			goto out;
		report("put", SEQ_BS, &b, 1, b.nseq, secs);
	}
	/* The first read phase after the open runs slower than the same
	 * phase run again (10-25% on tmpfs, cause not pinned down: not the
	 * index, not the buffers): --borrow-first swaps the two so that a
	 * script can alternate them between runs. */
	r = run_readers(&b, false, borrow_first, borrow_first ? "getb" : "get");
	if (!r)
		r = run_readers(&b, false, !borrow_first, borrow_first ? "get" : "getb");
	if (r)
		goto out;
	if (!no_put) {
		r = put_set(&b, 2, b.nrand, RAND_BS, &secs);
		if (r)
			goto out;
		report("put4k", RAND_BS, &b, 1, b.nrand, secs);
	}
	r = run_readers(&b, true, false, "randget");
out:
	c = store_close(b.s);
	if (c && !r)
		fprintf(stderr, "store-bench: close: %s\n", strerror(-c));
	return r || c ? 1 : 0;
}
