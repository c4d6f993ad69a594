// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/io.c: the io_uring engine.  Round trips on tmpfs and on the root
 * file system, batches bigger than the queue, injected short transfers and
 * errors (through sio_set_fault), the O_DIRECT choice, several threads, and
 * the asynchronous write queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <liburing.h>

#include "strata/log.h"
#include "store/io-internal.h"

#define ALIGN 4096
#define FILE_SIZE (8u << 20)

struct fx {
	char path[64];
	int fd, dfd;
	struct sio *io;
};

static void quiet_sink(enum strata_log_level lvl, const char *line, void *arg)
{
}

static int fx_setup_in(void **state, const char *dir, unsigned qd, bool direct)
{
	struct sio_opts o = { 0 };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "%s/strata-test-io-XXXXXX", dir);
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, FILE_SIZE), 0);
	f->dfd = -1;
	if (direct) {
		/* tmpfs has O_DIRECT since Linux 6.6, ext4 always. */
		f->dfd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
		assert_true(f->dfd >= 0);
	}
	o.fd = f->fd;
	o.dfd = f->dfd;
	o.align = ALIGN;
	o.queue_depth = qd;
	assert_int_equal(sio_create(&o, &f->io), 0);
	*state = f;
	return 0;
}

static int fx_setup_shm(void **state)
{
	return fx_setup_in(state, "/dev/shm", 8, true);
}

static int fx_setup_tmp(void **state)
{
	return fx_setup_in(state, "/tmp", 8, true);
}

static int fx_setup_qd4(void **state)
{
	return fx_setup_in(state, "/dev/shm", 4, true);
}

static int fx_setup_buffered(void **state)
{
	return fx_setup_in(state, "/dev/shm", 8, false);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	sio_set_fault(f->io, NULL, NULL);
	sio_destroy(f->io);
	if (f->dfd >= 0)
		close(f->dfd);
	close(f->fd);
	unlink(f->path);
	free(f);
	strata_log_set_sink(NULL, NULL);
	return 0;
}

static void *xalloc(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, ALIGN, len ? len : 1), 0);
	return p;
}

static void fill(uint8_t *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void check_file(struct fx *f, const uint8_t *want, size_t len, uint64_t off)
{
	uint8_t *got = malloc(len);

	assert_non_null(got);
	assert_int_equal(pread(f->fd, got, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	free(got);
}

/*
 * n requests of mixed shapes: aligned (direct), odd lengths/offsets and
 * unaligned buffers (buffered).  bufs[i] is written at offs[i].
 */
#define NMIX 48
struct mix {
	uint8_t *bufs[NMIX];
	uint8_t *mem[NMIX];
	size_t lens[NMIX];
	uint64_t offs[NMIX];
};

static void mix_make(struct mix *m)
{
	for (unsigned i = 0; i < NMIX; i++) {
		bool aligned = i % 3 != 2;

		m->lens[i] = aligned ? ALIGN * (1 + i % 4) : 100 + i * 37;
		m->offs[i] = (uint64_t)i * 5 * ALIGN + (aligned ? 0 : 123);
		m->mem[i] = xalloc(m->lens[i] + 1);
		m->bufs[i] = m->mem[i] + (aligned ? 0 : 1);
		fill(m->bufs[i], m->lens[i], i);
	}
}

static void mix_free(struct mix *m)
{
	for (unsigned i = 0; i < NMIX; i++)
		free(m->mem[i]);
}

static void mix_roundtrip(struct fx *f)
{
	struct sio_req w[NMIX], r[NMIX];
	uint8_t *rmem[NMIX];
	struct mix m;

	mix_make(&m);
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < NMIX; i++) {
		w[i].op = SIO_WRITE;
		w[i].buf = m.bufs[i];
		w[i].len = m.lens[i];
		w[i].off = m.offs[i];
		/* The read buffer has the write buffer's alignment, so each
		 * read takes the same descriptor as its write. */
		rmem[i] = xalloc(m.lens[i] + 1);
		r[i] = w[i];
		r[i].op = SIO_READ;
		r[i].buf = rmem[i] + (m.bufs[i] - m.mem[i]);
	}
	assert_int_equal(sio_run(f->io, w, NMIX), 0);
	for (unsigned i = 0; i < NMIX; i++) {
		assert_int_equal(w[i].res, 0);
		check_file(f, m.bufs[i], m.lens[i], m.offs[i]);
	}
	assert_int_equal(sio_run(f->io, r, NMIX), 0);
	for (unsigned i = 0; i < NMIX; i++) {
		assert_int_equal(r[i].res, 0);
		assert_memory_equal(r[i].buf, m.bufs[i], m.lens[i]);
		free(rmem[i]);
	}
	mix_free(&m);
}

static void test_roundtrip_shm(void **state)
{
	struct fx *f = *state;
	struct sio_counters c;

	mix_roundtrip(f);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.requests, 2 * NMIX);
	assert_int_equal(c.direct + c.buffered, c.requests);
	assert_int_equal(c.buffered, 2 * (NMIX / 3));
	assert_int_equal(c.short_io, 0);
	assert_int_equal(c.retries, 0);
	assert_int_equal(sio_sync(f->io), 0);
}

static void test_roundtrip_tmp(void **state)
{
	struct fx *f = *state;

	mix_roundtrip(f);
	assert_int_equal(sio_sync(f->io), 0);
}

/* 200 requests through a queue of 4: several submissions, all correct. */
static void test_batch_bigger_than_queue(void **state)
{
	struct fx *f = *state;
	enum { N = 200, LEN = ALIGN };
	struct sio_req *w = calloc(N, sizeof(*w));
	uint8_t *data = xalloc((size_t)N * LEN), *back = xalloc((size_t)N * LEN);
	struct sio_counters c;

	assert_non_null(w);
	fill(data, (size_t)N * LEN, 3);
	for (unsigned i = 0; i < N; i++) {
		w[i].op = SIO_WRITE;
		w[i].buf = data + (size_t)i * LEN;
		w[i].len = LEN;
		/* Reverse order: completion order must not matter. */
		w[i].off = (uint64_t)(N - 1 - i) * LEN;
	}
	assert_int_equal(sio_run(f->io, w, N), 0);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.requests, N);
	assert_true(c.submits >= N / 4);
	assert_int_equal(c.direct, N);

	memset(w, 0, N * sizeof(*w));
	for (unsigned i = 0; i < N; i++) {
		w[i].op = SIO_READ;
		w[i].buf = back + (size_t)(N - 1 - i) * LEN;
		w[i].len = LEN;
		w[i].off = (uint64_t)i * LEN;
	}
	assert_int_equal(sio_run(f->io, w, N), 0);
	assert_memory_equal(back, data, (size_t)N * LEN);
	free(w);
	free(data);
	free(back);
}

