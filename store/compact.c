// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Segment compaction (space reclaim, called by `strata gc`).  The algorithm
 * and why it is crash-safe are in store/DESIGN.md and strata-store(5),
 * section "Compaction".  In short:
 *
 *  1. Under log_lock: pick victims (closed segments, most dead bytes first,
 *     all older than the current checkpoint's first page, writing one first
 *     when needed) and flag them `cleaning`, so the appender cannot reuse
 *     them however empty they get.
 *  2. Read each victim whole through the io_uring engine (batched 1 MiB
 *     reads; nothing in it changes any more) and walk its records.  Under
 *     log_lock, in small batches: a record the index still names at this
 *     very place is appended again at the head (same key, type, flags, user
 *     word, payload; the next lsn, as the log demands) and the index entry
 *     is switched to the copy; a tombstone is copied forward only while an
 *     older record of its key may survive in a segment a full log scan
 *     would read.
 *  3. Checkpoint (which syncs the moves first), then zero the headers of the
 *     victims that are now free, so no full scan reads them again, and only
 *     then clear `cleaning`.
 *
 * Lock order as everywhere in store/: log_lock -> index shard lock.  Reads
 * of the victims and the header writes run without any lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

#define COMPACT_DEFAULT_MIN 0.25
#define MOVE_BATCH_RECS 64u		/* records moved per log_lock hold */
#define MOVE_BATCH_BYTES (1u << 20)	/* bytes moved per log_lock hold */
#define READ_PIECE (1u << 20)

struct victim {
	uint64_t seg;
	uint64_t seq;
	uint32_t live;		/* at selection, for ordering and the budget */
	uint32_t written;	/* records end here */
	uint32_t pos;		/* next record to look at */
	bool started;
	bool done;		/* every record looked at */
	bool bad;		/* stopped at an unreadable record */
	bool released;		/* cleaning cleared */
};

static int cmp_victim(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	if (x->live != y->live)
		return x->live < y->live ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool candidate_locked(const struct store *s, uint64_t i, uint32_t min_dead)
{
	const struct seginfo *g = &s->segs[i];

	if ((int64_t)i == s->head_seg || !g->seq)
		return false;
	/* Left flagged by a compaction whose checkpoint failed: finish it. */
	if (g->cleaning)
		return true;
	if (seg_is_free_locked(s, i))
		return false;
	return s->seg_size - g->live >= min_dead;
}

/*
 * Choose and flag the victims.  Only segments older than the current
 * checkpoint's first page qualify: after the checkpoint compaction writes
 * at the end they are below pin_seq, so they become free at once and no
 * usable checkpoint's roll-forward passes through them.  When a candidate
 * is newer, a checkpoint is written first to move that boundary to the
 * head (it also syncs, so every victim is wholly on disk).
 */
static int select_locked(struct store *s, double min, struct victim **out, unsigned *nout)
{
	double want = min * s->seg_size;
	uint32_t min_dead = (uint32_t)want + ((double)(uint32_t)want < want);
	struct victim *v;
	unsigned n = 0;
	bool newer = false;
	int r;

	*out = NULL;
	*nout = 0;
	for (uint64_t i = 0; i < s->nseg; i++)
		if (candidate_locked(s, i, min_dead) && s->segs[i].seq >= s->cp_start_seq)
			newer = true;
	r = newer ? cp_write_locked(s) : log_sync_locked(s);
	if (r)
		return r;
	for (uint64_t i = 0; i < s->nseg; i++)
		n += candidate_locked(s, i, min_dead) && s->segs[i].seq < s->cp_start_seq;
	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (uint64_t i = 0; i < s->nseg; i++) {
		struct seginfo *g = &s->segs[i];

		if (!candidate_locked(s, i, min_dead) || g->seq >= s->cp_start_seq)
			continue;
		g->cleaning = true;
		v[n].seg = i;
		v[n].seq = g->seq;
		v[n].live = g->live;
		v[n].written = MIN(g->written, s->seg_size);
		v[n].pos = s->block;
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_victim);
	*out = v;
	*nout = n;
	return 0;
}

/* Read a victim whole: nothing writes to it while it is flagged. */
static int read_segment(struct store *s, uint64_t seg, uint8_t *buf, uint32_t len)
{
	unsigned n = (len + READ_PIECE - 1) / READ_PIECE;
	struct sio_req *req = calloc(n, sizeof(*req));
	int r;

	if (!req)
		return -ENOMEM;
	for (unsigned k = 0; k < n; k++) {
		req[k].op = SIO_READ;
		req[k].buf = buf + (size_t)k * READ_PIECE;
		req[k].len = MIN((uint32_t)READ_PIECE, len - k * READ_PIECE);
		req[k].off = seg_foff(s, seg) + (uint64_t)k * READ_PIECE;
	}
	r = sio_run(s->io, req, n);
	free(req);
	if (r)
		log_err("%s: compaction: reading segment %llu: %s", s->path,
			(unsigned long long)seg, strerror(-r));
	return r;
}

static uint64_t count_free_locked(const struct store *s)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < s->nseg; i++)
		n += seg_is_free_locked(s, i);
	return n;
}

