// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: the io_uring engine (see io-internal.h for the contract).
 *
 * Every ring lives in a struct sio_ctx: one per thread that called
 * sio_run()/sio_sync() (found through a pthread key, so the read path takes
 * no lock at all), plus one per write queue.  The engine keeps every ctx on
 * a list under io->lock only so that sio_destroy() can free rings of
 * threads that are still alive and sio_get_counters() can sum them.
 *
 * A request has at most one SQE in flight at a time; its progress lives in
 * req->_done_bytes and req->_retries, so a completion can always compute
 * what it was for (off + _done_bytes, the rest of len capped at
 * SIO_MAX_PIECE) without any extra per-SQE state.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <liburing.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/io-internal.h"

/* EAGAIN/EINTR retries per request (and per ring operation) before giving up. */
#define SIO_MAX_RETRIES 1000
/*
 * Reads of at least this many bytes from a target whose reads always go to
 * io_uring's worker threads (see reads_punted()) are sent there at once
 * (IOSQE_ASYNC).  Smaller ones are not: for them the extra hand-off costs
 * more than it saves (store-bench on tmpfs: 4 KiB gets -23%, 128 KiB gets +19%).
 */
#define SIO_ASYNC_MIN (16u << 10)
/* Largest transfer in one SQE: the SQE length is 32 bits and the kernel caps
 * a single read/write below 2 GiB anyway.  A multiple of any sane align. */
#define SIO_MAX_PIECE (1u << 30)
#define SIO_DEFAULT_QD 64
#define SIO_MAX_QD 4096

/* Written only by the owning thread; read by sio_get_counters() (relaxed). */
struct sio_cnt {
	uint64_t submits, requests, short_io, retries, direct, buffered, async;
};

#define CNT_INC(c, f) __atomic_fetch_add(&(c)->f, 1, __ATOMIC_RELAXED)

struct sio_ctx {
	struct io_uring ring;
	struct sio *io;
	struct sio_ctx *prev, *next; /* io->ctxs, under io->lock */
	struct sio_cnt cnt;
	bool is_wq;
};

struct sio {
	int fd, dfd;
	uint32_t align;
	uint32_t read_align; /* sio_read_align() */
	bool reads_punted;   /* reads_punted() */
	unsigned qd;
	pthread_key_t key; /* -> this thread's struct sio_ctx */
	sio_fault_fn fault; /* __atomic: set by tests while others may run */
	void *fault_arg;

	/* Lock order: leaf.  Protects ctxs and retired. */
	pthread_mutex_t lock;
	struct sio_ctx *ctxs;
	struct sio_cnt retired; /* counters of rings already freed */
};

struct sio_wq {
	struct sio_ctx ctx;
	unsigned depth;
	unsigned inflight; /* requests handed to the ring (submitted or not) */
	int err;           /* first -errno since the last drain (sticky) */
	int broken;        /* ring failure: the queue accepts nothing more */
};

static const char *op_name(uint8_t op)
{
	return op == SIO_READ ? "read" : op == SIO_WRITE ? "write" : "sync";
}

static void cnt_add(struct sio_cnt *dst, const struct sio_cnt *src)
{
	dst->submits += __atomic_load_n(&src->submits, __ATOMIC_RELAXED);
	dst->requests += __atomic_load_n(&src->requests, __ATOMIC_RELAXED);
	dst->short_io += __atomic_load_n(&src->short_io, __ATOMIC_RELAXED);
	dst->retries += __atomic_load_n(&src->retries, __ATOMIC_RELAXED);
	dst->direct += __atomic_load_n(&src->direct, __ATOMIC_RELAXED);
	dst->buffered += __atomic_load_n(&src->buffered, __ATOMIC_RELAXED);
	dst->async += __atomic_load_n(&src->async, __ATOMIC_RELAXED);
}