/* Fault hook state shared by the tests below. */
struct fault {
	pthread_mutex_t lock;
	unsigned calls;
	unsigned transient;    /* per request: this many -EAGAIN/-EINTR first */
	bool transient_always; /* never let the request through */
	bool shorten;          /* cut every transfer of > 1 byte */
	uint64_t fail_off;     /* a request whose off equals this fails ... */
	int fail_err;          /* ... with this (0: none) */
	uint8_t fail_op;
	bool fail_sync;
};

static int fault_fn(void *arg, const struct sio_req *req, uint64_t off, size_t len, int res)
{
	struct fault *ft = arg;
	int ret = res;

	pthread_mutex_lock(&ft->lock);
	ft->calls++;
	if (req->op == SIO_SYNC) {
		if (req->_retries < ft->transient)
			ret = -EINTR;
		else if (ft->fail_sync)
			ret = -EIO;
		goto out;
	}
	if (ft->transient_always) {
		ret = -EAGAIN;
		goto out;
	}
	if (req->_retries < ft->transient) {
		ret = req->_retries % 2 ? -EINTR : -EAGAIN;
		goto out;
	}
	if (ft->fail_err && req->off == ft->fail_off && req->op == ft->fail_op) {
		ret = -ft->fail_err;
		goto out;
	}
	/* Pretend only part moved: 1/3 of it, deliberately unaligned. */
	if (ft->shorten && res > 1)
		ret = res / 3 ? res / 3 : 1;
out:
	pthread_mutex_unlock(&ft->lock);
	(void)len;
	(void)off;
	return ret;
}

static struct fault *fault_new(void)
{
	struct fault *ft = calloc(1, sizeof(*ft));

	assert_non_null(ft);
	pthread_mutex_init(&ft->lock, NULL);
	return ft;
}

static void fault_free(struct fx *f, struct fault *ft)
{
	sio_set_fault(f->io, NULL, NULL);
	pthread_mutex_destroy(&ft->lock);
	free(ft);
}

static void test_short_io(void **state)
{
	struct fx *f = *state;
	struct fault *ft = fault_new();
	struct sio_counters c;

	ft->shorten = true;
	sio_set_fault(f->io, fault_fn, ft);
	mix_roundtrip(f);
	sio_get_counters(f->io, &c);
	assert_true(c.short_io > 2 * NMIX);
	/* The rest of an aligned request cut to an odd length must have
	 * moved through the buffered descriptor. */
	assert_true(c.buffered > 2 * (NMIX / 3));
	assert_true(ft->calls > 2 * NMIX);
	fault_free(f, ft);
}

