/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The io_uring engine: every data read and write of the store goes through
 * here.  Private to store/.
 *
 * Two ways in:
 *  - sio_run(): synchronous batches (reads of one or many records, checkpoint
 *    writes).  Safe from any thread: each thread lazily gets its own ring
 *    (pthread key, freed at thread exit and at sio_destroy()).
 *  - struct sio_wq: an asynchronous write queue owned by one writer (the
 *    log appender, under the log lock) so that writing buffer N+1 overlaps
 *    the device writing buffer N.
 *
 * Both use O_DIRECT (io->dfd) when buf, len and off are multiples of
 * io->align and a direct fd exists, the buffered fd otherwise (a vectored
 * read: when every segment and the offset meet sio_read_align()).  Completion
 * handling resubmits the rest of a short read/write, retries -EAGAIN and
 * -EINTR (bounded), and turns a zero-byte read into -EIO (read past EOF).
 */
#ifndef STRATA_STORE_IO_INTERNAL_H
#define STRATA_STORE_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sio;
struct sio_wq;

struct sio_opts {
	int fd;               /* buffered descriptor (required), O_RDWR or O_RDONLY */
	int dfd;              /* same file opened O_DIRECT, or -1 */
	uint32_t align;       /* O_DIRECT alignment for buffer, length and offset */
	unsigned queue_depth; /* ring entries; 0: 64 */
};

enum sio_op {
	SIO_READ = 0,
	SIO_WRITE = 1,
	/* Never in a caller's request: the fault hook sees sio_sync()'s
	 * fdatasync completions with this op (buf NULL, off 0, len 0), so tests
	 * can fail a sync too. */
	SIO_SYNC = 2,
};

struct sio_req {
	uint8_t op;     /* enum sio_op */
	void *buf;
	size_t len;
	uint64_t off;
	int res;        /* out: 0 when all len bytes moved, else -errno */
	/* SIO_READ only, NULL for a plain read: a vectored read
	 * (IORING_OP_READV) into iovcnt segments, which must stay valid until
	 * the request is done; len must be their total (at most 1 GiB) and buf
	 * is not used.  The rest of a short transfer is read one segment at a
	 * time.  The fault hook sees it as any SIO_READ. */
	const struct iovec *iov;
	unsigned iovcnt;
	/* for sio_wq only: called once when the request completes (may be NULL) */
	void (*done)(struct sio_req *req, void *arg);
	void *done_arg;
	/* engine-private progress; callers leave zeroed */
	size_t _done_bytes;
	unsigned _retries;
};

/* Create an engine over already-open descriptors (the engine does not own
 * or close them).  Returns 0 or -errno (-ENOMEM, io_uring setup errors). */
int sio_create(const struct sio_opts *o, struct sio **out);

/* Free the engine and every per-thread ring it made.  NULL is accepted.
 * No sio_run() may be in progress. */
void sio_destroy(struct sio *io);

/* Whether O_DIRECT would be used for this buffer/length/offset. */
bool sio_aligned(const struct sio *io, const void *buf, size_t len, uint64_t off);

/*
 * The alignment of buffer, length and offset a read needs to use O_DIRECT
 * (a vectored read: every segment): what the file system or device really
 * asks for (statx STATX_DIOALIGN, or a probe: tmpfs takes any), at most
 * io->align.  1: any read keeps O_DIRECT; 0: there is no direct fd, every
 * read goes through the buffered one.
 */
uint32_t sio_read_align(const struct sio *io);

/*
 * Execute n requests with at most queue_depth in flight, in one or more
 * batched submissions.  Every request gets its res.  Returns 0 when all
 * succeeded, else the first failing request's -errno.
 */
int sio_run(struct sio *io, struct sio_req *reqs, unsigned n);

/*
 * sio_run() that calls fn(req, arg) (may be NULL) once for every request
 * as soon as it is finished (res set), while later requests may still be
 * in flight, so that the caller can use the data while it is still in the
 * CPU cache.  fn runs on the calling thread inside sio_run_cb() and must
 * not call sio_run(), sio_run_cb() or sio_sync() (the thread's ring is
 * busy).  req->done is not used.
 *
 * wait: how many completions each sleep waits for (capped at the requests
 * in flight); 0 waits for all in flight at once.  sio_run() uses 1.  Fewer
 * wake-ups (larger wait) save system calls and context switches on small
 * reads; smaller wait hands large reads to fn while still in the cache.
 */
int sio_run_cb(struct sio *io, struct sio_req *reqs, unsigned n, unsigned wait,
	       void (*fn)(struct sio_req *req, void *arg), void *arg);

/* fdatasync every descriptor through the ring.  0 or -errno. */
int sio_sync(struct sio *io);

/* Create/destroy an asynchronous write queue with its own ring. */
int sio_wq_create(struct sio *io, unsigned depth, struct sio_wq **out);
void sio_wq_destroy(struct sio_wq *wq); /* waits for what is in flight; NULL ok */

/*
 * Queue one request (op may be SIO_READ or SIO_WRITE); it is submitted at
 * once.  When depth requests are already in flight, first waits for one to
 * complete.  req must stay valid until its done() ran.  Returns 0, or
 * -errno when the request could not be queued (res and done are then not
 * used).
 */
int sio_wq_submit(struct sio_wq *wq, struct sio_req *req);

/* Requests in flight. */
unsigned sio_wq_inflight(const struct sio_wq *wq);

/*
 * Wait until at most `max_inflight` requests are in flight (0: all done),
 * running done() callbacks.  Returns 0, or the first -errno a completed
 * request reported since the previous call (sticky until reported once).
 */
int sio_wq_drain(struct sio_wq *wq, unsigned max_inflight);

/*
 * Fault injection for tests.  Called for every completion with the raw
 * result the kernel gave (bytes moved or -errno) for the part of `req` that
 * was submitted (`off`, `len`); its return value replaces that result.
 * Returning a smaller positive count simulates a short transfer, -EAGAIN or
 * -EINTR a transient error, -EIO/-ENOSPC a hard one.  NULL disables.
 */
typedef int (*sio_fault_fn)(void *arg, const struct sio_req *req, uint64_t off, size_t len,
			    int res);
void sio_set_fault(struct sio *io, sio_fault_fn fn, void *arg);

/* Counters for tests and `strata store info`. */
struct sio_counters {
	uint64_t submits;      /* io_uring_submit calls */
	uint64_t requests;     /* SQEs submitted */
	uint64_t short_io;     /* short transfers resubmitted */
	uint64_t retries;      /* EAGAIN/EINTR retries */
	uint64_t direct;       /* requests that used O_DIRECT */
	uint64_t buffered;     /* requests that used the buffered fd */
	uint64_t async;        /* reads sent straight to io_uring's workers:
				* of 16 KiB or more, on tmpfs or ramfs */
};
void sio_get_counters(struct sio *io, struct sio_counters *c);

#endif
