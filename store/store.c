// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block store API: create, open/close, put/get/delete, iteration and
 * accounting.  The log appender is in log.c, checkpoints in checkpoint.c,
 * recovery in recover.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

#define MAX_RECORD_CAP ((NWBUF / 2) * WBUF_SIZE - REC_HDR)

size_t store_max_record_internal(uint32_t seg_size, uint32_t block)
{
	return MIN((size_t)(seg_size - block - REC_HDR), (size_t)MAX_RECORD_CAP);
}

size_t store_max_record(const struct store *s)
{
	return store_max_record_internal(s->seg_size, s->block);
}

static void key_hex(const uint8_t *key, char out[2 * STORE_KEY_LEN + 1])
{
	strata_hex(key, STORE_KEY_LEN, out);
}

/* ---- create ---- */

static uint32_t pick_segment_size(uint64_t size, uint64_t data_start, uint32_t want)
{
	uint32_t seg = want ? want : STORE_DEFAULT_SEGMENT_SIZE;

	/* A small store gets smaller segments, so that it has a few of them. */
	if (!want)
		while (seg > SEG_MIN_SIZE && size > data_start && (size - data_start) / seg < 8)
			seg /= 2;
	return seg;
}

static int check_geometry(const char *path, uint64_t size, uint32_t block, uint64_t optimal,
			  uint32_t want_seg, uint64_t *data_start, uint32_t *seg, uint64_t *nseg)
{
	uint64_t a = ALIGN_UP(MAX((uint64_t)DATA_ALIGN, optimal), DATA_ALIGN);

	if (size < STORE_MIN_SIZE) {
		log_err("%s: %llu bytes is too small for a store (minimum %llu)", path,
			(unsigned long long)size, (unsigned long long)STORE_MIN_SIZE);
		return -ENOSPC;
	}
	*data_start = ALIGN_UP(3ull * block, a);
	*seg = pick_segment_size(size, *data_start, want_seg);
	*nseg = size > *data_start ? (size - *data_start) / *seg : 0;
	if (*nseg < 4) {
		log_err("%s: %llu bytes hold only %llu segments of %u bytes (need 4)", path,
			(unsigned long long)size, (unsigned long long)*nseg, *seg);
		return -ENOSPC;
	}
	return 0;
}

int store_create(const struct store_create_opts *o)
{
	struct store_dev d = { .fd = -1, .dfd = -1 };
	uint64_t size, data_start, nseg;
	uint32_t seg;
	struct sb sb = { 0 };
	struct stat st;
	char what[256] = "";
	bool created = false, exists;
	uint8_t *blk = NULL;
	int r;

	if (!o || !o->path || !*o->path)
		return -EINVAL;
	if (o->label && strlen(o->label) >= STORE_LABEL_MAX) {
		log_err("%s: label longer than %d bytes", o->path, STORE_LABEL_MAX - 1);
		return -EINVAL;
	}
	if (o->segment_size && (o->segment_size & (o->segment_size - 1) ||
				o->segment_size < SEG_MIN_SIZE || o->segment_size > SEG_MAX_SIZE)) {
		log_err("%s: segment size %u is not a power of two between 1 MiB and 256 MiB",
			o->path, o->segment_size);
		return -EINVAL;
	}
	exists = !stat(o->path, &st);
	if (exists && S_ISBLK(st.st_mode)) {
		if (o->size) {
			log_err("%s: a size cannot be given for a block device", o->path);
			return -EINVAL;
		}
	} else if (exists && !S_ISREG(st.st_mode)) {
		log_err("%s: neither a regular file nor a block device", o->path);
		return -EINVAL;
	} else {
		size = o->size ? o->size : (exists ? (uint64_t)st.st_size : 0);
		if (!size) {
			log_err("%s: no size given for a new store file", o->path);
			return -EINVAL;
		}
		if (exists && o->size && o->size < (uint64_t)st.st_size) {
			log_err("%s: file is larger than the requested size; refusing to shrink it",
				o->path);
			return -EEXIST;
		}
		/* Refuse before touching anything: assume 4 KiB blocks. */
		r = check_geometry(o->path, size, 4096, 0, o->segment_size, &data_start, &seg,
				   &nseg);
		if (r)
			return r;
	}
	r = store_dev_probe(o->path, what, sizeof(what));
	if (r == -EEXIST && !o->force) {
		log_err("%s: holds %s; refusing to overwrite it without force", o->path,
			*what ? what : "existing data");
		return -EEXIST;
	}
	if (r && r != -EEXIST) {
		log_err("%s: probing failed: %s", o->path, strerror(-r));
		return r;
	}
	r = store_dev_prepare(o->path, exists && S_ISBLK(st.st_mode) ? 0 : o->size, &created);
	if (r) {
		log_err("%s: cannot prepare: %s", o->path, strerror(-r));
		return r;
	}
	r = store_dev_open(o->path, false, 0, &d);
	if (r) {
		log_err("%s: cannot open: %s", o->path, strerror(-r));
		goto fail;
	}
	r = check_geometry(o->path, d.size, d.align, d.optimal_io, o->segment_size, &data_start,
			   &seg, &nseg);
	if (r)
		goto fail;

	sb.version = STORE_FORMAT_VERSION;
	if (getrandom(sb.uuid, 16, 0) != 16) {
		r = -EIO;
		goto fail;
	}
	sb.uuid[6] = (sb.uuid[6] & 0x0f) | 0x40;
	sb.uuid[8] = (sb.uuid[8] & 0x3f) | 0x80;
	if (o->label)
		memcpy(sb.label, o->label, strlen(o->label));
	sb.device_size = d.size;
	sb.block_size = d.align;
	sb.segment_size = seg;
	sb.data_start = data_start;
	sb.nsegments = nseg;
	sb.created = (uint64_t)time(NULL);

	blk = calloc(1, 3ull * d.align);
	if (!blk) {
		r = -ENOMEM;
		goto fail;
	}
	/* Empty slots first, superblock last: a half-made store has no magic. */
	r = strata_pwrite_full(d.fd, blk + d.align, 2ull * d.align, d.align);
	if (!r)
		r = fdatasync(d.fd) ? -errno : 0;
	if (!r) {
		sb_encode(&sb, blk);
		r = strata_pwrite_full(d.fd, blk, d.align, 0);
	}
	if (!r)
		r = fdatasync(d.fd) ? -errno : 0;
	if (r) {
		log_err("%s: writing the superblock failed: %s", o->path, strerror(-r));
		goto fail;
	}
	free(blk);
	blk = NULL;
	store_dev_close(&d);
	{
		/* The first open writes checkpoint 1. */
		struct store_open_opts oo = { .path = o->path, .direct = 0 };
		struct store *s;

		r = store_open(&oo, &s);
		if (!r)
			r = store_close(s);
	}
	return r;
fail:
	free(blk);
	store_dev_close(&d);
	if (created)
		unlink(o->path);
	return r;
}