/*
 * Vectored reads (a record's header apart from its payload, as
 * store_get_batch() does): several segments of odd sizes at odd offsets,
 * also with every transfer cut short (the rest is read segment by
 * segment), and sio_run_cb() hands each finished request over.
 */
struct readv_seen {
	unsigned calls;
};

static void readv_done(struct sio_req *req, void *arg)
{
	struct readv_seen *s = arg;

	s->calls++;
	assert_int_equal(req->res, 0);
}

static void readv_check(struct fx *f, bool shorten)
{
	enum { NR = 6 };
	static const size_t seg[3] = { 64, 131072, 7 };
	uint8_t *file = malloc(FILE_SIZE), *bufs[NR][3];
	struct iovec iov[NR][3];
	struct sio_req r[NR];
	struct fault *ft = fault_new();
	struct readv_seen seen = { 0 };

	assert_non_null(file);
	fill(file, FILE_SIZE, 5);
	assert_int_equal(pwrite(f->fd, file, FILE_SIZE, 0), FILE_SIZE);
	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < NR; i++) {
		r[i].op = SIO_READ;
		r[i].off = 4096 * 40 * i + 8 * i + (i ? 1 : 0);
		r[i].iov = iov[i];
		r[i].iovcnt = 3;
		for (unsigned k = 0; k < 3; k++) {
			bufs[i][k] = malloc(seg[k]);
			assert_non_null(bufs[i][k]);
			iov[i][k].iov_base = bufs[i][k];
			iov[i][k].iov_len = seg[k];
			r[i].len += seg[k];
		}
	}
	ft->shorten = shorten;
	sio_set_fault(f->io, fault_fn, ft);
	assert_int_equal(sio_run_cb(f->io, r, NR, 2, readv_done, &seen), 0);
	assert_int_equal(seen.calls, NR);
	for (unsigned i = 0; i < NR; i++) {
		uint64_t o = r[i].off;

		assert_int_equal(r[i].res, 0);
		for (unsigned k = 0; k < 3; k++) {
			assert_memory_equal(bufs[i][k], file + o, seg[k]);
			o += seg[k];
			free(bufs[i][k]);
		}
	}
	if (shorten)
		assert_true(ft->calls > NR);
	fault_free(f, ft);
	free(file);
}

static void test_readv(void **state)
{
	struct fx *f = *state;
	struct sio_counters c;

	readv_check(f, false);
	readv_check(f, true);
	sio_get_counters(f->io, &c);
	assert_true(c.short_io >= 6);
}

static void test_transient_retried(void **state)
{
	struct fx *f = *state;
	struct fault *ft = fault_new();
	struct sio_counters c;

	ft->transient = 5;
	sio_set_fault(f->io, fault_fn, ft);
	mix_roundtrip(f);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.retries, 5 * 2 * NMIX);
	/* fdatasync of both descriptors, each interrupted 5 times */
	assert_int_equal(sio_sync(f->io), 0);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.retries, 5 * 2 * NMIX + 5 * 2);
	fault_free(f, ft);
}

static void test_transient_bounded(void **state)
{
	struct fx *f = *state;
	struct fault *ft = fault_new();
	uint8_t *b = xalloc(ALIGN);
	struct sio_req r[2] = {
		{ .op = SIO_READ, .buf = b, .len = ALIGN, .off = 0 },
		{ .op = SIO_READ, .buf = b, .len = ALIGN, .off = ALIGN },
	};
	struct sio_counters c;

	strata_log_set_sink(quiet_sink, NULL);
	ft->transient_always = true;
	sio_set_fault(f->io, fault_fn, ft);
	assert_int_equal(sio_run(f->io, r, 2), -EAGAIN);
	assert_int_equal(r[0].res, -EAGAIN);
	assert_int_equal(r[1].res, -EAGAIN);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.retries, 2 * 1000);
	fault_free(f, ft);
	free(b);
}

