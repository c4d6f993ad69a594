// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Chunk pipeline: the producer (the thread that reads and chunks a stream)
 * copies each chunk into a slot of a ring; worker threads take slots in
 * order and prepare them (SHA-256, store lookup, zstd, each worker with its
 * own compression context); the producer writes prepared slots to the
 * store strictly in submission order (one writer), so the puts, their
 * order and their errors are those of chunkstore_put() called in a loop.
 * Durability is the caller's business as before: nothing here syncs.
 *
 * Ring: sequence numbers head <= next <= tail.  Slots [head, tail) hold
 * queued chunks; [head, next) were taken by a worker (done when finished),
 * [next, tail) wait for one.  The lock is per pipeline and held only to
 * move these counters and the done flags, never while hashing,
 * compressing or writing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/chunkstore.h"
#include "strata/log.h"
#include "strata/util.h"

#define WORKERS_MAX 16u
#define SLOTS_PER_WORKER 8u
/*
 * Wake a sleeping worker only once this many chunks wait (or when the
 * producer itself is about to wait): a worker woken drains the queue, so
 * small chunks (most files of a rootfs) do not cost a wake-up each.
 */
#define WAKE_BATCH 6u

struct pipe_slot {
	uint8_t *data;
	uint8_t *zbuf;
	uint32_t len;
	uint64_t tag;
	bool done; /* under lock */
	int res;
	struct chunkstore_prep prep;
};

struct pipe_worker {
	struct dedup_pipeline *p;
	struct dedup_zctx *z;
	pthread_t thread;
	bool started;
};

struct dedup_pipeline {
	struct chunkstore *cs;
	uint32_t max_len;
	dedup_pipeline_done_fn fn;
	void *arg;
	struct pipe_slot *slots;
	unsigned nslots;
	uint8_t *mem; /* the slots' data and zbuf, nslots * 2 * max_len */
	struct pipe_worker *workers;
	unsigned nworkers; /* entries of workers (contexts to free) */

	pthread_mutex_t lock;
	pthread_cond_t work; /* a batch waits, the producer waits, or stop */
	pthread_cond_t done; /* the slot the producer waits for is done */
	uint64_t next;       /* under lock */
	bool pwait;          /* under lock: the producer waits for slot wait_seq */
	uint64_t wait_seq;   /* under lock */
	uint64_t tail;       /* under lock; written by the producer only */
	bool stop;           /* under lock */

	/* producer only */
	uint64_t head;
	int err;
};