/*
 * May a record of payload len be moved and still leave room for the
 * checkpoint that has to follow?  Like a put's reserve, except that room
 * left in the head segment counts too: that is what lets a store whose
 * puts fail with ENOSPC be compacted.
 */
static bool room_ok_locked(const struct store *s, uint32_t len, uint64_t nfree)
{
	uint64_t usable = s->seg_size - s->block, reserve = cp_reserve_bytes_locked(s);
	uint64_t rt = rec_total(len), hr, fs;
	uint32_t pos = s->head_off;

	if (s->head_seg >= 0 && s->block - pos % s->block < REC_HDR)
		pos += s->block - pos % s->block;
	if (s->head_seg >= 0 && (uint64_t)pos + rt <= s->seg_size) {
		hr = s->seg_size - pos - rt;
		fs = nfree;
	} else {
		if (!nfree)
			return false;
		hr = usable - rt;
		fs = nfree - 1;
	}
	return hr >= reserve || fs >= reserve / usable + 1;
}

/* Could a segment other than x, older than x, hold an older record of a key? */
static bool older_scannable_locked(const struct store *s, const struct victim *x)
{
	for (uint64_t i = 0; i < s->nseg; i++)
		if (i != x->seg && s->segs[i].hdr_seq && s->segs[i].hdr_seq < x->seq)
			return true;
	return false;
}

/* Parse and verify the record at pos of a segment image; 0 or -EINVAL. */
static int parse_rec(const struct store *s, const uint8_t *buf, uint32_t pos, uint32_t end,
		     struct rec_hdr *h)
{
	if ((uint64_t)pos + REC_HDR > end || rec_hdr_decode(buf + pos, h) ||
	    (uint64_t)pos + rec_total(h->len) > s->seg_size)
		return -EINVAL;
	if (h->type == REC_PAD)
		return rec_csum(buf + pos, NULL, 0, s->seed) == h->csum ? 0 : -EINVAL;
	return rec_verify(buf + pos, s->seed) ? -EINVAL : 0;
}

/* Append a copy of a record (or tombstone) at the head; log_lock held. */
static int copy_locked(struct store *s, const struct rec_hdr *h, const uint8_t *payload,
		       uint32_t *seg, uint32_t *off, uint64_t *lsn)
{
	struct rec_hdr nh = { .type = h->type, .flags = h->flags, .len = h->len,
			      .user = h->user };
	int r;

	memcpy(nh.key, h->key, STORE_KEY_LEN);
	r = log_append_locked(s, &nh, payload, true, seg, off);
	if (r)
		return r;
	*lsn = nh.lsn;
	s->appended_since_cp += rec_total(h->len);
	s->dirty = true;
	return 0;
}

/*
 * Move up to one batch of x's records, holding log_lock for the batch so
 * that the "is it still live here?" check, the append and the index switch
 * are one step for concurrent put/delete.  Returns 0 (x->done says whether
 * the segment is finished), -ENOSPC when the next record does not fit, or
 * the append's -errno.
 */
static int move_batch(struct store *s, struct victim *x, const uint8_t *buf,
		      struct store_compact_report *rep, uint64_t *moved_since_cp)
{
	unsigned nrec = 0;
	uint64_t nbytes = 0, nfree;
	bool older;
	int r = 0;