/* A hard error lands on its own request; the others still complete. */
static void test_hard_error_on_right_request(void **state)
{
	struct fx *f = *state;
	struct fault *ft = fault_new();
	enum { N = 20 };
	struct sio_req w[N];
	uint8_t *data = xalloc((size_t)N * ALIGN);

	strata_log_set_sink(quiet_sink, NULL);
	fill(data, (size_t)N * ALIGN, 9);
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < N; i++) {
		w[i].op = SIO_WRITE;
		w[i].buf = data + (size_t)i * ALIGN;
		w[i].len = ALIGN;
		w[i].off = (uint64_t)i * ALIGN;
	}
	ft->fail_err = ENOSPC;
	ft->fail_op = SIO_WRITE;
	ft->fail_off = 13 * ALIGN;
	sio_set_fault(f->io, fault_fn, ft);
	assert_int_equal(sio_run(f->io, w, N), -ENOSPC);
	for (unsigned i = 0; i < N; i++) {
		if (i == 13) {
			assert_int_equal(w[i].res, -ENOSPC);
			continue;
		}
		assert_int_equal(w[i].res, 0);
		check_file(f, w[i].buf, ALIGN, w[i].off);
	}

	/* Reads: EIO on request 4, and the first failure is what returns. */
	for (unsigned i = 0; i < N; i++)
		w[i].op = SIO_READ;
	ft->fail_err = EIO;
	ft->fail_op = SIO_READ;
	ft->fail_off = 4 * ALIGN;
	assert_int_equal(sio_run(f->io, w, N), -EIO);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(w[i].res, i == 4 ? -EIO : 0);

	/* A failed fdatasync is reported. */
	ft->fail_sync = true;
	assert_int_equal(sio_sync(f->io), -EIO);
	ft->fail_sync = false;
	assert_int_equal(sio_sync(f->io), 0);
	fault_free(f, ft);
	free(data);
}

static void test_read_past_eof(void **state)
{
	struct fx *f = *state;
	uint8_t *b = xalloc(2 * ALIGN);
	struct sio_req r[3] = {
		{ .op = SIO_READ, .buf = b, .len = ALIGN, .off = FILE_SIZE },
		/* straddles EOF: the first half arrives, then a 0-byte read */
		{ .op = SIO_READ, .buf = b, .len = 2 * ALIGN, .off = FILE_SIZE - ALIGN },
		{ .op = SIO_READ, .buf = b, .len = ALIGN, .off = 0 },
	};

	assert_int_equal(sio_run(f->io, r, 3), -EIO);
	assert_int_equal(r[0].res, -EIO);
	assert_int_equal(r[1].res, -EIO);
	assert_int_equal(r[2].res, 0);
	free(b);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	uint8_t b[16];
	struct sio_req r[4] = {
		{ .op = 7, .buf = b, .len = sizeof(b) },
		{ .op = SIO_READ, .buf = NULL, .len = 8 },
		{ .op = SIO_READ, .buf = b, .len = 0 },
		{ .op = SIO_WRITE, .buf = b, .len = 8, .off = UINT64_MAX - 4 },
	};
	struct sio_opts o = { .fd = -1, .dfd = -1 };
	struct sio *io;

	assert_int_equal(sio_run(f->io, r, 4), -EINVAL);
	assert_int_equal(r[0].res, -EINVAL);
	assert_int_equal(r[1].res, -EINVAL);
	assert_int_equal(r[2].res, 0);
	assert_int_equal(r[3].res, -EINVAL);
	assert_int_equal(sio_run(f->io, r, 0), 0);
	assert_int_equal(sio_create(&o, &io), -EINVAL);
	o.fd = f->fd;
	o.dfd = f->fd;
	o.align = 0;
	assert_int_equal(sio_create(&o, &io), -EINVAL);
	sio_destroy(NULL);
	sio_wq_destroy(NULL);
}

static void test_direct_choice(void **state)
{
	struct fx *f = *state;
	uint8_t *b = xalloc(3 * ALIGN);
	struct sio_counters c0, c1;
	struct sio_req r = { .op = SIO_WRITE, .buf = b, .len = ALIGN, .off = 0 };

	assert_true(sio_aligned(f->io, b, ALIGN, 0));
	assert_true(sio_aligned(f->io, b + ALIGN, 2 * ALIGN, 8 * ALIGN));
	assert_false(sio_aligned(f->io, b + 512, ALIGN, 0));
	assert_false(sio_aligned(f->io, b, ALIGN + 512, 0));
	assert_false(sio_aligned(f->io, b, ALIGN, 512));
	assert_false(sio_aligned(f->io, b, 0, 0));

	sio_get_counters(f->io, &c0);
	assert_int_equal(sio_run(f->io, &r, 1), 0);
	sio_get_counters(f->io, &c1);
	assert_int_equal(c1.direct - c0.direct, 1);
	assert_int_equal(c1.buffered - c0.buffered, 0);
	r.buf = b + 1;
	assert_int_equal(sio_run(f->io, &r, 1), 0);
	sio_get_counters(f->io, &c0);
	assert_int_equal(c0.direct - c1.direct, 0);
	assert_int_equal(c0.buffered - c1.buffered, 1);
	free(b);
}

/*
 * Reads of 16 KiB or more from a file on tmpfs go straight to io_uring's
 * workers (where tmpfs reads end up anyway); smaller reads, writes, and any
 * read of a file on a disk file system (/tmp here) do not.  The data is
 * right either way.
 */
