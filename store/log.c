// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The log appender.  Records are copied into 1 MiB write buffers, each the
 * image of one 1 MiB-aligned window of a segment; a full window is written
 * asynchronously through the sio write queue while the next one fills, so
 * put() costs a memcpy and a checksum.  store_sync() pads the current block
 * and writes only the blocks not written yet: a synced block is never
 * written again, so a torn write can only hit unsynced records.
 *
 * Everything here runs with s->log_lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

static void wb_done(struct sio_req *req, void *arg)
{
	struct wbuf *wb = arg;

	if (req->res) {
		wb->state = WB_ERR;
		wb->err = req->res;
		log_err("%s: write of %zu bytes at offset %llu failed: %s", wb->s->path, req->len,
			(unsigned long long)req->off, strerror(-req->res));
	} else {
		wb->written = (uint32_t)(req->off + req->len - wb->foff);
		wb->state = WB_DONE;
	}
}

int log_init(struct store *s)
{
	size_t al = MAX(s->dev.align, s->block);
	int r;

	/* The windows in one mapping of huge pages (they are filled in
	 * turn, and each is 512 page faults otherwise). */
	if (!s->read_only) {
		s->wb_mem = strata_big_alloc((size_t)NWBUF * WBUF_SIZE);
		if (!s->wb_mem)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < NWBUF; i++) {
		s->wb[i].s = s;
		s->wb[i].state = WB_FREE;
		if (s->wb_mem)
			s->wb[i].data = s->wb_mem + (size_t)i * WBUF_SIZE;
	}
	if (posix_memalign((void **)&s->seg_hdr_blk, al, s->block))
		return -ENOMEM;
	memset(s->seg_hdr_blk, 0, s->block);
	if (!s->read_only) {
		r = sio_wq_create(s->io, WQ_DEPTH, &s->wq);
		if (r)
			return r;
	}
	return 0;
}

void log_free(struct store *s)
{
	sio_wq_destroy(s->wq);
	s->wq = NULL;
	for (unsigned i = 0; i < NWBUF; i++)
		s->wb[i].data = NULL;
	strata_big_free(s->wb_mem, (size_t)NWBUF * WBUF_SIZE);
	s->wb_mem = NULL;
	free(s->seg_hdr_blk);
	s->seg_hdr_blk = NULL;
}

void log_abandon(struct store *s)
{
	if (s->wq)
		sio_wq_drain(s->wq, 0);
	for (unsigned i = 0; i < NWBUF; i++)
		s->wb[i].state = WB_FREE;
	s->cur = NULL;
}

void log_update_ondisk_locked(struct store *s)
{
	uint64_t m = s->next_lsn;

	for (unsigned i = 0; i < NWBUF; i++) {
		const struct wbuf *wb = &s->wb[i];

		if ((wb->state == WB_FILLING || wb->state == WB_INFLIGHT || wb->state == WB_ERR) &&
		    wb->min_lsn < m)
			m = wb->min_lsn;
	}
	atomic_store(&s->ondisk_lsn, m);
}

bool seg_is_free_locked(const struct store *s, uint64_t i)
{
	const struct seginfo *g = &s->segs[i];

	if ((int64_t)i == s->head_seg || g->cleaning)
		return false;
	if (g->seq == 0)
		return true;
	return g->live == 0 && g->seq < s->pin_seq && g->dead_lsn < s->synced_lsn;
}

bool seg_awaits_sync_locked(const struct store *s, uint64_t i)
{
	const struct seginfo *g = &s->segs[i];

	return (int64_t)i != s->head_seg && !g->cleaning && g->seq && g->live == 0 &&
	       g->seq < s->pin_seq && g->dead_lsn >= s->synced_lsn;
}

uint64_t cp_reserve_bytes_locked(const struct store *s)
{
	uint64_t idx = s->nrecords * CP_ENT_SIZE, segt = s->nseg * CP_SEG_SIZE;
	uint64_t pages = idx / (CP_PAGE_MAX / 2) + segt / (CP_PAGE_MAX / 2) + 2;

	/* Pages, their headers and block padding, the commit, and a spare. */
	return idx + segt + pages * (REC_HDR + CP_PAGEREF_SIZE + s->block) + CP_COMMIT_FIXED +
	       4ull * s->block;
}

/* Retry failed window writes synchronously. */
static int retry_errs_locked(struct store *s)
{
	int ret = 0;

	for (unsigned i = 0; i < NWBUF; i++) {
		struct wbuf *wb = &s->wb[i];
		int r;

		if (wb->state != WB_ERR)
			continue;
		wb->req.res = 0;
		wb->req._done_bytes = 0;
		wb->req._retries = 0;
		wb->req.done = NULL;
		r = sio_run(s->io, &wb->req, 1);
		wb->req.done = wb_done;
		if (r) {
			wb->err = r;
			if (!ret)
				ret = r;
			continue;
		}
		wb->written = (uint32_t)(wb->req.off + wb->req.len - wb->foff);
		wb->state = WB_DONE;
	}
	return ret;
}