	pthread_mutex_lock(&s->log_lock);
	if (s->broken) {
		r = s->broken;
		goto out;
	}
	nfree = count_free_locked(s);
	older = older_scannable_locked(s, x);
	while (nrec < MOVE_BATCH_RECS && nbytes < MOVE_BATCH_BYTES) {
		uint32_t pos = x->pos, seg, off;
		int64_t head = s->head_seg;
		struct rec_hdr h;
		struct idx_ent e;
		uint64_t lsn;

		if (s->block - pos % s->block < REC_HDR)
			pos += s->block - pos % s->block;
		if (pos >= x->written) {
			x->done = true;
			break;
		}
		if (parse_rec(s, buf, pos, x->written, &h)) {
			/*
			 * Live records past this point stay (the segment stays in
			 * use).  With none left this is only where the log of a
			 * crashed run ended inside the segment.
			 */
			if (s->segs[x->seg].live)
				log_warn("%s: compaction: unreadable record at segment %llu "
					 "offset %u; leaving the rest of the segment",
					 s->path, (unsigned long long)x->seg, pos);
			x->done = true;
			x->bad = true;
			break;
		}
		if (h.type >= 1 && h.type <= STORE_REC_USER_MAX) {
			if (idx_get(&s->idx, h.key, &e) || e.seg != x->seg || e.off != pos ||
			    e.lsn != h.lsn)
				goto next; /* dead: deleted or replaced */
			if (!room_ok_locked(s, h.len, nfree)) {
				r = -ENOSPC;
				break;
			}
			r = copy_locked(s, &h, buf + pos + REC_HDR, &seg, &off, &lsn);
			if (r)
				break;
			e.seg = seg;
			e.off = off;
			e.lsn = lsn;
			{
				bool rep_;

				r = idx_put(&s->idx, &e, NULL, &rep_);
			}
			if (r) {
				s->broken = r;
				break;
			}
			s->segs[x->seg].live -= rec_total(h.len);
			s->segs[seg].live += rec_total(h.len);
			rep->records_moved++;
			rep->bytes_moved += rec_total(h.len);
			nbytes += rec_total(h.len);
			(*moved_since_cp)++;
		} else if (h.type == REC_TOMB) {
			/*
			 * A live key: its record is newer than every older one in
			 * any scan order, so this tombstone shadows nothing.  No
			 * older segment a full scan reads: nothing left to shadow
			 * (records in this segment go with it).
			 */
			if (!idx_get(&s->idx, h.key, NULL) || !older) {
				rep->tombstones_dropped++;
				goto next;
			}
			if (!room_ok_locked(s, 0, nfree)) {
				r = -ENOSPC;
				break;
			}
			r = copy_locked(s, &h, NULL, &seg, &off, &lsn);
			if (r)
				break;
			rep->tombstones_kept++;
			rep->bytes_moved += REC_HDR;
			nbytes += REC_HDR;
			(*moved_since_cp)++;
		}
next:
		if (s->head_seg != head && nfree)
			nfree--;
		x->pos = pos + rec_total(h.len);
		nrec++;
	}
out:
	pthread_mutex_unlock(&s->log_lock);
	return r;
}

/*
 * Make the moves durable and release the victims that are finished (all
 * when `all`): checkpoint, zero the headers of those now free, then clear
 * their flags.  On a checkpoint failure the flags stay: those segments are
 * not reused before a later compaction (or a reopen) has made the moves
 * durable.
 */
static int commit(struct store *s, struct victim *v, unsigned nv, bool all,
		  struct store_compact_report *rep)
{
	uint32_t al = MAX(s->dev.align, s->block);
	struct sio_req *req = NULL;
	bool *inval = NULL;
	uint8_t *zero = NULL;
	unsigned ni = 0;
	int r, w = 0;

	inval = calloc(nv ? nv : 1, sizeof(*inval));
	req = calloc(nv ? nv : 1, sizeof(*req));
	if (!inval || !req || posix_memalign((void **)&zero, al, s->block)) {
		r = -ENOMEM;
		goto out;
	}
	memset(zero, 0, s->block);
	pthread_mutex_lock(&s->log_lock);
	r = cp_write_locked(s);
	if (r) {
		pthread_mutex_unlock(&s->log_lock);
		log_err("%s: compaction: checkpoint failed, emptied segments stay reserved: %s",
			s->path, strerror(-r));
		goto out;
	}
	for (unsigned i = 0; i < nv; i++) {
		struct victim *x = &v[i];
		const struct seginfo *g = &s->segs[x->seg];

		if (x->released || (!all && !x->done))
			continue;
		/* Free once the flag goes: nothing needs its bytes any more. */
		if (x->done && !x->bad && !g->live && g->seq < s->pin_seq && g->hdr_seq) {
			inval[i] = true;
			req[ni].op = SIO_WRITE;
			req[ni].buf = zero;
			req[ni].len = s->block;
			req[ni].off = seg_foff(s, x->seg);
			ni++;
		}
	}
	pthread_mutex_unlock(&s->log_lock);
	/* Still flagged: the appender cannot be writing these headers. */
	if (ni) {
		w = sio_run(s->io, req, ni);
		if (!w)
			w = sio_sync(s->io);
		if (w)
			log_warn("%s: compaction: invalidating segment headers: %s", s->path,
				 strerror(-w));
	}
	pthread_mutex_lock(&s->log_lock);
	for (unsigned i = 0; i < nv; i++) {
		struct victim *x = &v[i];
		struct seginfo *g = &s->segs[x->seg];

		if (x->released || (!all && !x->done))
			continue;
		/* A failed header write leaves it readable by a scan: keep saying so. */
		if (inval[i] && !w)
			g->hdr_seq = 0;
		g->cleaning = false;
		x->released = true;
		if (x->done && !x->bad && !g->live)
			rep->segments_cleaned++;
		if (seg_is_free_locked(s, x->seg)) {
			rep->segments_freed++;
			rep->bytes_freed += s->seg_size;
		}
	}
	pthread_mutex_unlock(&s->log_lock);
out:
	free(zero);
	free(req);
	free(inval);
	return r;
}