static void check_async_reads(struct fx *f, bool expect_async)
{
	enum { BIG = 64 << 10, SMALL = 4096, VEC = 20 << 10 };
	uint8_t *data = xalloc(BIG), *big = xalloc(BIG), *small = xalloc(SMALL);
	uint8_t *v0 = xalloc(VEC / 2), *v1 = xalloc(VEC / 2);
	struct iovec iov[2] = { { v0, VEC / 2 }, { v1, VEC / 2 } };
	struct sio_req w = { .op = SIO_WRITE, .buf = data, .len = BIG, .off = 0 };
	struct sio_req r[3] = {
		{ .op = SIO_READ, .buf = big, .len = BIG, .off = 0 },
		{ .op = SIO_READ, .buf = small, .len = SMALL, .off = 4 * SMALL },
		{ .op = SIO_READ, .iov = iov, .iovcnt = 2, .len = VEC, .off = SMALL },
	};
	struct sio_counters c0, c1;

	fill(data, BIG, 11);
	assert_int_equal(sio_run(f->io, &w, 1), 0);
	sio_get_counters(f->io, &c0);
	assert_int_equal(sio_run(f->io, r, 3), 0);
	sio_get_counters(f->io, &c1);
	assert_int_equal(c1.async - c0.async, expect_async ? 2 : 0);
	assert_int_equal(c0.async, 0); /* the write */
	assert_memory_equal(big, data, BIG);
	assert_memory_equal(small, data + 4 * SMALL, SMALL);
	assert_memory_equal(v0, data + SMALL, VEC / 2);
	assert_memory_equal(v1, data + SMALL + VEC / 2, VEC / 2);
	free(data);
	free(big);
	free(small);
	free(v0);
	free(v1);
}

static void test_async_reads_shm(void **state)
{
	check_async_reads(*state, true);
}

static void test_async_reads_tmp(void **state)
{
	check_async_reads(*state, false);
}

/* Without a direct fd everything is buffered, aligned or not. */
static void test_buffered_only(void **state)
{
	struct fx *f = *state;
	uint8_t *b = xalloc(ALIGN);
	struct sio_req r = { .op = SIO_WRITE, .buf = b, .len = ALIGN, .off = 0 };
	struct sio_counters c;

	assert_false(sio_aligned(f->io, b, ALIGN, 0));
	fill(b, ALIGN, 1);
	assert_int_equal(sio_run(f->io, &r, 1), 0);
	sio_get_counters(f->io, &c);
	assert_int_equal(c.direct, 0);
	assert_int_equal(c.buffered, 1);
	check_file(f, b, ALIGN, 0);
	assert_int_equal(sio_sync(f->io), 0);
	free(b);
}

/* ---- threads ---- */

struct thr {
	struct fx *f;
	unsigned id;
	int err;
	pthread_barrier_t *hold; /* if set: wait twice before exiting */
};

static void *thr_main(void *p)
{
	struct thr *t = p;
	enum { ROUNDS = 100, PER = 8, LEN = ALIGN };
	uint8_t *data = xalloc(PER * LEN), *back = xalloc(PER * LEN);
	struct sio_req r[PER];

	for (unsigned round = 0; round < ROUNDS && !t->err; round++) {
		uint64_t base = (uint64_t)t->id * (FILE_SIZE / 4);

		fill(data, PER * LEN, t->id * 1000 + round);
		memset(r, 0, sizeof(r));
		for (unsigned i = 0; i < PER; i++) {
			r[i].op = SIO_WRITE;
			r[i].buf = data + i * LEN;
			r[i].len = LEN;
			r[i].off = base + (uint64_t)i * LEN;
		}
		t->err = sio_run(t->f->io, r, PER);
		for (unsigned i = 0; i < PER && !t->err; i++) {
			r[i].op = SIO_READ;
			r[i].buf = back + i * LEN;
		}
		if (!t->err)
			t->err = sio_run(t->f->io, r, PER);
		if (!t->err && memcmp(data, back, PER * LEN))
			t->err = -EBADMSG;
	}
	free(data);
	free(back);
	if (t->hold) {
		pthread_barrier_wait(t->hold);
		pthread_barrier_wait(t->hold);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	pthread_t tid[4];
	struct thr t[4];
	struct sio_counters c;

	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct thr){ .f = f, .id = i };
		assert_int_equal(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(t[i].err, 0);
	}
	/* The exited threads' rings are gone but their counts stay. */
	sio_get_counters(f->io, &c);
	assert_int_equal(c.requests, 4 * 100 * 8 * 2);
}