static void submit_window_locked(struct store *s, struct wbuf *wb)
{
	int r;

	s->cur = NULL;
	if (wb->fill <= wb->written) {
		wb->state = WB_DONE;
		return;
	}
	memset(&wb->req, 0, sizeof(wb->req));
	wb->req.op = SIO_WRITE;
	wb->req.buf = wb->data + wb->written;
	wb->req.len = wb->fill - wb->written;
	wb->req.off = wb->foff + wb->written;
	wb->req.done = wb_done;
	wb->req.done_arg = wb;
	wb->state = WB_INFLIGHT;
	r = sio_wq_submit(s->wq, &wb->req);
	if (r) {
		wb->state = WB_ERR;
		wb->err = r;
	}
}

static struct wbuf *pick_buffer_locked(struct store *s)
{
	struct wbuf *best = NULL;

	for (unsigned i = 0; i < NWBUF; i++) {
		struct wbuf *wb = &s->wb[i];

		if (wb->state == WB_FREE)
			return wb;
		if (wb->state == WB_DONE && (!best || wb->age < best->age))
			best = wb;
	}
	return best;
}

static int open_window_locked(struct store *s, uint64_t win, uint32_t within)
{
	struct wbuf *wb;
	int r;

	for (;;) {
		unsigned inflight;

		wb = pick_buffer_locked(s);
		if (wb)
			break;
		inflight = sio_wq_inflight(s->wq);
		if (inflight) {
			sio_wq_drain(s->wq, inflight - 1);
			continue;
		}
		/* Every buffer holds data whose write failed: retry them. */
		r = retry_errs_locked(s);
		if (r)
			return r;
	}
	wb->foff = win;
	wb->fill = wb->written = wb->base = within;
	wb->min_lsn = s->next_lsn;
	wb->age = ++s->wb_age;
	wb->state = WB_FILLING;
	wb->err = 0;
	s->cur = wb;
	log_update_ondisk_locked(s);
	return 0;
}

/* Copy n bytes (zeros when src is NULL) at the head of the current segment. */
static int log_copy_locked(struct store *s, const void *src, size_t n)
{
	const uint8_t *p = src;

	while (n) {
		uint64_t foff = seg_foff(s, (uint64_t)s->head_seg) + s->head_off;
		uint64_t win = ALIGN_DOWN(foff, WBUF_SIZE);
		uint32_t within = (uint32_t)(foff - win);
		size_t c = MIN(n, (size_t)(WBUF_SIZE - within));
		int r;

		if (s->cur && s->cur->foff != win)
			submit_window_locked(s, s->cur);
		if (!s->cur) {
			r = open_window_locked(s, win, within);
			if (r)
				return r;
		}
		if (p) {
			memcpy(s->cur->data + within, p, c);
			p += c;
		} else {
			memset(s->cur->data + within, 0, c);
		}
		s->cur->fill = within + (uint32_t)c;
		s->head_off += (uint32_t)c;
		n -= c;
		if (within + c == WBUF_SIZE)
			submit_window_locked(s, s->cur);
	}
	return 0;
}

/*
 * Common case: the record fits in the current window.  Copy and checksum
 * in cache-sized steps so the payload is read from memory once, then patch
 * the checksum into the header already in the buffer.
 */
static bool emit_fast_locked(struct store *s, struct rec_hdr *h, const void *payload)
{
	uint64_t foff = seg_foff(s, (uint64_t)s->head_seg) + s->head_off;
	uint64_t win = ALIGN_DOWN(foff, WBUF_SIZE);
	uint32_t within = (uint32_t)(foff - win), rt = rec_total(h->len);
	const uint8_t *src = payload;
	XXH3_state_t st;
	uint8_t *dst;

	if (!s->cur || s->cur->foff != win || within + rt > WBUF_SIZE || h->type == REC_PAD)
		return false;
	dst = s->cur->data + within;
	h->csum = 0;
	rec_hdr_encode(h, dst);
	rec_csum_begin(&st, dst, s->seed);
	for (uint32_t o = 0; o < h->len; o += 32768) {
		uint32_t c = MIN(32768u, h->len - o);

		memcpy(dst + REC_HDR + o, src + o, c);
		rec_csum_update(&st, dst + REC_HDR + o, c);
	}
	memset(dst + REC_HDR + h->len, 0, rt - REC_HDR - h->len);
	h->csum = XXH3_64bits_digest(&st);
	put_le64(dst + 56, h->csum);
	s->cur->fill = within + rt;
	s->head_off += rt;
	if (within + rt == WBUF_SIZE)
		submit_window_locked(s, s->cur);
	return true;
}