/* ---- open / close ---- */

static int read_sb(const char *path, int fd, uint64_t dev_size, struct sb *sb)
{
	uint8_t buf[512];
	int r;

	if (dev_size < sizeof(buf)) {
		log_err("%s: not a strata store (%llu bytes, too short for a superblock)", path,
			(unsigned long long)dev_size);
		return -EINVAL;
	}
	r = strata_pread_full(fd, buf, sizeof(buf), 0);
	if (r) {
		log_err("%s: reading the superblock: %s", path, strerror(-r));
		return r;
	}
	r = sb_decode(buf, sizeof(buf), sb, path);
	if (r)
		return r;
	if (dev_size < sb->device_size) {
		log_err("%s: is %llu bytes but the store was made for %llu bytes (truncated or shrunk)",
			path, (unsigned long long)dev_size, (unsigned long long)sb->device_size);
		return -EUCLEAN;
	}
	return 0;
}

static void arena_drop(void);

static void store_free(struct store *s)
{
	if (!s)
		return;
	arena_drop();
	log_free(s);
	sio_destroy(s->io);
	store_dev_close(&s->dev);
	idx_free(&s->idx);
	free(s->segs);
	free(s->path);
	pthread_mutex_destroy(&s->log_lock);
	view_destroy(s);
	free(s);
}

int store_open_internal(const struct store_open_opts *o, struct store **out)
{
	struct store_dev d = { .fd = -1, .dfd = -1 };
	struct sio_opts so = { 0 };
	struct store *s;
	struct sb sb;
	uint32_t cseg, coff;
	uint64_t clsn;
	int r;

	*out = NULL;
	if (!o || !o->path)
		return -EINVAL;
	/* Validate through a read-only descriptor: nothing is written before. */
	r = store_dev_open(o->path, true, 0, &d);
	if (r) {
		log_err("%s: cannot open: %s", o->path, strerror(-r));
		return r;
	}
	r = read_sb(o->path, d.fd, d.size, &sb);
	store_dev_close(&d);
	if (r)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev.fd = s->dev.dfd = -1;
	pthread_mutex_init(&s->log_lock, NULL);
	view_init(s, o->direct);
	s->path = strdup(o->path);
	s->read_only = o->read_only;
	s->head_seg = -1;
	if (!s->path) {
		r = -ENOMEM;
		goto err;
	}
	r = idx_init(&s->idx);
	if (r)
		goto err;
	r = store_dev_open(o->path, o->read_only, o->direct, &s->dev);
	if (r) {
		log_err("%s: cannot open%s: %s", o->path, o->read_only ? "" : " for writing",
			strerror(-r));
		goto err;
	}
	/* Re-read through the descriptor we keep: the file may have changed. */
	r = read_sb(o->path, s->dev.fd, s->dev.size, &s->sb);
	if (r)
		goto err;
	if (memcmp(&s->sb, &sb, sizeof(sb))) {
		log_err("%s: superblock changed while opening", o->path);
		r = -EAGAIN;
		goto err;
	}
	s->seed = get_le64(s->sb.uuid);
	s->block = s->sb.block_size;
	s->seg_size = s->sb.segment_size;
	s->nseg = s->sb.nsegments;
	if (s->block % s->dev.logical_sector) {
		log_err("%s: store block size %u is not a multiple of the device's sector size %u",
			o->path, s->block, s->dev.logical_sector);
		r = -EINVAL;
		goto err;
	}
	s->checkpoint_bytes = o->checkpoint_bytes;
	if (!s->checkpoint_bytes)
		s->checkpoint_bytes = MIN(256ull << 20, s->nseg * s->seg_size / 4);
	s->segs = calloc(s->nseg, sizeof(*s->segs));
	if (!s->segs) {
		r = -ENOMEM;
		goto err;
	}
	so.fd = s->dev.fd;
	so.dfd = s->dev.dfd;
	so.align = s->dev.align;
	so.queue_depth = o->queue_depth ? o->queue_depth : STORE_DEFAULT_QUEUE_DEPTH;
	r = sio_create(&so, &s->io);
	if (r) {
		log_err("%s: cannot set up io_uring: %s", o->path, strerror(-r));
		goto err;
	}
	r = log_init(s);
	if (r)
		goto err;
	r = rec_read_seg_headers(s);
	if (r)
		goto err;
	r = cp_load(s, &cseg, &coff, &clsn);
	if (!r) {
		s->cp_loaded = true;
		r = rec_roll_forward(s, cseg, coff, clsn);
	} else if (r == -ENOENT) {
		if (!s->cp_fresh)
			log_err("%s: checkpoint unusable, rebuilt from log", o->path);
		r = rec_full_scan(s);
	}
	if (r)
		goto err;
	/* The head segment of a store written before segments were
	 * allocated up front may have holes (space.c); best effort. */
	if (!s->read_only && s->head_seg >= 0)
		(void)space_alloc_seg(s, (uint64_t)s->head_seg);
	if (s->replayed || s->dropped_bytes)
		log_info("%s: recovery replayed %llu records, dropped %llu torn bytes", o->path,
			 (unsigned long long)s->replayed, (unsigned long long)s->dropped_bytes);
	if (!s->read_only && (!s->cp_loaded || s->replayed || s->dropped_bytes)) {
		pthread_mutex_lock(&s->log_lock);
		r = cp_write_locked(s);
		pthread_mutex_unlock(&s->log_lock);
		if (r) {
			log_err("%s: cannot write the recovery checkpoint: %s", o->path,
				strerror(-r));
			goto err;
		}
	}
	*out = s;
	return 0;
err:
	store_free(s);
	return r;
}