/*
 * Set up a ring.  COOP_TASKRUN saves IPIs; SUBMIT_ALL keeps the kernel
 * from stopping a batch at the first SQE it rejects; SINGLE_ISSUER only for
 * per-thread rings (a write queue may be driven by whichever thread holds
 * the log lock), and with it DEFER_TASKRUN: completions are posted when the
 * thread waits, which wakes it once for the `wait` completions it asked
 * for instead of once per completion (reads that io-wq workers finish one
 * by one, as on tmpfs and loop devices).  Older kernels reject unknown
 * flags with -EINVAL, so fall back step by step.
 */
static int ring_init(struct io_uring *ring, unsigned entries, bool single)
{
	unsigned flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
	int ret;

	if (single) {
		flags |= IORING_SETUP_SINGLE_ISSUER;
		ret = io_uring_queue_init(entries, ring, flags | IORING_SETUP_DEFER_TASKRUN);
		if (ret != -EINVAL)
			return ret;
	}
	ret = io_uring_queue_init(entries, ring, flags);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(entries, ring, 0);
	return ret;
}

static void ctx_link(struct sio *io, struct sio_ctx *c)
{
	pthread_mutex_lock(&io->lock);
	c->prev = NULL;
	c->next = io->ctxs;
	if (io->ctxs)
		io->ctxs->prev = c;
	io->ctxs = c;
	pthread_mutex_unlock(&io->lock);
}