/* sio_destroy() while threads that used the engine are still alive. */
static void test_destroy_with_live_threads(void **state)
{
	struct fx *f = *state;
	pthread_barrier_t hold;
	pthread_t tid[2];
	struct thr t[2];

	pthread_barrier_init(&hold, NULL, 3);
	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct thr){ .f = f, .id = i, .hold = &hold };
		assert_int_equal(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
	}
	pthread_barrier_wait(&hold); /* both did their I/O and are parked */
	sio_destroy(f->io);
	f->io = NULL;
	pthread_barrier_wait(&hold); /* let them exit: no destructor may run */
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(t[i].err, 0);
	}
	pthread_barrier_destroy(&hold);
	/* teardown must not destroy again */
	{
		struct sio_opts o = { .fd = f->fd, .dfd = f->dfd, .align = ALIGN };

		assert_int_equal(sio_create(&o, &f->io), 0);
	}
}

/* ---- write queue ---- */

struct wq_track {
	unsigned done;
	unsigned failed;
	unsigned max_seen_inflight;
	struct sio_wq *wq;
};

static void wq_done(struct sio_req *req, void *arg)
{
	struct wq_track *tr = arg;

	tr->done++;
	if (req->res < 0)
		tr->failed++;
	if (sio_wq_inflight(tr->wq) > tr->max_seen_inflight)
		tr->max_seen_inflight = sio_wq_inflight(tr->wq);
}

static void test_wq_many_writes(void **state)
{
	struct fx *f = *state;
	enum { N = 500, DEPTH = 8 };
	struct sio_req *w = calloc(N, sizeof(*w));
	uint8_t *data = xalloc((size_t)N * ALIGN);
	struct wq_track tr = { 0 };
	struct sio_wq *wq;

	assert_non_null(w);
	fill(data, (size_t)N * ALIGN, 77);
	assert_int_equal(sio_wq_create(f->io, DEPTH, &wq), 0);
	tr.wq = wq;
	for (unsigned i = 0; i < N; i++) {
		w[i].op = SIO_WRITE;
		w[i].buf = data + (size_t)i * ALIGN;
		w[i].len = ALIGN;
		w[i].off = (uint64_t)i * ALIGN;
		w[i].done = wq_done;
		w[i].done_arg = &tr;
		assert_int_equal(sio_wq_submit(wq, &w[i]), 0);
		assert_true(sio_wq_inflight(wq) <= DEPTH);
		if (i == N / 2) {
			assert_int_equal(sio_wq_drain(wq, 2), 0);
			assert_true(sio_wq_inflight(wq) <= 2);
		}
	}
	assert_int_equal(sio_wq_drain(wq, 0), 0);
	assert_int_equal(sio_wq_inflight(wq), 0);
	assert_int_equal(tr.done, N);
	assert_int_equal(tr.failed, 0);
	assert_true(tr.max_seen_inflight < DEPTH);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(w[i].res, 0);
	check_file(f, data, (size_t)N * ALIGN, 0);
	sio_wq_destroy(wq);
	free(w);
	free(data);
}

static void test_wq_short_and_sticky_error(void **state)
{
	struct fx *f = *state;
	enum { N = 64 };
	struct sio_req *w = calloc(N, sizeof(*w));
	uint8_t *data = xalloc((size_t)N * ALIGN);
	struct fault *ft = fault_new();
	struct wq_track tr = { 0 };
	struct sio_wq *wq;

	strata_log_set_sink(quiet_sink, NULL);
	fill(data, (size_t)N * ALIGN, 5);
	assert_int_equal(sio_wq_create(f->io, 4, &wq), 0);
	tr.wq = wq;
	ft->shorten = true;
	ft->transient = 2;
	ft->fail_err = EIO;
	ft->fail_op = SIO_WRITE;
	ft->fail_off = 10 * ALIGN;
	sio_set_fault(f->io, fault_fn, ft);
	for (unsigned i = 0; i < N; i++) {
		w[i].op = SIO_WRITE;
		w[i].buf = data + (size_t)i * ALIGN;
		w[i].len = ALIGN;
		w[i].off = (uint64_t)i * ALIGN;
		w[i].done = wq_done;
		w[i].done_arg = &tr;
		assert_int_equal(sio_wq_submit(wq, &w[i]), 0);
	}
	/* Sticky: reported by the first drain only. */
	assert_int_equal(sio_wq_drain(wq, 0), -EIO);
	assert_int_equal(sio_wq_drain(wq, 0), 0);
	assert_int_equal(tr.done, N);
	assert_int_equal(tr.failed, 1);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(w[i].res, i == 10 ? -EIO : 0);
		if (i != 10)
			check_file(f, w[i].buf, ALIGN, w[i].off);
	}
	/* A request that cannot be queued: error now, done() never runs. */
	w[0].op = 9;
	assert_int_equal(sio_wq_submit(wq, &w[0]), -EINVAL);
	assert_int_equal(tr.done, N);
	/* Nothing to move: done() at once, with success. */
	w[0] = (struct sio_req){ .op = SIO_WRITE, .buf = data, .len = 0, .res = 7,
				 .done = wq_done, .done_arg = &tr };
	assert_int_equal(sio_wq_submit(wq, &w[0]), 0);
	assert_int_equal(tr.done, N + 1);
	assert_int_equal(w[0].res, 0);
	assert_int_equal(sio_wq_inflight(wq), 0);

	/* Reads through the queue too, and destroy waits for in-flight ones. */
	sio_set_fault(f->io, NULL, NULL);
	tr.done = 0;
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct sio_req){ .op = SIO_READ, .buf = data + (size_t)i * ALIGN,
					 .len = ALIGN, .off = (uint64_t)(i + 20) * ALIGN,
					 .done = wq_done, .done_arg = &tr };
		assert_int_equal(sio_wq_submit(wq, &w[i]), 0);
	}
	sio_wq_destroy(wq);
	assert_int_equal(tr.done, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(w[i].res, 0);
	fault_free(f, ft);
	free(w);
	free(data);
}