static void *worker_main(void *arg)
{
	struct pipe_worker *w = arg;
	struct dedup_pipeline *p = w->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct pipe_slot *sl;
		bool wake;
		uint64_t seq;
		int r;

		while (!p->stop && p->next == p->tail)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		seq = p->next++;
		sl = &p->slots[seq % p->nslots];
		pthread_mutex_unlock(&p->lock);
		r = chunkstore_prepare(p->cs, w->z, sl->data, sl->len, sl->zbuf, p->max_len,
				       &sl->prep);
		pthread_mutex_lock(&p->lock);
		sl->res = r;
		sl->done = true;
		/* Wake the producer only for the slot it waits for, and
		 * after unlocking, so that it does not block on the lock. */
		wake = p->pwait && p->wait_seq == seq;
		if (wake) {
			p->pwait = false;
			pthread_mutex_unlock(&p->lock);
			pthread_cond_signal(&p->done);
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1u : (unsigned)MIN((unsigned long)n, (unsigned long)WORKERS_MAX);
}

int dedup_pipeline_create(struct chunkstore *cs, unsigned nworkers, uint32_t max_len,
			  dedup_pipeline_done_fn fn, void *arg, struct dedup_pipeline **out)
{
	struct dedup_pipeline *p;
	sigset_t all, old;
	int r = -ENOMEM;

	if (!cs || !out || max_len == 0 || max_len > DEDUP_CHUNK_MAX_LIMIT ||
	    nworkers > WORKERS_MAX)
		return -EINVAL;
	if (!nworkers)
		nworkers = online_cpus();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cs = cs;
	p->max_len = max_len;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->nslots = nworkers * SLOTS_PER_WORKER + 2;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->workers = calloc(nworkers, sizeof(*p->workers));
	if (!p->slots || !p->workers)
		goto err;
	p->nworkers = nworkers;
	/* All slots' buffers in one mapping of huge pages (common/bigbuf.c). */
	p->mem = strata_big_alloc((size_t)p->nslots * 2 * max_len);
	if (!p->mem)
		goto err;
	for (unsigned i = 0; i < p->nslots; i++) {
		p->slots[i].data = p->mem + (size_t)i * 2 * max_len;
		p->slots[i].zbuf = p->slots[i].data + max_len;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		p->workers[i].p = p;
		r = chunkstore_zctx_create(cs, &p->workers[i].z);
		if (r)
			goto err;
	}
	/* Signals (SIGINT of an import) stay with the caller's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < nworkers; i++) {
		r = -pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
		if (r)
			break;
		p->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		log_err("pipeline: cannot start worker threads: %s", strerror(-r));
		goto err;
	}
	*out = p;
	return 0;
err:
	dedup_pipeline_destroy(p);
	return r;
}

void dedup_pipeline_destroy(struct dedup_pipeline *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nworkers; i++) {
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
		dedup_zctx_destroy(p->workers[i].z);
	}
	strata_big_free(p->mem, (size_t)p->nslots * 2 * p->max_len);
	free(p->slots);
	free(p->workers);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Sleep until the worker with slot seq (queued, not retired) is done. */
static void wait_done(struct dedup_pipeline *p, uint64_t seq)
{
	struct pipe_slot *sl = &p->slots[seq % p->nslots];

	pthread_mutex_lock(&p->lock);
	while (!sl->done) {
		/* Chunks may wait for a batch to fill: get them going. */
		if (p->next < p->tail)
			pthread_cond_broadcast(&p->work);
		p->pwait = true;
		p->wait_seq = seq;
		pthread_cond_wait(&p->done, &p->lock);
	}
	p->pwait = false;
	pthread_mutex_unlock(&p->lock);
}

/*
 * Write the oldest queued chunk once a worker is done with it.  wait:
 * block until it is; else -EAGAIN when it is not done yet.  After an
 * error, chunks are dropped instead of written.
 */
static int retire(struct dedup_pipeline *p, bool wait)
{
	struct pipe_slot *sl = &p->slots[p->head % p->nslots];
	struct chunkstore_put_info pi;
	int r;

	if (wait)
		wait_done(p, p->head);
	pthread_mutex_lock(&p->lock);
	if (!sl->done) {
		pthread_mutex_unlock(&p->lock);
		return -EAGAIN;
	}
	sl->done = false;
	pthread_mutex_unlock(&p->lock);
	p->head++;
	if (p->err)
		return 0;
	r = sl->res;
	if (!r)
		r = chunkstore_put_prepared(p->cs, &sl->prep, sl->data, sl->len, sl->zbuf, &pi);
	if (!r && p->fn)
		r = p->fn(p->arg, sl->tag, &sl->prep.cid, &pi);
	p->err = r;
	return 0;
}

int dedup_pipeline_submit(struct dedup_pipeline *p, const void *data, size_t len, uint64_t tag)
{
	struct pipe_slot *sl;
	bool wake;

	if (len == 0 || len > p->max_len)
		return -EINVAL;
	/* Write what is ready without waiting, then make room if needed. */
	while (p->head < p->tail && !p->err && retire(p, false) == 0)
		;
	/*
	 * Full: write until half the ring is free, so that the producer
	 * sleeps once per half ring rather than once per chunk.
	 */
	if (p->tail - p->head == p->nslots) {
		/* Workers finish about in order: one sleep for the lot. */
		wait_done(p, p->head + p->nslots / 2 - 1);
		while (p->tail - p->head > p->nslots / 2 && !p->err)
			retire(p, true);
	}
	if (p->err)
		return p->err;
	sl = &p->slots[p->tail % p->nslots];
	memcpy(sl->data, data, len);
	sl->len = (uint32_t)len;
	sl->tag = tag;
	pthread_mutex_lock(&p->lock);
	p->tail++;
	wake = p->tail - p->next >= WAKE_BATCH;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		pthread_cond_signal(&p->work);
	return 0;
}

int dedup_pipeline_flush(struct dedup_pipeline *p)
{
	while (p->head < p->tail)
		retire(p, true);
	return p->err;
}