/* Unlink and keep the counters; the caller frees. */
static void ctx_unlink(struct sio *io, struct sio_ctx *c)
{
	pthread_mutex_lock(&io->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		io->ctxs = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cnt_add(&io->retired, &c->cnt);
	pthread_mutex_unlock(&io->lock);
}

/*
 * Thread exit: pthread runs this only while the key exists, i.e. before
 * sio_destroy() (which deletes the key first and frees the rest itself).
 */
static void ctx_thread_exit(void *p)
{
	struct sio_ctx *c = p;

	ctx_unlink(c->io, c);
	io_uring_queue_exit(&c->ring);
	free(c);
}

static int ctx_new(struct sio *io, unsigned entries, bool per_thread, struct sio_ctx **out)
{
	struct sio_ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = ring_init(&c->ring, entries, per_thread);
	if (ret < 0) {
		log_err("io: io_uring setup (%u entries) failed: %s", entries, strerror(-ret));
		free(c);
		return ret;
	}
	c->io = io;
	c->is_wq = !per_thread;
	ctx_link(io, c);
	*out = c;
	return 0;
}

/* Drop a per-thread ctx whose ring failed, so the thread's next call starts fresh. */
static void ctx_discard_thread(struct sio_ctx *c)
{
	struct sio *io = c->io;

	pthread_setspecific(io->key, NULL);
	ctx_thread_exit(c);
}

static int thread_ctx(struct sio *io, struct sio_ctx **out)
{
	struct sio_ctx *c = pthread_getspecific(io->key);
	int ret;

	if (c) {
		*out = c;
		return 0;
	}
	ret = ctx_new(io, io->qd, true, &c);
	if (ret < 0)
		return ret;
	ret = pthread_setspecific(io->key, c);
	if (ret) {
		ctx_thread_exit(c);
		return -ret;
	}
	*out = c;
	return 0;
}

/*
 * What O_DIRECT reads on dfd really need: statx STATX_DIOALIGN when the
 * kernel reports it (block devices: 512 for a loop device), else one
 * unaligned read decides (tmpfs reports nothing and takes any alignment;
 * other file systems refuse it with -EINVAL).  Never more than align.
 */
static uint32_t probe_read_align(int dfd, uint32_t align)
{
	struct statx stx;
	char b[2];

	if (dfd < 0)
		return 0;
	if (!statx(dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		uint32_t a = MAX(stx.stx_dio_mem_align, stx.stx_dio_offset_align);

		return a && a < align ? a : align;
	}
	if (pread(dfd, b + 1, 1, 1) >= 0)
		return 1;
	return align;
}

/*
 * Whether every read of fd goes to an io_uring worker thread anyway: tmpfs
 * (and ramfs) cannot read without possibly blocking in the sense io_uring
 * asks (no nowait reads), so a read SQE is first tried inline, fails with
 * -EAGAIN and is then queued to io-wq.  Queueing it right away skips the
 * futile attempt and lets io-wq hand batches to more than one worker.
 * Block devices and disk file systems complete reads asynchronously on
 * their own, where forcing the worker would only add a thread hop.
 */
static bool reads_punted(int fd)
{
	struct statfs sf;
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || fstatfs(fd, &sf))
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

int sio_create(const struct sio_opts *o, struct sio **out)
{
	struct sio_ctx *c;
	struct sio *io;
	int ret;

	*out = NULL;
	if (!o || o->fd < 0 || (o->dfd >= 0 && o->align == 0))
		return -EINVAL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->fd = o->fd;
	io->dfd = o->dfd;
	io->align = o->align;
	io->read_align = probe_read_align(o->dfd, o->align);
	io->reads_punted = reads_punted(o->fd);
	io->qd = o->queue_depth ? MIN(o->queue_depth, SIO_MAX_QD) : SIO_DEFAULT_QD;
	ret = pthread_mutex_init(&io->lock, NULL);
	if (ret) {
		free(io);
		return -ret;
	}
	ret = pthread_key_create(&io->key, ctx_thread_exit);
	if (ret) {
		log_err("io: no thread-specific key left: %s", strerror(ret));
		pthread_mutex_destroy(&io->lock);
		free(io);
		return -ret;
	}
	/* Make the creating thread's ring now: io_uring being unavailable
	 * (disabled, out of locked memory) shows up at open, not at the
	 * first read. */
	ret = thread_ctx(io, &c);
	if (ret < 0) {
		pthread_key_delete(io->key);
		pthread_mutex_destroy(&io->lock);
		free(io);
		return ret;
	}
	*out = io;
	return 0;
}

void sio_destroy(struct sio *io)
{
	struct sio_ctx *c, *next;

	if (!io)
		return;
	/* After this no thread-exit destructor runs for our rings. */
	pthread_key_delete(io->key);
	pthread_mutex_lock(&io->lock);
	for (c = io->ctxs; c; c = next) {
		next = c->next;
		if (c->is_wq) {
			/* The queue's owner frees it; we only forget it. */
			log_err("io: engine destroyed before its write queue");
			c->prev = c->next = NULL;
			continue;
		}
		io_uring_queue_exit(&c->ring);
		free(c);
	}
	io->ctxs = NULL;
	pthread_mutex_unlock(&io->lock);
	pthread_mutex_destroy(&io->lock);
	free(io);
}

bool sio_aligned(const struct sio *io, const void *buf, size_t len, uint64_t off)
{
	if (io->dfd < 0 || !io->align || !len)
		return false;
	return (uintptr_t)buf % io->align == 0 && len % io->align == 0 && off % io->align == 0;
}

uint32_t sio_read_align(const struct sio *io)
{
	return io->read_align;
}

/* Would a read of this piece keep O_DIRECT under read_align? */
static bool read_fits(const struct sio *io, const void *buf, size_t len, uint64_t off)
{
	uint32_t a = io->read_align;

	if (io->dfd < 0 || !a)
		return false;
	return (uintptr_t)buf % a == 0 && len % a == 0 && off % a == 0;
}

static bool readv_fits(const struct sio *io, const struct sio_req *r)
{
	if (!read_fits(io, NULL, 0, r->off))
		return false;
	for (unsigned i = 0; i < r->iovcnt; i++)
		if (!read_fits(io, r->iov[i].iov_base, r->iov[i].iov_len, 0))
			return false;
	return true;
}

void sio_set_fault(struct sio *io, sio_fault_fn fn, void *arg)
{
	/* arg first: a runner that sees the new fn must see its arg. */
	__atomic_store_n(&io->fault_arg, arg, __ATOMIC_RELEASE);
	__atomic_store_n(&io->fault, fn, __ATOMIC_RELEASE);
}

void sio_get_counters(struct sio *io, struct sio_counters *out)
{
	struct sio_cnt sum;
	struct sio_ctx *c;

	pthread_mutex_lock(&io->lock);
	sum = io->retired;
	for (c = io->ctxs; c; c = c->next)
		cnt_add(&sum, &c->cnt);
	pthread_mutex_unlock(&io->lock);
	out->submits = sum.submits;
	out->requests = sum.requests;
	out->short_io = sum.short_io;
	out->retries = sum.retries;
	out->direct = sum.direct;
	out->buffered = sum.buffered;
	out->async = sum.async;
}

static int fault_apply(struct sio *io, const struct sio_req *r, uint64_t off, size_t len, int res)
{
	sio_fault_fn fn = __atomic_load_n(&io->fault, __ATOMIC_ACQUIRE);

	if (!fn)
		return res;
	return fn(__atomic_load_n(&io->fault_arg, __ATOMIC_ACQUIRE), r, off, len, res);
}

/* Check a caller's request before it goes near the ring. */
static int req_check(const struct sio_req *r)
{
	if (r->op != SIO_READ && r->op != SIO_WRITE)
		return -EINVAL;
	if (r->iov) {
		size_t total = 0;

		if (r->op != SIO_READ || !r->iovcnt || r->iovcnt > IOV_MAX || r->len > SIO_MAX_PIECE)
			return -EINVAL;
		for (unsigned i = 0; i < r->iovcnt; i++) {
			if (r->iov[i].iov_len && !r->iov[i].iov_base)
				return -EINVAL;
			if (r->iov[i].iov_len > SIO_MAX_PIECE - total)
				return -EINVAL;
			total += r->iov[i].iov_len;
		}
		if (total != r->len)
			return -EINVAL;
	} else if (r->len && !r->buf) {
		return -EINVAL;
	}
	if (r->off > (uint64_t)INT64_MAX || r->len > (uint64_t)INT64_MAX - r->off)
		return -EINVAL;
	return 0;
}

/* A vectored read: the segment that holds byte _done_bytes, and where in it. */
static unsigned readv_pos(const struct sio_req *r, size_t *in)
{
	size_t d = r->_done_bytes;
	unsigned k = 0;

	while (k < r->iovcnt - 1 && d >= r->iov[k].iov_len) {
		d -= r->iov[k].iov_len;
		k++;
	}
	*in = d;
	return k;
}

/* What the next SQE of r moves: a vectored read goes out whole, and the
 * rest of a short one a segment at a time. */
static size_t req_piece(const struct sio_req *r)
{
	if (r->iov && r->_done_bytes) {
		size_t in;
		unsigned k = readv_pos(r, &in);

		return r->iov[k].iov_len - in;
	}
	return MIN(r->len - r->_done_bytes, (size_t)SIO_MAX_PIECE);
}

/* Put the rest of r into sqe, choosing the descriptor for this piece. */
static void req_prep(struct sio_ctx *c, struct io_uring_sqe *sqe, struct sio_req *r)
{
	struct sio *io = c->io;
	uint8_t *buf = (uint8_t *)r->buf + r->_done_bytes;
	uint64_t off = r->off + r->_done_bytes;
	size_t len = req_piece(r);
	bool whole_readv = r->iov && !r->_done_bytes;
	bool direct;
	int fd;

	if (whole_readv) {
		direct = readv_fits(io, r);
	} else if (r->iov) {
		/* The rest of a short vectored read, a segment at a time. */
		size_t in;

		buf = (uint8_t *)r->iov[readv_pos(r, &in)].iov_base + in;
		direct = read_fits(io, buf, len, off);
	} else {
		/* Re-decided per piece: the rest of a short transfer may no
		 * longer be aligned, and O_DIRECT would then fail with -EINVAL. */
		direct = sio_aligned(io, buf, len, off);
	}
	fd = direct ? io->dfd : io->fd;
	if (direct)
		CNT_INC(&c->cnt, direct);
	else
		CNT_INC(&c->cnt, buffered);
	if (whole_readv)
		io_uring_prep_readv(sqe, fd, r->iov, r->iovcnt, r->off);
	else if (r->op == SIO_READ)
		io_uring_prep_read(sqe, fd, buf, (unsigned)len, off);
	else
		io_uring_prep_write(sqe, fd, buf, (unsigned)len, off);
	if (r->op == SIO_READ && io->reads_punted && len >= SIO_ASYNC_MIN) {
		sqe->flags |= IOSQE_ASYNC;
		CNT_INC(&c->cnt, async);
	}
	io_uring_sqe_set_data(sqe, r);
	CNT_INC(&c->cnt, requests);
}

enum { REQ_DONE, REQ_AGAIN };

/*
 * One completion for r: apply the fault hook, account progress, and decide
 * whether the request is finished (r->res set) or needs another SQE.
 */
static int req_complete(struct sio_ctx *c, struct sio_req *r, int res)
{
	uint64_t off = r->off + r->_done_bytes;
	size_t len = req_piece(r);

	res = fault_apply(c->io, r, off, len, res);
	if (res == -EAGAIN || res == -EINTR) {
		if (++r->_retries <= SIO_MAX_RETRIES) {
			CNT_INC(&c->cnt, retries);
			return REQ_AGAIN;
		}
		log_warn("io: %s of %zu bytes at offset %llu still failing after %d retries: %s",
			 op_name(r->op), len, (unsigned long long)off, SIO_MAX_RETRIES,
			 strerror(-res));
		r->res = res;
		return REQ_DONE;
	}
	if (res < 0) {
		log_debug("io: %s of %zu bytes at offset %llu: %s", op_name(r->op), len,
			  (unsigned long long)off, strerror(-res));
		r->res = res;
		return REQ_DONE;
	}
	if (res == 0) {
		/* A read at EOF, or a device that accepts no more: looping
		 * would never finish. */
		log_debug("io: %s of %zu bytes at offset %llu moved nothing (end of device)",
			  op_name(r->op), len, (unsigned long long)off);
		r->res = -EIO;
		return REQ_DONE;
	}
	if ((size_t)res > len) {
		log_err("io: %s of %zu bytes at offset %llu reported %d bytes", op_name(r->op), len,
			(unsigned long long)off, res);
		r->res = -EIO;
		return REQ_DONE;
	}
	r->_done_bytes += (size_t)res;
	if (r->_done_bytes == r->len) {
		r->res = 0;
		return REQ_DONE;
	}
	if ((size_t)res < len)
		CNT_INC(&c->cnt, short_io);
	return REQ_AGAIN;
}

/* An SQE, submitting what is queued when the SQ is full. */
static struct io_uring_sqe *get_sqe(struct sio_ctx *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	int ret;

	if (sqe)
		return sqe;
	ret = io_uring_submit(&c->ring);
	if (ret >= 0)
		CNT_INC(&c->cnt, submits);
	return io_uring_get_sqe(&c->ring);
}

/*
 * Submit what is queued and wait for at least `wait` completions.
 * Transient ring errors are retried (bounded); any other error means the
 * ring is unusable and is returned.
 */
static int ring_submit_wait(struct sio_ctx *c, unsigned wait)
{
	unsigned tries = 0;
	int ret;

	for (;;) {
		bool submitting = io_uring_sq_ready(&c->ring) > 0;

		if (!submitting && !wait)
			return 0;
		ret = io_uring_submit_and_wait(&c->ring, wait);
		if (ret >= 0) {
			if (submitting)
				CNT_INC(&c->cnt, submits);
			return 0;
		}
		if (ret == -ETIME && !submitting)
			return 0;
		if ((ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) ||
		    ++tries > SIO_MAX_RETRIES)
			return ret;
		/* An interrupted wait has still submitted what was queued. */
		if (ret != -EINTR)
			sched_yield();
	}
}

/*
 * After a ring failure: the SQEs still queued never reach the kernel (the
 * ring is thrown away without another submit), but those already submitted
 * may still be moving data into caller buffers, so wait for exactly those
 * before anyone returns.  Best effort: a wait that itself fails gives up.
 */
static void ring_reap_submitted(struct sio_ctx *c, unsigned inflight,
				void (*fn)(void *arg, struct sio_req *r, int res), void *arg)
{
	unsigned unsent = io_uring_sq_ready(&c->ring);
	unsigned pending = inflight > unsent ? inflight - unsent : 0;
	struct io_uring_cqe *cqe;
	int ret;

	while (pending) {
		ret = io_uring_wait_cqe(&c->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			log_err("io: cannot wait for %u requests on a failed ring: %s", pending,
				strerror(-ret));
			return;
		}
		if (fn)
			fn(arg, io_uring_cqe_get_data(cqe), cqe->res);
		io_uring_cqe_seen(&c->ring, cqe);
		pending--;
	}
}

/* Marks requests that are queued but not finished; never returned to callers. */
#define REQ_PENDING 1

int sio_run(struct sio *io, struct sio_req *reqs, unsigned n)
{
	return sio_run_cb(io, reqs, n, 1, NULL, NULL);
}

int sio_run_cb(struct sio *io, struct sio_req *reqs, unsigned n, unsigned wait,
	       void (*fn)(struct sio_req *req, void *arg), void *arg)
{
	unsigned next = 0, inflight = 0, i;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct sio_ctx *c;
	int ret;

	ret = thread_ctx(io, &c);
	if (ret < 0) {
		for (i = 0; i < n; i++) {
			reqs[i].res = ret;
			if (fn)
				fn(&reqs[i], arg);
		}
		return n ? ret : 0;
	}
	for (i = 0; i < n; i++) {
		struct sio_req *r = &reqs[i];

		r->_done_bytes = 0;
		r->_retries = 0;
		r->res = req_check(r);
		if (!r->res && r->len)
			r->res = REQ_PENDING;
		else if (fn)
			fn(r, arg);
	}

	while (next < n || inflight) {
		/* Fill the ring up to queue_depth requests. */
		while (inflight < io->qd && next < n) {
			struct sio_req *r = &reqs[next];

			if (r->res != REQ_PENDING) {
				next++;
				continue;
			}
			sqe = get_sqe(c);
			if (!sqe)
				break;
			req_prep(c, sqe, r);
			next++;
			inflight++;
		}
		if (!inflight)
			break;
		ret = ring_submit_wait(c, wait && wait < inflight ? wait : inflight);
		if (ret < 0)
			goto ring_failed;
		while (io_uring_peek_cqe(&c->ring, &cqe) == 0) {
			struct sio_req *r = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&c->ring, cqe);
			if (req_complete(c, r, res) == REQ_AGAIN) {
				/* There is room: this request's SQE just completed. */
				sqe = get_sqe(c);
				if (sqe) {
					req_prep(c, sqe, r);
					continue;
				}
				r->res = -EBUSY;
			}
			inflight--;
			if (fn)
				fn(r, arg);
		}
	}
	for (i = 0; i < n; i++)
		if (reqs[i].res < 0)
			return reqs[i].res;
	return 0;

ring_failed:
	log_err("io: io_uring failed with %u requests in flight: %s", inflight, strerror(-ret));
	ring_reap_submitted(c, inflight, NULL, NULL);
	ctx_discard_thread(c);
	for (i = 0; i < n; i++) {
		if (reqs[i].res == REQ_PENDING) {
			reqs[i].res = ret;
			if (fn)
				fn(&reqs[i], arg);
		}
	}
	for (i = 0; i < n; i++)
		if (reqs[i].res < 0)
			return reqs[i].res;
	return ret;
}

/*
 * fdatasync both descriptors (they share the inode, but syncing the one
 * that wrote most data as well costs one no-op flush).  The fault hook sees
 * each completion as op SIO_SYNC.
 */
int sio_sync(struct sio *io)
{
	struct sio_req sreq[2] = { { .op = SIO_SYNC }, { .op = SIO_SYNC } };
	int fds[2] = { io->fd, io->dfd };
	unsigned nfd = io->dfd >= 0 ? 2 : 1, inflight = 0, i;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct sio_ctx *c;
	int ret, first = 0;

	ret = thread_ctx(io, &c);
	if (ret < 0)
		return ret;
	for (i = 0; i < nfd; i++) {
		sqe = get_sqe(c);
		if (!sqe) {
			sreq[i].res = -EBUSY;
			continue;
		}
		io_uring_prep_fsync(sqe, fds[i], IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, &sreq[i]);
		sreq[i].res = REQ_PENDING;
		inflight++;
	}
	while (inflight) {
		ret = ring_submit_wait(c, 1);
		if (ret < 0) {
			log_err("io: io_uring failed during fdatasync: %s", strerror(-ret));
			ring_reap_submitted(c, inflight, NULL, NULL);
			ctx_discard_thread(c);
			return ret;
		}
		while (io_uring_peek_cqe(&c->ring, &cqe) == 0) {
			struct sio_req *r = io_uring_cqe_get_data(cqe);
			int res = fault_apply(io, r, 0, 0, cqe->res);

			io_uring_cqe_seen(&c->ring, cqe);
			if ((res == -EAGAIN || res == -EINTR) && ++r->_retries <= SIO_MAX_RETRIES) {
				sqe = get_sqe(c);
				if (sqe) {
					CNT_INC(&c->cnt, retries);
					io_uring_prep_fsync(sqe, fds[r - sreq], IORING_FSYNC_DATASYNC);
					io_uring_sqe_set_data(sqe, r);
					continue;
				}
				res = -EBUSY;
			}
			r->res = res > 0 ? 0 : res;
			inflight--;
		}
	}
	for (i = 0; i < nfd; i++) {
		if (sreq[i].res < 0 && !first) {
			log_err("io: fdatasync failed: %s", strerror(-sreq[i].res));
			first = sreq[i].res;
		}
	}
	return first;
}

/* ---- asynchronous write queue ---- */

int sio_wq_create(struct sio *io, unsigned depth, struct sio_wq **out)
{
	struct sio_ctx *c;
	struct sio_wq *wq;
	int ret;

	*out = NULL;
	if (!depth)
		depth = io->qd;
	depth = MIN(depth, SIO_MAX_QD);
	wq = calloc(1, sizeof(*wq));
	if (!wq)
		return -ENOMEM;
	c = &wq->ctx;
	ret = ring_init(&c->ring, depth, false);
	if (ret < 0) {
		log_err("io: io_uring setup for the write queue (%u entries) failed: %s", depth,
			strerror(-ret));
		free(wq);
		return ret;
	}
	c->io = io;
	c->is_wq = true;
	wq->depth = depth;
	ctx_link(io, c);
	*out = wq;
	return 0;
}

/* Finish r: bookkeeping first, so done() may queue more work. */
static void wq_finish(struct sio_wq *wq, struct sio_req *r)
{
	wq->inflight--;
	if (r->res < 0 && !wq->err)
		wq->err = r->res;
	if (r->done)
		r->done(r, r->done_arg);
}

/*
 * Handle every completion already posted.  Each CQE is consumed before its
 * done() runs, so a callback may submit to the same queue.
 */
static void wq_reap(struct sio_wq *wq)
{
	struct sio_ctx *c = &wq->ctx;
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&c->ring, &cqe) == 0) {
		struct sio_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&c->ring, cqe);
		if (req_complete(c, r, res) == REQ_AGAIN) {
			struct io_uring_sqe *sqe = get_sqe(c);

			if (sqe) {
				req_prep(c, sqe, r);
				continue;
			}
			r->res = -EBUSY;
		}
		wq_finish(wq, r);
	}
}