int store_compact(struct store *s, const struct store_compact_opts *o,
		  struct store_compact_report *out)
{
	struct store_compact_report rep = { 0 };
	double min = COMPACT_DEFAULT_MIN;
	uint64_t budget = 0, moved_since_cp = 0;
	struct victim *v = NULL;
	uint8_t *buf = NULL;
	unsigned nv = 0;
	int r, c;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	if (o) {
		if (o->min_reclaim != 0 && !(o->min_reclaim > 0 && o->min_reclaim <= 1))
			return -EINVAL;
		if (o->min_reclaim)
			min = o->min_reclaim;
		budget = o->max_bytes;
	}
	if (s->read_only)
		return -EROFS;
	pthread_mutex_lock(&s->log_lock);
	r = s->broken;
	if (!r && s->compacting)
		r = -EBUSY;
	if (!r) {
		s->compacting = true;
		r = select_locked(s, min, &v, &nv);
		if (r)
			s->compacting = false;
	}
	pthread_mutex_unlock(&s->log_lock);
	if (r)
		return r;
	rep.segments_scanned = nv;
	if (!nv)
		goto done;
	if (posix_memalign((void **)&buf, MAX(s->dev.align, s->block), s->seg_size)) {
		r = -ENOMEM;
		goto finish;
	}
	for (unsigned i = 0; i < nv && !r; i++) {
		struct victim *x = &v[i];

		/* Over budget: leave it (its flag goes at the final commit). */
		if (budget && rep.bytes_moved + x->live > budget)
			continue;
		x->started = true;
		r = read_segment(s, x->seg, buf, x->written);
		if (r)
			break;
		while (!x->done) {
			r = move_batch(s, x, buf, &rep, &moved_since_cp);
			if (!r)
				continue;
			/* Out of room: make what moved durable, free the finished
			 * victims, and go on while that makes progress. */
			if (r != -ENOSPC || !moved_since_cp)
				break;
			r = commit(s, v, nv, false, &rep);
			moved_since_cp = 0;
			if (r)
				break;
		}
		if (r == -ENOSPC) {
			/* Keep what was freed; report ENOSPC only if nothing was. */
			log_info("%s: compaction: out of room in segment %llu", s->path,
				 (unsigned long long)x->seg);
			break;
		}
		if (!r && o && o->progress && o->progress(o->progress_arg, &rep, nv))
			r = -ECANCELED;
	}
finish:
	c = commit(s, v, nv, true, &rep);
	if (!r || (r == -ENOSPC && rep.segments_freed))
		r = c;
done:
	pthread_mutex_lock(&s->log_lock);
	s->compacting = false;
	pthread_mutex_unlock(&s->log_lock);
	if (!r || r == -ECANCELED)
		log_info("%s: compaction: %llu segments cleaned, %llu freed, %llu records "
			 "(%llu bytes) moved, %llu tombstones kept, %llu dropped",
			 s->path, (unsigned long long)rep.segments_cleaned,
			 (unsigned long long)rep.segments_freed,
			 (unsigned long long)rep.records_moved,
			 (unsigned long long)rep.bytes_moved,
			 (unsigned long long)rep.tombstones_kept,
			 (unsigned long long)rep.tombstones_dropped);
	free(buf);
	free(v);
	if (out)
		*out = rep;
	return r;
}