int store_open(const struct store_open_opts *o, struct store **out)
{
	return store_open_internal(o, out);
}

int store_close(struct store *s)
{
	int r = 0;

	if (!s)
		return 0;
	if (!s->read_only) {
		pthread_mutex_lock(&s->log_lock);
		if (s->broken)
			r = s->broken;
		else if (s->dirty)
			r = cp_write_locked(s);
		else
			r = log_sync_locked(s);
		pthread_mutex_unlock(&s->log_lock);
	}
	store_free(s);
	return r;
}

/* ---- reads ---- */

/* The aligned (O_DIRECT) read that covers the record of len payload bytes
 * at file offset foff: its start in *start, its length returned. */
static size_t rec_span(const struct store *s, uint64_t foff, uint32_t len, uint64_t *start)
{
	uint32_t al = MAX(s->dev.align, s->block);

	*start = ALIGN_DOWN(foff, al);
	return (size_t)(ALIGN_UP(foff + REC_HDR + len, al) - *start);
}

/* Bytes of the aligned reads that cover these records. */
static size_t recs_span(const struct store *s, const struct rd_req *rq, unsigned n)
{
	size_t total = 0;
	uint64_t a;

	for (unsigned i = 0; i < n; i++)
		total += rec_span(s, rq[i].foff, rq[i].len, &a);
	return total;
}

/* Read n records into arena (recs_span() bytes, aligned for O_DIRECT). */
static int read_recs_into(struct store *s, struct rd_req *rq, unsigned n, uint8_t *arena)
{
	struct sio_req *io;
	size_t o = 0;
	int r;

	io = calloc(n, sizeof(*io));
	if (!io)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a;
		size_t span = rec_span(s, rq[i].foff, rq[i].len, &a);

		io[i].op = SIO_READ;
		io[i].buf = arena + o;
		io[i].len = span;
		io[i].off = a;
		rq[i].rec = arena + o + (rq[i].foff - a);
		o += span;
	}
	sio_run(s->io, io, n);
	for (unsigned i = 0; i < n; i++) {
		struct rec_hdr h;

		r = io[i].res;
		if (!r && (rec_hdr_decode(rq[i].rec, &h) || h.len != rq[i].len ||
			   rec_verify(rq[i].rec, s->seed)))
			r = -EBADMSG;
		rq[i].res = r;
	}
	free(io);
	return 0;
}

int store_read_recs(struct store *s, struct rd_req *rq, unsigned n, uint8_t **arena)
{
	uint32_t al = MAX(s->dev.align, s->block);
	int r;

	*arena = NULL;
	if (!n)
		return 0;
	if (posix_memalign((void **)arena, al, recs_span(s, rq, n)))
		return -ENOMEM;
	r = read_recs_into(s, rq, n, *arena);
	if (r) {
		free(*arena);
		*arena = NULL;
	}
	return r;
}