/* A completion on a failed ring: it counts if it finished the request. */
static void wq_fail_one(void *arg, struct sio_req *r, int res)
{
	struct sio_wq *wq = arg;

	if (req_complete(&wq->ctx, r, res) == REQ_AGAIN)
		r->res = wq->broken;
	wq_finish(wq, r);
}

/* The ring failed: wait out what the kernel holds, fail everything else. */
static void wq_break(struct sio_wq *wq, int err)
{
	struct sio_ctx *c = &wq->ctx;
	unsigned unsent = io_uring_sq_ready(&c->ring);
	unsigned head, mask = c->ring.sq.ring_mask;

	log_err("io: write queue failed with %u requests in flight: %s", wq->inflight,
		strerror(-err));
	wq->broken = err;
	if (!wq->err)
		wq->err = err;
	/* Requests never handed to the kernel: fail them here (their SQEs
	 * sit between the kernel's SQ tail and ours). */
	for (head = c->ring.sq.sqe_tail - unsent; head != c->ring.sq.sqe_tail; head++) {
		struct sio_req *r =
			(struct sio_req *)(uintptr_t)c->ring.sq.sqes[head & mask].user_data;

		r->res = err;
		wq_finish(wq, r);
	}
	ring_reap_submitted(c, wq->inflight + unsent, wq_fail_one, wq);
}