static int emit_locked(struct store *s, struct rec_hdr *h, const void *payload)
{
	uint8_t hb[REC_HDR];
	uint32_t pad = rec_total(h->len) - REC_HDR - h->len;
	int r = 0;

	h->lsn = s->next_lsn;
	if (!s->cur && s->head_seg >= 0 && s->head_off < s->seg_size) {
		uint64_t foff = seg_foff(s, (uint64_t)s->head_seg) + s->head_off;

		r = open_window_locked(s, ALIGN_DOWN(foff, WBUF_SIZE),
				       (uint32_t)(foff - ALIGN_DOWN(foff, WBUF_SIZE)));
		if (r)
			return r;
	}
	if (emit_fast_locked(s, h, payload)) {
		s->next_lsn++;
		return 0;
	}
	h->csum = 0;
	rec_hdr_encode(h, hb);
	h->csum = rec_csum(hb, payload, h->len, s->seed);
	put_le64(hb + 56, h->csum);
	r = log_copy_locked(s, hb, REC_HDR);
	if (!r && h->len)
		r = log_copy_locked(s, h->type == REC_PAD ? NULL : payload, h->len);
	if (!r && pad)
		r = log_copy_locked(s, NULL, pad);
	s->next_lsn++;
	return r;
}

/* Fill the rest of the current block: a PAD record, or zeros if < 64 bytes. */
static int pad_block_locked(struct store *s)
{
	uint32_t rem = s->block - s->head_off % s->block;
	struct rec_hdr h = { .type = REC_PAD };
	int r;

	if (s->head_seg < 0 || rem == s->block)
		return 0;
	if (rem < REC_HDR)
		return log_copy_locked(s, NULL, rem);
	h.len = rem - REC_HDR;
	r = emit_locked(s, &h, NULL);
	return r;
}

/* Close the head segment: a PAD to its end; only up to the block is written. */
static int end_segment_locked(struct store *s)
{
	uint32_t rem = s->seg_size - s->head_off;
	struct rec_hdr h = { .type = REC_PAD };
	uint8_t hb[REC_HDR];
	int r;

	if (rem >= REC_HDR) {
		h.len = rem - REC_HDR;
		h.lsn = s->next_lsn++;
		rec_hdr_encode(&h, hb);
		put_le64(hb + 56, rec_csum(hb, NULL, 0, s->seed));
		r = log_copy_locked(s, hb, REC_HDR);
		if (r)
			return r;
		rem = s->block - s->head_off % s->block;
		if (rem != s->block) {
			r = log_copy_locked(s, NULL, rem);
			if (r)
				return r;
		}
	} else {
		r = log_copy_locked(s, NULL, rem);
		if (r)
			return r;
	}
	if (s->cur)
		submit_window_locked(s, s->cur);
	s->segs[s->head_seg].written = s->seg_size;
	s->head_off = s->seg_size;
	log_update_ondisk_locked(s);
	return 0;
}

static uint64_t count_free_locked(struct store *s)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < s->nseg; i++)
		n += seg_is_free_locked(s, i);
	return n;
}

/*
 * Open the next free segment as the head.  Its blocks first (space.c): a
 * segment the host has no room for is skipped (an allocated free one costs
 * nothing), and a put (not internal) also needs the reserve's segments to
 * have theirs.  -ENOSPC before anything is written when there is none.
 */
static int new_segment_locked(struct store *s, bool internal)
{
	uint64_t start = s->head_seg < 0 ? 0 : (uint64_t)s->head_seg + 1;
	struct seg_hdr sh = { .version = STORE_FORMAT_VERSION };
	bool full = false;

	for (uint64_t k = 0; k < s->nseg; k++) {
		uint64_t i = (start + k) % s->nseg;
		int r;

		if (!seg_is_free_locked(s, i))
			continue;
		r = space_alloc_seg(s, i);
		if (r == -ENOSPC) { /* another free segment may have its blocks */
			full = true;
			continue;
		}
		if (!r && !internal)
			r = space_reserve_locked(s, i);
		if (r == -ENOSPC) {
			full = true;
			break;
		}
		if (r)
			return r;
		s->head_seg = (int64_t)i;
		s->head_off = 0;
		s->segs[i].seq = s->next_seg_seq++;
		s->segs[i].written = s->block;
		s->segs[i].live = 0;
		s->segs[i].hdr_seq = s->segs[i].seq;
		memcpy(sh.uuid, s->sb.uuid, 16);
		sh.seq = s->segs[i].seq;
		sh.index = i;
		memset(s->seg_hdr_blk, 0, s->block);
		seg_hdr_encode(&sh, s->seg_hdr_blk);
		return log_copy_locked(s, s->seg_hdr_blk, s->block);
	}
	if (full)
		log_warn("%s: the file system holding the store is full", s->path);
	return -ENOSPC;
}