/*
 * Each thread keeps the arena of its last store_get_batch() (up to
 * ARENA_KEEP bytes).  A fresh allocation of a few MiB per batch (4.2 MiB
 * for 32 records of 128 KiB) is a fresh mmap, and faulting its pages in,
 * from io_uring's worker inside the kernel's copy, cost more than the reads
 * themselves: 128 KiB gets ran at 0.09-0.19 GB/s on tmpfs instead of
 * 2-3 GB/s (tests/bench/store-bench.sh).  Freed at thread exit, and for the
 * calling thread at store_close().
 */
#define ARENA_KEEP (8u << 20)

struct tl_arena {
	uint8_t *p;
	size_t size, align;
	bool busy;
};

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static bool arena_key_ok;

static void arena_destroy(void *p)
{
	struct tl_arena *a = p;

	free(a->p);
	free(a);
}

static void arena_key_init(void)
{
	arena_key_ok = !pthread_key_create(&arena_key, arena_destroy);
}

static struct tl_arena *arena_tl(bool create)
{
	struct tl_arena *a;

	pthread_once(&arena_once, arena_key_init);
	if (!arena_key_ok)
		return NULL;
	a = pthread_getspecific(arena_key);
	if (a || !create)
		return a;
	a = calloc(1, sizeof(*a));
	if (a && pthread_setspecific(arena_key, a)) {
		free(a);
		a = NULL;
	}
	return a;
}

/* size bytes aligned to align: the thread's kept arena (*kept) or a fresh one. */
static uint8_t *arena_get(size_t size, size_t align, bool *kept)
{
	struct tl_arena *a = size <= ARENA_KEEP ? arena_tl(true) : NULL;
	void *p;

	*kept = false;
	if (a && !a->busy) {
		if (a->size < size || a->align < align) {
			size_t want = 64u << 10;

			while (want < size)
				want *= 2;
			free(a->p);
			a->size = 0;
			if (posix_memalign((void **)&a->p, align, want)) {
				a->p = NULL;
			} else {
				a->size = want;
				a->align = align;
			}
		}
		if (a->p) {
			a->busy = true;
			*kept = true;
			return a->p;
		}
	}
	return posix_memalign(&p, align, size) ? NULL : p;
}

static void arena_put(uint8_t *p, bool kept)
{
	if (kept)
		arena_tl(false)->busy = false;
	else
		free(p);
}

/* Drop the calling thread's kept arena. */
static void arena_drop(void)
{
	struct tl_arena *a = arena_tl(false);

	if (a && !a->busy) {
		pthread_setspecific(arena_key, NULL);
		arena_destroy(a);
	}
}

static void fill_info(const struct idx_ent *e, struct store_rec_info *info)
{
	if (!info)
		return;
	info->type = e->type;
	info->flags = e->flags;
	info->user = e->user;
	info->len = e->len;
	info->seq = e->lsn;
}

/* Does a verified record image belong to this index entry? */
static int check_rec(struct store *s, const struct idx_ent *e, const uint8_t *rec, int res)
{
	char hex[2 * STORE_KEY_LEN + 1];

	if (!res && (get_le16(rec + 4) != e->type || get_le64(rec + 16) != e->lsn ||
		     memcmp(rec + 24, e->key, STORE_KEY_LEN)))
		res = -EBADMSG;
	if (res == -EBADMSG) {
		key_hex(e->key, hex);
		log_err("%s: record %s at segment %u offset %u (lsn %llu): checksum mismatch",
			s->path, hex, e->seg, e->off, (unsigned long long)e->lsn);
	} else if (res) {
		key_hex(e->key, hex);
		log_err("%s: reading record %s at segment %u offset %u: %s", s->path, hex,
			e->seg, e->off, strerror(-res));
	}
	return res;
}

/* Copy a record that may still sit in a write buffer; 1 if it was handled. */
static int read_mem(struct store *s, const struct idx_ent *e, uint8_t **rec)
{
	int r;

	if (e->lsn < atomic_load(&s->ondisk_lsn))
		return 0;
	pthread_mutex_lock(&s->log_lock);
	if (e->lsn < atomic_load(&s->ondisk_lsn)) {
		pthread_mutex_unlock(&s->log_lock);
		return 0;
	}
	*rec = malloc(REC_HDR + e->len);
	if (!*rec) {
		pthread_mutex_unlock(&s->log_lock);
		return -ENOMEM;
	}
	r = log_read_locked(s, seg_foff(s, e->seg) + e->off, *rec, REC_HDR + e->len);
	pthread_mutex_unlock(&s->log_lock);
	if (r) {
		free(*rec);
		*rec = NULL;
		return r;
	}
	return 1;
}

int store_read_entry(struct store *s, const struct idx_ent *e, uint8_t **out)
{
	struct rd_req rq = { .foff = seg_foff(s, e->seg) + e->off, .len = e->len };
	uint8_t *arena, *rec = NULL;
	int r;

	*out = NULL;
	r = read_mem(s, e, &rec);
	if (r < 0)
		return r;
	if (r == 1) {
		r = rec_verify(rec, s->seed) ? -EBADMSG : 0;
		r = check_rec(s, e, rec, r);
		if (r)
			free(rec);
		else
			*out = rec;
		return r;
	}
	r = store_read_recs(s, &rq, 1, &arena);
	if (r)
		return r;
	r = check_rec(s, e, rq.rec, rq.res);
	if (!r) {
		rec = malloc(REC_HDR + e->len);
		if (!rec)
			r = -ENOMEM;
		else
			memcpy(rec, rq.rec, REC_HDR + e->len);
	}
	free(arena);
	*out = rec;
	return r;
}