/* ---- ring failures (io_uring_* wrapped with -Wl,--wrap) ---- */

int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __real_io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags);

/*
 * The n-th next call fails (1: the next one); 0: never.  With
 * enter_fail_late the failing call first submits everything (the kernel
 * holds those requests), as if only the wait had failed.  Test thread only.
 */
static int enter_fail_in;
static bool enter_fail_late;
static int init_fail;

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	if (enter_fail_in > 0 && --enter_fail_in == 0) {
		if (enter_fail_late)
			__real_io_uring_submit_and_wait(ring, 0);
		return -EBADF;
	}
	return __real_io_uring_submit_and_wait(ring, wait_nr);
}

int __wrap_io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
	if (init_fail)
		return -init_fail;
	return __real_io_uring_queue_init(entries, ring, flags);
}

/* sio_run: the ring breaks with requests in flight and queued. */
static void test_ring_failure_run(void **state)
{
	struct fx *f = *state;
	enum { N = 32 };
	struct sio_req r[N];
	uint8_t *data = xalloc((size_t)N * ALIGN);
	int ret;

	strata_log_set_sink(quiet_sink, NULL);
	fill(data, (size_t)N * ALIGN, 11);
	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < N; i++) {
		r[i].op = SIO_WRITE;
		r[i].buf = data + (size_t)i * ALIGN;
		r[i].len = ALIGN;
		r[i].off = (uint64_t)i * ALIGN;
	}
	for (int late = 0; late < 2; late++) {
		enter_fail_late = late;
		enter_fail_in = 2;
		ret = sio_run(f->io, r, N);
		enter_fail_in = 0;
		assert_int_equal(ret, -EBADF);
		for (unsigned i = 0; i < N; i++)
			assert_true(r[i].res == 0 || r[i].res == -EBADF);
		assert_int_equal(r[N - 1].res, -EBADF);

		/* The thread gets a fresh ring and works again. */
		assert_int_equal(sio_run(f->io, r, N), 0);
		check_file(f, data, (size_t)N * ALIGN, 0);
	}
	enter_fail_late = false;
	enter_fail_in = 1;
	assert_int_equal(sio_sync(f->io), -EBADF);
	enter_fail_in = 0;
	assert_int_equal(sio_sync(f->io), 0);
	free(data);
}

/*
 * The write queue's ring breaks: every request finishes, with the error.
 * The queue is as deep as the requests, so that every submission's own
 * io_uring_enter() is the one that fails (with that request not yet handed
 * to the kernel); with a shallower queue the failing call was at times a
 * wait for room, with nothing unsent, depending on how fast the writes
 * completed.
 */
static void wq_fail_once(struct fx *f, bool late)
{
	enum { N = 16 };
	struct sio_req w[N];
	uint8_t *data = xalloc((size_t)N * ALIGN);
	struct wq_track tr = { 0 };
	struct sio_wq *wq;
	unsigned queued = 0;

	assert_int_equal(sio_wq_create(f->io, N, &wq), 0);
	tr.wq = wq;
	memset(w, 0, sizeof(w));
	enter_fail_late = late;
	enter_fail_in = 6;
	for (unsigned i = 0; i < N; i++) {
		int ret;

		w[i] = (struct sio_req){ .op = SIO_WRITE, .buf = data + (size_t)i * ALIGN,
					 .len = ALIGN, .off = (uint64_t)i * ALIGN,
					 .done = wq_done, .done_arg = &tr };
		ret = sio_wq_submit(wq, &w[i]);
		if (ret == 0) {
			queued++;
			continue;
		}
		assert_int_equal(ret, -EBADF);
	}
	enter_fail_in = 0;
	enter_fail_late = false;
	assert_true(queued < N);
	assert_int_equal(sio_wq_drain(wq, 0), -EBADF);
	assert_int_equal(sio_wq_inflight(wq), 0);
	assert_int_equal(tr.done, queued);
	/* Requests the kernel had keep their real result; the queued ones
	 * that never reached it fail. */
	if (!late)
		assert_true(tr.failed >= 1);
	/* broken for good: nothing more is accepted */
	assert_int_equal(sio_wq_submit(wq, &w[0]), -EBADF);
	assert_int_equal(tr.done, queued);
	sio_wq_destroy(wq);
	free(data);
}