/* Where the next header goes, after the "< 64 bytes left in a block" skip. */
static uint32_t next_pos(const struct store *s)
{
	uint32_t rem = s->block - s->head_off % s->block;

	return rem < REC_HDR ? s->head_off + rem : s->head_off;
}

int log_room_locked(struct store *s, uint32_t len, bool internal)
{
	uint64_t need = 1, fr;

	if (s->head_seg >= 0 && (uint64_t)next_pos(s) + rec_total(len) <= s->seg_size)
		return 0;
	fr = count_free_locked(s);
	if (!internal)
		need += cp_reserve_bytes_locked(s) / (s->seg_size - s->block) + 1;
	return fr >= need ? 0 : -ENOSPC;
}

int log_append_locked(struct store *s, struct rec_hdr *h, const void *payload, bool internal,
		      uint32_t *seg, uint32_t *off)
{
	uint32_t rt = rec_total(h->len);
	int r;

	r = log_room_locked(s, h->len, internal);
	if (r)
		return r;
	if (s->broken)
		return s->broken;
	if (s->head_seg >= 0 && next_pos(s) != s->head_off) {
		r = log_copy_locked(s, NULL, next_pos(s) - s->head_off);
		if (r)
			goto broken;
	}
	if (s->head_seg >= 0 && (uint64_t)s->head_off + rt > s->seg_size) {
		r = end_segment_locked(s);
		if (r)
			goto broken;
	}
	if (s->head_seg < 0 || s->head_off >= s->seg_size) {
		r = new_segment_locked(s, internal);
		/* No room on the host: nothing of the record was written. */
		if (r == -ENOSPC)
			return r;
		if (r)
			goto broken;
	}
	*seg = (uint32_t)s->head_seg;
	*off = s->head_off;
	r = emit_locked(s, h, payload);
	if (r)
		goto broken;
	s->segs[s->head_seg].written = s->head_off;
	log_update_ondisk_locked(s);
	return 0;
broken:
	/* A half-copied record cannot be taken back: refuse further writes. */
	s->broken = r;
	log_err("%s: log append failed, store is read-only until reopened: %s", s->path,
		strerror(-r));
	return r;
}

int log_sync_locked(struct store *s)
{
	uint64_t target = s->next_lsn;
	struct wbuf *wb;
	int r, ret = 0;

	if (s->read_only)
		return 0;
	if (s->cur && !s->broken) {
		r = pad_block_locked(s);
		if (r) {
			s->broken = r;
			return r;
		}
		if (s->head_seg >= 0)
			s->segs[s->head_seg].written = s->head_off;
	}
	wb = s->cur;
	if (wb && wb->fill > wb->written) {
		struct sio_req req = {
			.op = SIO_WRITE,
			.buf = wb->data + wb->written,
			.len = wb->fill - wb->written,
			.off = wb->foff + wb->written,
		};

		r = sio_run(s->io, &req, 1);
		if (r) {
			log_err("%s: write of %zu bytes at offset %llu failed: %s", s->path,
				req.len, (unsigned long long)req.off, strerror(-r));
			ret = r;
		} else {
			wb->written = wb->fill;
		}
	}
	sio_wq_drain(s->wq, 0);
	r = retry_errs_locked(s);
	if (r && !ret)
		ret = r;
	if (!ret) {
		r = sio_sync(s->io);
		if (r) {
			log_err("%s: fdatasync failed: %s", s->path, strerror(-r));
			ret = r;
		} else {
			s->synced_lsn = target;
		}
	}
	log_update_ondisk_locked(s);
	return ret;
}

int log_read_locked(struct store *s, uint64_t foff, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		uint64_t win = ALIGN_DOWN(foff, WBUF_SIZE);
		uint32_t within = (uint32_t)(foff - win);
		size_t c = MIN(len, (size_t)(WBUF_SIZE - within));
		struct wbuf *wb = NULL;
		int r;

		for (unsigned i = 0; i < NWBUF; i++) {
			struct wbuf *w = &s->wb[i];

			if (w->state != WB_FREE && w->foff == win && within >= w->base &&
			    within + c <= w->fill) {
				wb = w;
				break;
			}
		}
		if (wb) {
			memcpy(d, wb->data + within, c);
		} else {
			/* Recycled windows are on disk (only DONE ones are recycled). */
			r = strata_pread_full(s->dev.fd, d, c, (off_t)foff);
			if (r)
				return r;
		}
		d += c;
		foff += c;
		len -= c;
	}
	return 0;
}