int store_lookup(struct store *s, const struct store_key *key, struct store_rec_info *info)
{
	struct idx_ent e;
	int r;

	if (!s || !key)
		return -EINVAL;
	r = idx_get(&s->idx, key->b, &e);
	if (!r)
		fill_info(&e, info);
	return r;
}

int store_get(struct store *s, const struct store_key *key, void *buf, size_t bufsize,
	      size_t *len, struct store_rec_info *info)
{
	struct store_get_req rq;
	int r;

	if (!s || !key)
		return -EINVAL;
	memset(&rq, 0, sizeof(rq));
	rq.key = *key;
	rq.buf = buf;
	rq.bufsize = bufsize;
	r = store_get_batch(s, &rq, 1);
	if (len && (!r || r == -ENOBUFS))
		*len = rq.len;
	if (!r && info)
		*info = rq.info;
	return r;
}

/* Is a verified record image the one this index entry names? */
static bool rec_is(const struct idx_ent *e, const uint8_t *rec)
{
	return get_le16(rec + 4) == e->type && get_le64(rec + 16) == e->lsn &&
	       !memcmp(rec + 24, e->key, STORE_KEY_LEN);
}

/* Did the entry for e's key change (moved by compaction, or deleted and put
 * again) since e was read?  Fills *now; -ENOENT when the key is gone. */
static int entry_changed(struct store *s, const struct idx_ent *e, struct idx_ent *now,
			 bool *changed)
{
	int r = idx_get(&s->idx, e->key, now);

	*changed = !r && (now->lsn != e->lsn || now->seg != e->seg || now->off != e->off);
	return r;
}

/*
 * Where does e's key live now?  As entry_changed(); on a read-only handle
 * whose entry has not changed, another process may have moved the record
 * (compaction): reload the view if the store changed (view.c), ask again.
 */
static int follow(struct store *s, const struct idx_ent *e, struct idx_ent *now, bool *changed)
{
	int r = entry_changed(s, e, now, changed);

	if (!r && !*changed && s->read_only && view_refresh(s) > 0)
		r = entry_changed(s, e, now, changed);
	return r;
}

#define GET_RETRIES 16

/*
 * Read one request for entry *e, following the key when compaction moves
 * it (or a delete and a put replace it) while the read is in flight: the
 * old location may already hold other data, which the lsn check catches.
 */
static int get_one(struct store *s, struct store_get_req *q, struct idx_ent *e)
{
	for (unsigned tries = 0;; tries++) {
		struct rd_req rq = { .foff = seg_foff(s, e->seg) + e->off, .len = e->len };
		uint8_t *rec = NULL, *arena = NULL;
		struct idx_ent now;
		bool changed;
		int r, res;

		q->len = e->len;
		fill_info(e, &q->info);
		if (e->len > q->bufsize)
			return -ENOBUFS;
		r = read_mem(s, e, &rec);
		if (r < 0)
			return r;
		if (r == 1) {
			res = rec_verify(rec, s->seed) ? -EBADMSG : 0;
		} else {
			r = store_read_recs(s, &rq, 1, &arena);
			if (r)
				return r;
			rec = rq.rec;
			res = rq.res;
		}
		if (!res && !rec_is(e, rec))
			res = -EBADMSG;
		if (res) {
			r = follow(s, e, &now, &changed);
			if (r || (changed && tries < GET_RETRIES)) {
				if (!arena)
					free(rec);
				free(arena);
				if (r)
					return r;
				*e = now;
				continue;
			}
		}
		res = check_rec(s, e, rec, res);
		if (!res && e->len)
			memcpy(q->buf, rec + REC_HDR, e->len);
		if (!arena)
			free(rec);
		free(arena);
		return res;
	}
}

/*
 * store_get_batch(): one on-disk record.  Two ways to read it:
 *  - direct (the engine keeps O_DIRECT for any alignment, as on tmpfs, or
 *    has no direct fd at all): one vectored read, the header into hdr and
 *    the payload straight into the caller's buffer, checksummed there
 *    (rec_csum() over the two pieces: the same value as rec_verify());
 *  - arena (O_DIRECT needs aligned buffers, as on a block device): the
 *    aligned span into the thread's arena, verified and copied out; or,
 *    for a request that borrows and when the arena is the thread's kept
 *    one, verified and left there (q->data points into it).
 * Either way get_rd_done() checks each record as its read completes,
 * while the later ones are still in flight, so that the data is hashed and
 * copied while it is still in the CPU cache (one pass over memory, not
 * three).
 */
struct get_rd {
	struct store_get_req *q;
	struct idx_ent e;
	uint8_t *rec;           /* arena: the record image; direct: hdr */
	struct iovec iov[2];    /* direct: header, payload */
	uint8_t hdr[REC_HDR];
	int res;
	bool seen;              /* get_rd_done() ran */
	bool borrowed;          /* verified in the arena, not copied out */
};

struct get_batch {
	struct store *s;
	struct sio_req *io;
	struct get_rd *rd;
	bool direct;
	bool lend;              /* the arena is the thread's kept one */
};