/* Submit queued SQEs, and wait for `wait` completions; then reap. */
static int wq_kick(struct sio_wq *wq, unsigned wait)
{
	int ret = ring_submit_wait(&wq->ctx, wait);

	if (ret < 0) {
		wq_break(wq, ret);
		return ret;
	}
	wq_reap(wq);
	return 0;
}

int sio_wq_submit(struct sio_wq *wq, struct sio_req *req)
{
	struct sio_ctx *c = &wq->ctx;
	struct io_uring_sqe *sqe;
	int ret;

	if (wq->broken)
		return wq->broken;
	ret = req_check(req);
	if (ret < 0)
		return ret;
	req->_done_bytes = 0;
	req->_retries = 0;
	req->res = REQ_PENDING;
	if (!req->len) {
		/* Nothing to move: complete at once, still through done(). */
		req->res = 0;
		wq->inflight++;
		wq_finish(wq, req);
		return 0;
	}
	while (wq->inflight >= wq->depth) {
		ret = wq_kick(wq, 1);
		if (ret < 0)
			return ret;
	}
	sqe = get_sqe(c);
	if (!sqe)
		return -EBUSY; /* not reached: inflight < depth leaves a free SQE */
	req_prep(c, sqe, req);
	wq->inflight++;
	/* A ring failure here has already finished req through done() with
	 * the error (wq_break), so it counts as queued: report 0 and let the
	 * sticky error reach the next drain. */
	wq_kick(wq, 0);
	return 0;
}

unsigned sio_wq_inflight(const struct sio_wq *wq)
{
	return wq->inflight;
}

int sio_wq_drain(struct sio_wq *wq, unsigned max_inflight)
{
	int ret;

	if (!wq->broken) {
		wq_reap(wq);
		while (wq->inflight > max_inflight) {
			if (wq_kick(wq, 1) < 0)
				break;
		}
	}
	ret = wq->err;
	wq->err = 0;
	return ret;
}

void sio_wq_destroy(struct sio_wq *wq)
{
	if (!wq)
		return;
	sio_wq_drain(wq, 0);
	ctx_unlink(wq->ctx.io, &wq->ctx);
	io_uring_queue_exit(&wq->ctx.ring);
	free(wq);
}