static void test_ring_failure_wq(void **state)
{
	strata_log_set_sink(quiet_sink, NULL);
	wq_fail_once(*state, false);
	wq_fail_once(*state, true);
}

static void *run_one(void *p)
{
	struct fx *f = p;
	uint8_t b[512];
	struct sio_req r = { .op = SIO_READ, .buf = b, .len = sizeof(b), .off = 0 };

	return (void *)(intptr_t)sio_run(f->io, &r, 1);
}

static void test_ring_setup_failure(void **state)
{
	struct fx *f = *state;
	struct sio_opts o = { .fd = f->fd, .dfd = f->dfd, .align = ALIGN };
	struct sio_wq *wq = (struct sio_wq *)1;
	struct sio *io = (struct sio *)1;
	pthread_t t;
	void *res;

	strata_log_set_sink(quiet_sink, NULL);
	init_fail = ENOMEM;
	assert_int_equal(sio_create(&o, &io), -ENOMEM);
	assert_null(io);
	assert_int_equal(sio_wq_create(f->io, 4, &wq), -ENOMEM);
	assert_null(wq);
	/* a thread that cannot get a ring gets the error for its requests */
	assert_int_equal(pthread_create(&t, NULL, run_one, f), 0);
	pthread_join(t, &res);
	init_fail = 0;
	assert_int_equal((intptr_t)res, -ENOMEM);
	assert_int_equal(pthread_create(&t, NULL, run_one, f), 0);
	pthread_join(t, &res);
	assert_int_equal((intptr_t)res, 0);
}

/* done() may queue more work on the same queue. */
struct chain {
	struct sio_wq *wq;
	struct sio_req req[8];
	unsigned next, done;
	uint8_t *data;
};

static void chain_done(struct sio_req *req, void *arg)
{
	struct chain *ch = arg;

	ch->done++;
	if (ch->next < 8)
		assert_int_equal(sio_wq_submit(ch->wq, &ch->req[ch->next++]), 0);
}

static void test_wq_submit_from_done(void **state)
{
	struct fx *f = *state;
	struct chain ch = { 0 };

	ch.data = xalloc(8 * ALIGN);
	fill(ch.data, 8 * ALIGN, 42);
	assert_int_equal(sio_wq_create(f->io, 0, &ch.wq), 0); /* 0: the engine's depth */
	for (unsigned i = 0; i < 8; i++)
		ch.req[i] = (struct sio_req){ .op = SIO_WRITE, .buf = ch.data + i * ALIGN,
					      .len = ALIGN, .off = (uint64_t)i * ALIGN,
					      .done = chain_done, .done_arg = &ch };
	ch.next = 1;
	assert_int_equal(sio_wq_submit(ch.wq, &ch.req[0]), 0);
	assert_int_equal(sio_wq_drain(ch.wq, 0), 0);
	assert_int_equal(ch.done, 8);
	check_file(f, ch.data, 8 * ALIGN, 0);
	sio_wq_destroy(ch.wq);
	free(ch.data);
}

/* Queue depth 1: one request at a time, and sync's two fdatasyncs still fit. */
static int fx_setup_qd1(void **state)
{
	return fx_setup_in(state, "/dev/shm", 1, true);
}

static void test_queue_depth_one(void **state)
{
	struct fx *f = *state;
	struct sio_counters c;

	mix_roundtrip(f);
	sio_get_counters(f->io, &c);
	assert_true(c.submits >= 2 * NMIX);
	assert_int_equal(sio_sync(f->io), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_shm, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_tmp, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_bigger_than_queue, fx_setup_qd4,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_short_io, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_short_io, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_readv, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_readv, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_transient_retried, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_transient_bounded, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hard_error_on_right_request, fx_setup_shm,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_past_eof, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_direct_choice, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_buffered_only, fx_setup_buffered, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_reads_shm, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_reads_tmp, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_threads, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_live_threads, fx_setup_shm,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_wq_many_writes, fx_setup_qd4, fx_teardown),
		cmocka_unit_test_setup_teardown(test_wq_short_and_sticky_error, fx_setup_tmp,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_wq_submit_from_done, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_depth_one, fx_setup_qd1, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring_failure_run, fx_setup_qd4, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring_failure_wq, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring_setup_failure, fx_setup_shm, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