/* Batches up to this size keep their bookkeeping on the stack. */
#define GET_STACK 32

/*
 * Arena reads: wake up once about this many bytes of records completed
 * (128 KiB records: every 8; 4 KiB ones: once for a batch of 32), and
 * verify and copy those while the rest are still being read.  Waking up
 * for every record measured slower on a loop device (a context switch
 * each); waiting for the whole batch leaves the arena cold.  Direct reads
 * take each record as it completes: on tmpfs every read is done by an
 * io_uring worker, whose every completion wakes the waiting thread anyway
 * (it stays in the kernel when it waits for more); returning to check the
 * record then costs little and overlaps the checksum with the next copies
 * (tests/bench/store-bench.sh, file target: 128 KiB gets +20%, 4 KiB gets
 * +85% against waiting for the whole batch).
 */
#define GET_WAKE_BYTES (1u << 20)

/*
 * Copy a record's payload out of the arena while checksumming it, in
 * steps that stay in the L1/L2 cache (each step is hashed, then copied
 * from the cache), as emit_fast_locked() does for writes: the same value
 * as rec_csum() (XXH3 streaming equals the one-shot hash).  Not for PAD
 * records (their payload is not covered).  0 or -EBADMSG; dst holds the
 * payload either way.
 */
static int copy_verify(const uint8_t *rec, uint8_t *dst, uint32_t len, uint64_t seed)
{
	const uint8_t *src = rec + REC_HDR;
	XXH3_state_t st;

	rec_csum_begin(&st, rec, seed);
	for (uint32_t o = 0; o < len; o += 32768) {
		uint32_t c = MIN(32768u, len - o);

		rec_csum_update(&st, src + o, c);
		memcpy(dst + o, src + o, c);
	}
	return XXH3_64bits_digest(&st) == get_le64(rec + 56) ? 0 : -EBADMSG;
}

/* sio_run_cb() callback: verify (and for the arena, copy out) one record. */
static void get_rd_done(struct sio_req *req, void *arg)
{
	struct get_batch *b = arg;
	struct get_rd *g = &b->rd[req - b->io];
	const uint8_t *rec = g->rec;
	struct rec_hdr h;
	int res = req->res;
	/* Arena only: a borrowing request verified in place, not copied out. */
	bool lent = !b->direct && g->e.len && g->q->borrow && b->lend;

	g->seen = true;
	/* rec_is(): a user type, never REC_PAD. */
	if (!res && (rec_hdr_decode(rec, &h) || h.len != g->e.len || !rec_is(&g->e, rec)))
		res = -EBADMSG;
	if (!res && b->direct &&
	    rec_csum(rec, g->q->buf, g->e.len, b->s->seed) != get_le64(rec + 56))
		res = -EBADMSG;
	if (!res && !b->direct && g->e.len && !lent)
		res = copy_verify(rec, g->q->buf, g->e.len, b->s->seed);
	else if (!res && !b->direct && rec_verify(rec, b->s->seed))
		res = -EBADMSG;
	g->borrowed = lent && !res;
	g->res = res;
}

/* Set up the read of g (arena: at *o in arena, which grows by its span). */
static void get_rd_prep(struct get_batch *b, struct get_rd *g, struct sio_req *io,
			uint8_t *arena, size_t *o)
{
	struct store *s = b->s;
	uint64_t foff = seg_foff(s, g->e.seg) + g->e.off;

	memset(io, 0, sizeof(*io));
	if (b->direct) {
		g->iov[0] = (struct iovec){ .iov_base = g->hdr, .iov_len = REC_HDR };
		g->iov[1] = (struct iovec){ .iov_base = g->q->buf, .iov_len = g->e.len };
		g->rec = g->hdr;
		io->op = SIO_READ;
		io->iov = g->iov;
		io->iovcnt = g->e.len ? 2 : 1;
		io->len = REC_HDR + (size_t)g->e.len;
		io->off = foff;
	} else {
		uint64_t a;
		size_t span = rec_span(s, foff, g->e.len, &a);

		io->op = SIO_READ;
		io->buf = arena + *o;
		io->len = span;
		io->off = a;
		g->rec = arena + *o + (foff - a);
		*o += span;
	}
}

/* After the reads: retry what compaction moved, log what failed. */
static int get_rd_finish(struct store *s, struct get_rd *g, int res)
{
	struct store_get_req *q = g->q;

	if (res) {
		struct idx_ent now;
		bool changed;

		/* Deleted, or moved by compaction, while we read? */
		if (follow(s, &g->e, &now, &changed))
			return -ENOENT;
		if (changed) {
			g->e = now;
			return get_one(s, q, &g->e);
		}
	}
	return check_rec(s, &g->e, g->rec, res);
}

