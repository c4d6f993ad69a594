// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Large reads of lower files on helper threads.
 *
 * strata-fuse serves requests with one libfuse worker (fs/ops.c: more of
 * them take turns on /dev/fuse and cost more than they gain).  But a read
 * of cold lower data waits for the layer's disk or the store, and the
 * kernel has several such reads in flight while a file is streamed (its
 * read-ahead; an application's parallel reads): served one at a time,
 * each waits for the one before.  So a read of RP_MIN bytes or more is
 * handed to a small pool that reads and replies (fuse_reply_* may be
 * called from any thread) while the worker goes on with the next
 * request.  Small reads stay on the worker: for them the hand-over would
 * cost about what the read does.
 *
 * The same threads give an idle mount's chunk cache back (fs/layer_store.c):
 * woken every FS_CACHE_TICK_S seconds without work, they free the chunks
 * nobody used for FS_CACHE_IDLE_S seconds, and return freed heap to the
 * system.
 *
 * The handle a job reads through stays valid until the reply: the kernel
 * sends RELEASE only once no request of that file is in flight.  The
 * queue's lock is the pool's own (a leaf lock, held only to link and
 * unlink jobs).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs-internal.h"

struct rp_job {
	struct rp_job *next;
	fuse_req_t req;
	struct fs_layer_file *lf;
	size_t size;
	off_t off;
};

struct fs_readpool {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rp_job *head, *tail;
	bool stop;
	unsigned n;
	pthread_t th[];
};

static void *rp_main(void *arg)
{
	struct fs_readpool *p = arg;

	for (;;) {
		struct rp_job *j;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stop) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += FS_CACHE_TICK_S;
			if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT &&
			    !p->head && !p->stop) {
				pthread_mutex_unlock(&p->lock);
				fs_cache_age(p->fs);
				pthread_mutex_lock(&p->lock);
			}
		}
		j = p->head;
		if (j) {
			p->head = j->next;
			if (!p->head)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (!j)
			return NULL; /* stopping and drained */
		fs_read_reply(j->req, j->lf, j->size, j->off);
		free(j);
	}
}

int fs_rp_start(struct fs *fs, unsigned n)
{
	struct fs_readpool *p;
	sigset_t all, old;
	unsigned i;
	int r = 0;

	if (!n)
		return 0;
	p = calloc(1, sizeof(*p) + n * sizeof(p->th[0]));
	if (!p)
		return -ENOMEM;
	p->fs = fs;
	pthread_mutex_init(&p->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* Signals stay with the session loop's thread, as libfuse keeps them
	 * from its own workers: a SIGTERM taken here would end the loop only
	 * once another request came. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n; i++) {
		r = pthread_create(&p->th[i], NULL, rp_main, p);
		if (r)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->n = i;
	fs->rp = p;
	if (r) {
		log_err("read threads: %s", strerror(r));
		fs_rp_stop(fs);
		return -r;
	}
	return 0;
}

/* After the session loop: the queued reads are served (their replies
 * fail once the connection is gone) and the threads joined. */
void fs_rp_stop(struct fs *fs)
{
	struct fs_readpool *p = fs->rp;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	fs->rp = NULL;
}

bool fs_rp_queue(struct fs *fs, fuse_req_t req, struct fs_layer_file *lf,
		 size_t size, off_t off)
{
	struct fs_readpool *p = fs->rp;
	struct rp_job *j;

	if (!p || size < FS_RP_MIN)
		return false;
	j = malloc(sizeof(*j));
	if (!j)
		return false; /* read it here instead */
	*j = (struct rp_job){ .req = req, .lf = lf, .size = size, .off = off };
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return true;
}