int store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n)
{
	struct sio_req io_stack[GET_STACK], *io = io_stack;
	struct get_rd rd_stack[GET_STACK], *rd = rd_stack;
	struct get_batch b = { .s = s };
	uint8_t *arena = NULL;
	bool kept = false;
	unsigned nd = 0;
	int ret = 0, r;

	if (!s || (n && !reqs))
		return -EINVAL;
	if (!n)
		return 0;
	if (n > GET_STACK) {
		io = malloc(n * (sizeof(*io) + sizeof(*rd)));
		if (!io)
			return -ENOMEM;
		rd = (struct get_rd *)(io + n);
	}
	b.io = io;
	b.rd = rd;
	b.direct = sio_read_align(s->io) <= 1;
	for (unsigned i = 0; i < n; i++) {
		struct store_get_req *q = &reqs[i];
		struct get_rd *g = &rd[nd];

		q->data = q->buf;
		q->res = idx_get(&s->idx, q->key.b, &g->e);
		if (q->res)
			continue;
		q->len = g->e.len;
		fill_info(&g->e, &q->info);
		if (g->e.len > q->bufsize) {
			q->res = -ENOBUFS;
			continue;
		}
		/* Recent records may still be in the write buffers. */
		if (g->e.lsn >= atomic_load(&s->ondisk_lsn)) {
			q->res = get_one(s, q, &g->e);
			continue;
		}
		g->q = q;
		g->seen = false;
		g->borrowed = false;
		nd++;
	}
	if (nd) {
		unsigned wait = 0;
		size_t o = 0;

		if (!b.direct) {
			size_t span = 0;
			uint64_t a;

			for (unsigned k = 0; k < nd; k++)
				span += rec_span(s, seg_foff(s, rd[k].e.seg) + rd[k].e.off,
						 rd[k].e.len, &a);
			arena = arena_get(span, MAX(s->dev.align, s->block), &kept);
			b.lend = kept;
			/* Hand records over about GET_WAKE_BYTES at a time. */
			wait = (unsigned)MAX((size_t)1, GET_WAKE_BYTES / (span / nd));
		} else {
			wait = 1;
		}
		if (b.direct || arena) {
			for (unsigned k = 0; k < nd; k++)
				get_rd_prep(&b, &rd[k], &io[k], arena, &o);
			sio_run_cb(s->io, io, nd, wait, get_rd_done, &b);
		}
		for (unsigned k = 0; k < nd; k++) {
			struct get_rd *g = &rd[k];

			if (!b.direct && !arena)
				r = -ENOMEM;
			else
				r = g->seen ? g->res : (io[k].res ? io[k].res : -EIO);
			g->q->res = r == -ENOMEM ? r : get_rd_finish(s, g, r);
			if (g->borrowed && !g->q->res)
				g->q->data = g->rec + REC_HDR;
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (reqs[i].res && !ret)
			ret = reqs[i].res;
	arena_put(arena, kept);
	if (io != io_stack)
		free(io);
	return ret;
}

/* ---- writes ---- */

/* Segments that hold no live data but are pinned by the last checkpoints. */
static bool cp_would_free_locked(struct store *s)
{
	for (uint64_t i = 0; i < s->nseg; i++) {
		const struct seginfo *g = &s->segs[i];

		if ((int64_t)i != s->head_seg && g->seq && !g->live && g->seq >= s->pin_seq &&
		    !g->cleaning)
			return true;
	}
	return false;
}

static int room_locked(struct store *s, uint32_t len, bool internal)
{
	int r = log_room_locked(s, len, internal);

	/* Segments emptied by deletes come free once their tombstones are durable. */
	if (r == -ENOSPC) {
		bool waiting = false;

		for (uint64_t i = 0; i < s->nseg && !waiting; i++)
			waiting = seg_awaits_sync_locked(s, i);
		if (waiting && !log_sync_locked(s))
			r = log_room_locked(s, len, internal);
	}

	/* Two checkpoints release segments the older one pinned. */
	for (int i = 0; i < 2 && r == -ENOSPC && cp_would_free_locked(s); i++) {
		if (cp_write_locked(s))
			break;
		r = log_room_locked(s, len, internal);
	}
	return r;
}

static void maybe_checkpoint_locked(struct store *s)
{
	int r;

	if (s->appended_since_cp < s->checkpoint_bytes)
		return;
	r = cp_write_locked(s);
	if (r)
		log_warn("%s: automatic checkpoint failed: %s", s->path, strerror(-r));
}

int store_put(struct store *s, uint16_t type, const struct store_key *key, const void *data,
	      size_t len, uint16_t flags, uint32_t user)
{
	struct rec_hdr h = { .type = type, .flags = flags, .user = user };
	struct idx_ent e = { 0 };
	uint32_t seg, off;
	bool rep;
	int r;

	if (!s || !key || (len && !data) || !type || type > STORE_REC_USER_MAX)
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	if (len > store_max_record(s))
		return -EFBIG;
	h.len = (uint32_t)len;
	memcpy(h.key, key->b, STORE_KEY_LEN);
	pthread_mutex_lock(&s->log_lock);
	r = s->broken;
	if (r)
		goto out;
	if (!idx_get(&s->idx, key->b, NULL)) {
		r = -EEXIST;
		goto out;
	}
	r = room_locked(s, h.len, false);
	if (r)
		goto out;
	r = log_append_locked(s, &h, data, false, &seg, &off);
	if (r)
		goto out;
	memcpy(e.key, key->b, STORE_KEY_LEN);
	e.seg = seg;
	e.off = off;
	e.len = h.len;
	e.type = type;
	e.flags = flags;
	e.user = user;
	e.lsn = h.lsn;
	r = idx_put(&s->idx, &e, NULL, &rep);
	if (r) {
		s->broken = r;
		goto out;
	}
	s->nrecords++;
	s->segs[seg].live += rec_total(h.len);
	s->appended_since_cp += rec_total(h.len);
	s->dirty = true;
	maybe_checkpoint_locked(s);
out:
	pthread_mutex_unlock(&s->log_lock);
	return r;
}

int store_delete(struct store *s, const struct store_key *key)
{
	struct rec_hdr h = { .type = REC_TOMB };
	struct idx_ent old;
	uint32_t seg, off;
	int r;

	if (!s || !key)
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	memcpy(h.key, key->b, STORE_KEY_LEN);
	pthread_mutex_lock(&s->log_lock);
	r = s->broken;
	if (r)
		goto out;
	r = idx_get(&s->idx, key->b, NULL);
	if (r)
		goto out;
	/* Deletes may dip into the checkpoint reserve: they are how space comes back. */
	r = room_locked(s, 0, true);
	if (r)
		goto out;
	r = log_append_locked(s, &h, NULL, true, &seg, &off);
	if (r)
		goto out;
	if (!idx_del(&s->idx, key->b, &old)) {
		s->segs[old.seg].live -= rec_total(old.len);
		s->segs[old.seg].dead_lsn = h.lsn;
		s->nrecords--;
	}
	s->appended_since_cp += REC_HDR;
	s->dirty = true;
	maybe_checkpoint_locked(s);
out:
	pthread_mutex_unlock(&s->log_lock);
	return r;
}

int store_sync(struct store *s)
{
	int r;

	if (!s)
		return -EINVAL;
	if (s->read_only)
		return 0;
	pthread_mutex_lock(&s->log_lock);
	r = s->broken ? s->broken : log_sync_locked(s);
	pthread_mutex_unlock(&s->log_lock);
	return r;
}

int store_checkpoint(struct store *s)
{
	int r;

	if (!s)
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	pthread_mutex_lock(&s->log_lock);
	r = cp_write_locked(s);
	pthread_mutex_unlock(&s->log_lock);
	return r;
}

/* ---- iteration and accounting ---- */

int store_iterate(struct store *s, store_iter_fn fn, void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		struct idx_ent *a;
		uint32_t n;
		int r = idx_snapshot_shard(&s->idx, i, &a, &n);

		if (r)
			return r;
		/* The callback runs without locks: it may call back into the store. */
		for (uint32_t k = 0; k < n; k++) {
			struct store_rec_info info;
			struct store_key key;

			memcpy(key.b, a[k].key, STORE_KEY_LEN);
			fill_info(&a[k], &info);
			r = fn(arg, &key, &info);
			if (r) {
				free(a);
				return r;
			}
		}
		free(a);
	}
	return 0;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	pthread_mutex_lock(&s->log_lock);
	st->device_size = s->dev.size;
	st->capacity = s->nseg * s->seg_size;
	st->segments = s->nseg;
	st->segment_size = s->seg_size;
	for (uint64_t i = 0; i < s->nseg; i++) {
		const struct seginfo *g = &s->segs[i];
		uint32_t w = (int64_t)i == s->head_seg ? s->head_off : g->written;

		st->used += g->live;
		if (seg_is_free_locked(s, i)) {
			st->free_segments++;
			st->free += s->seg_size;
		} else if (w > g->live) {
			st->reclaimable += w - g->live;
		}
	}
	if (s->head_seg >= 0)
		st->free += s->seg_size - s->head_off;
	st->records = s->nrecords;
	st->checkpoint_gen = s->cp_gen;
	st->replayed = s->replayed;
	st->dropped_bytes = s->dropped_bytes;
	pthread_mutex_unlock(&s->log_lock);
}

void store_get_info(struct store *s, struct store_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!s)
		return;
	memcpy(info->uuid, s->sb.uuid, 16);
	memcpy(info->label, s->sb.label, STORE_LABEL_MAX);
	info->version = s->sb.version;
	info->block_size = s->block;
	info->logical_sector = s->dev.logical_sector;
	info->physical_sector = s->dev.physical_sector;
	info->optimal_io = s->dev.optimal_io;
	info->is_block_device = s->dev.is_blk;
	info->direct_io = s->dev.dfd >= 0;
	info->created = s->sb.created;
}

/* ---- test hooks ---- */

struct sio *store_test_sio(struct store *s)
{
	return s->io;
}

uint64_t store_test_head_offset(struct store *s)
{
	uint64_t off;

	pthread_mutex_lock(&s->log_lock);
	off = s->head_seg < 0 ? 0 : seg_foff(s, (uint64_t)s->head_seg) + s->head_off;
	pthread_mutex_unlock(&s->log_lock);
	return off;
}

int store_test_locate(struct store *s, const struct store_key *key, uint64_t *foff)
{
	struct idx_ent e;
	int r = idx_get(&s->idx, key->b, &e);

	if (!r)
		*foff = seg_foff(s, e.seg) + e.off;
	return r;
}

void store_test_crash(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->log_lock);
	log_abandon(s);
	pthread_mutex_unlock(&s->log_lock);
	store_free(s);
}
