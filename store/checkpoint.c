// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoints: the index and the segment table written into the log as
 * CP_INDEX / CP_SEGTAB pages, tied together by a CP_COMMIT record, and
 * published by writing a slot (A for odd generations, B for even ones).
 * Opening reads the pages instead of the log, then rolls forward from the
 * commit record.  The previous checkpoint stays usable until the next one
 * is published (its segments are pinned through pin_seq), so a torn slot
 * write falls back to the older slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

struct pageref {
	uint32_t seg, off, len;
	uint16_t type;
};

struct cp_writer {
	struct store *s;
	uint8_t *page;
	uint32_t page_max;
	uint32_t fill;
	uint32_t npages;
	uint32_t idx_pages;
	struct pageref *refs;
	uint32_t nrefs, caprefs;
	uint64_t start_seq;
};

static uint32_t cp_page_max(const struct store *s)
{
	size_t m = MIN((size_t)CP_PAGE_MAX, store_max_record_internal(s->seg_size, s->block));

	return (uint32_t)ALIGN_DOWN(m, CP_ENT_SIZE);
}

static int cp_flush_page(struct cp_writer *w, uint16_t type, uint32_t user)
{
	struct rec_hdr h = { .type = type, .len = w->fill, .user = user };
	uint32_t seg, off;
	int r;

	if (w->nrefs == w->caprefs) {
		uint32_t nc = w->caprefs ? w->caprefs * 2 : 16;
		struct pageref *n = realloc(w->refs, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->refs = n;
		w->caprefs = nc;
	}
	r = log_append_locked(w->s, &h, w->page, true, &seg, &off);
	if (r)
		return r;
	if (!w->nrefs)
		w->start_seq = w->s->segs[seg].seq;
	w->refs[w->nrefs++] = (struct pageref){ seg, off, w->fill, type };
	w->fill = 0;
	return 0;
}

static void enc_ent(const struct idx_ent *e, uint8_t *p)
{
	memset(p, 0, CP_ENT_SIZE);
	memcpy(p, e->key, STORE_KEY_LEN);
	put_le32(p + 32, e->seg);
	put_le32(p + 36, e->off);
	put_le32(p + 40, e->len);
	put_le16(p + 44, e->type);
	put_le16(p + 46, e->flags);
	put_le32(p + 48, e->user);
	p[52] = e->loc;
	put_le64(p + 56, e->lsn);
}

static void dec_ent(const uint8_t *p, struct idx_ent *e)
{
	memcpy(e->key, p, STORE_KEY_LEN);
	e->seg = get_le32(p + 32);
	e->off = get_le32(p + 36);
	e->len = get_le32(p + 40);
	e->type = get_le16(p + 44);
	e->flags = get_le16(p + 46);
	e->user = get_le32(p + 48);
	e->loc = p[52];
	e->lsn = get_le64(p + 56);
}

int cp_write_locked(struct store *s)
{
	struct cp_writer w = { .s = s };
	uint64_t gen = s->cp_gen + 1;
	uint8_t *commit = NULL, *blk = NULL;
	struct rec_hdr h = { .type = REC_CP_COMMIT };
	struct cp_slot slot = { .gen = gen };
	uint32_t cseg, coff, clen;
	uint32_t page_no = 0;
	int r;

	if (s->read_only)
		return -EROFS;
	if (s->broken)
		return s->broken;
	r = log_sync_locked(s);
	if (r)
		return r;
	w.page_max = cp_page_max(s);
	w.page = malloc(w.page_max);
	if (!w.page)
		return -ENOMEM;

	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		struct idx_ent *a;
		uint32_t n;

		r = idx_snapshot_shard(&s->idx, i, &a, &n);
		if (r)
			goto out;
		for (uint32_t k = 0; k < n && !r; k++) {
			enc_ent(&a[k], w.page + w.fill);
			w.fill += CP_ENT_SIZE;
			if (w.fill + CP_ENT_SIZE > w.page_max)
				r = cp_flush_page(&w, REC_CP_INDEX, page_no++);
		}
		free(a);
		if (r)
			goto out;
	}
	if (w.fill) {
		r = cp_flush_page(&w, REC_CP_INDEX, page_no++);
		if (r)
			goto out;
	}
	/* The segment table as it is now; pages written from here on are
	 * found again through the segment headers at open. */
	{
		uint64_t first = 0;

		for (uint64_t i = 0; i < s->nseg; i++) {
			const struct seginfo *g = &s->segs[i];
			uint8_t *p = w.page + w.fill;

			put_le64(p, g->seq);
			put_le32(p + 8, (int64_t)i == s->head_seg ? s->head_off : g->written);
			put_le32(p + 12, g->live);
			w.fill += CP_SEG_SIZE;
			if (w.fill + CP_SEG_SIZE > w.page_max || i + 1 == s->nseg) {
				r = cp_flush_page(&w, REC_CP_SEGTAB, (uint32_t)first);
				if (r)
					goto out;
				first = i + 1;
			}
		}
	}

	clen = CP_COMMIT_FIXED + w.nrefs * CP_PAGEREF_SIZE;
	commit = calloc(1, clen);
	if (!commit) {
		r = -ENOMEM;
		goto out;
	}
	put_le64(commit, gen);
	put_le64(commit + 8, s->next_seg_seq);
	put_le64(commit + 16, w.start_seq);
	put_le64(commit + 24, s->cp_start_seq);
	put_le64(commit + 32, s->nrecords);
	put_le64(commit + 40, s->nseg);
	put_le32(commit + 48, w.nrefs);
	for (uint32_t i = 0; i < w.nrefs; i++) {
		uint8_t *p = commit + CP_COMMIT_FIXED + i * CP_PAGEREF_SIZE;

		put_le32(p, w.refs[i].seg);
		put_le32(p + 4, w.refs[i].off);
		put_le32(p + 8, w.refs[i].len);
		put_le16(p + 12, w.refs[i].type);
	}
	h.len = clen;
	r = log_append_locked(s, &h, commit, true, &cseg, &coff);
	if (r)
		goto out;
	r = log_sync_locked(s);
	if (r)
		goto out;

	slot.seg = cseg;
	slot.off = coff;
	slot.len = clen;
	slot.lsn = h.lsn;
	memcpy(slot.uuid, s->sb.uuid, 16);
	if (posix_memalign((void **)&blk, MAX(s->dev.align, s->block), s->block)) {
		r = -ENOMEM;
		goto out;
	}
	memset(blk, 0, s->block);
	slot_encode(&slot, blk);
	{
		struct sio_req req = {
			.op = SIO_WRITE,
			.buf = blk,
			.len = s->block,
			.off = (gen & 1) ? s->block : 2ull * s->block,
		};

		r = sio_run(s->io, &req, 1);
		if (!r)
			r = sio_sync(s->io);
		if (r) {
			log_err("%s: writing checkpoint slot %c failed: %s", s->path,
				(gen & 1) ? 'A' : 'B', strerror(-r));
			goto out;
		}
	}
	s->pin_seq = s->cp_start_seq;
	s->cp_start_seq = w.start_seq;
	s->cp_gen = gen;
	s->appended_since_cp = 0;
	s->dirty = false;
	log_debug("%s: checkpoint %llu: %u pages, %llu records", s->path,
		  (unsigned long long)gen, w.nrefs, (unsigned long long)s->nrecords);
out:
	free(blk);
	free(commit);
	free(w.refs);
	free(w.page);
	return r;
}

/* Try one slot: read and verify its commit and pages, then apply them. */
static int cp_try(struct store *s, const struct cp_slot *c)
{
	struct rd_req cr = { 0 }, *pr = NULL;
	uint8_t *arena = NULL, *parena = NULL, *cp;
	uint64_t gen, next_seg_seq, start_seq, prev_start_seq, nrec, nseg, nents = 0;
	uint32_t npages;
	int r;

	if (memcmp(c->uuid, s->sb.uuid, 16) || c->seg >= s->nseg ||
	    (uint64_t)c->off + rec_total(c->len) > s->seg_size || c->len < CP_COMMIT_FIXED)
		return -EINVAL;
	cr.foff = seg_foff(s, c->seg) + c->off;
	cr.len = c->len;
	r = store_read_recs(s, &cr, 1, &arena);
	if (r || cr.res) {
		r = cr.res ? cr.res : r;
		goto out;
	}
	if (get_le16(cr.rec + 4) != REC_CP_COMMIT || get_le64(cr.rec + 16) != c->lsn) {
		r = -EINVAL;
		goto out;
	}
	cp = cr.rec + REC_HDR;
	gen = get_le64(cp);
	next_seg_seq = get_le64(cp + 8);
	start_seq = get_le64(cp + 16);
	prev_start_seq = get_le64(cp + 24);
	nrec = get_le64(cp + 32);
	nseg = get_le64(cp + 40);
	npages = get_le32(cp + 48);
	if (gen != c->gen || nseg != s->nseg ||
	    CP_COMMIT_FIXED + (uint64_t)npages * CP_PAGEREF_SIZE != c->len) {
		r = -EINVAL;
		goto out;
	}
	pr = calloc(npages ? npages : 1, sizeof(*pr));
	if (!pr) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < npages; i++) {
		const uint8_t *p = cp + CP_COMMIT_FIXED + i * CP_PAGEREF_SIZE;
		uint32_t seg = get_le32(p), off = get_le32(p + 4), len = get_le32(p + 8);

		if (seg >= s->nseg || (uint64_t)off + rec_total(len) > s->seg_size) {
			r = -EINVAL;
			goto out;
		}
		pr[i].foff = seg_foff(s, seg) + off;
		pr[i].len = len;
	}
	r = store_read_recs(s, pr, npages, &parena);
	if (r)
		goto out;
	for (uint32_t i = 0; i < npages; i++) {
		uint16_t type = get_le16(cp + CP_COMMIT_FIXED + i * CP_PAGEREF_SIZE + 12);

		if (pr[i].res || get_le16(pr[i].rec + 4) != type ||
		    (type == REC_CP_INDEX && pr[i].len % CP_ENT_SIZE) ||
		    (type == REC_CP_SEGTAB &&
		     (pr[i].len % CP_SEG_SIZE ||
		      get_le32(pr[i].rec + 12) + (uint64_t)pr[i].len / CP_SEG_SIZE > s->nseg)) ||
		    (type != REC_CP_INDEX && type != REC_CP_SEGTAB)) {
			r = pr[i].res ? pr[i].res : -EINVAL;
			goto out;
		}
		if (type == REC_CP_INDEX)
			nents += pr[i].len / CP_ENT_SIZE;
	}
	/* Everything verified: apply, into an index sized for it at once. */
	r = idx_reserve(&s->idx, nents);
	if (r)
		goto out;
	for (uint32_t i = 0; i < npages; i++) {
		const uint8_t *pl = pr[i].rec + REC_HDR;

		if (get_le16(pr[i].rec + 4) == REC_CP_INDEX) {
			for (uint32_t k = 0; k < pr[i].len; k += CP_ENT_SIZE) {
				struct idx_ent e;
				bool rep;

				dec_ent(pl + k, &e);
				if (!e.type || e.type > STORE_REC_USER_MAX || e.seg >= s->nseg ||
				    (uint64_t)e.off + rec_total(e.len) > s->seg_size) {
					r = -EINVAL;
					goto out;
				}
				r = idx_put(&s->idx, &e, NULL, &rep);
				if (r)
					goto out;
			}
		} else {
			uint32_t first = get_le32(pr[i].rec + 12);

			for (uint32_t k = 0; k < pr[i].len / CP_SEG_SIZE; k++) {
				struct seginfo *g = &s->segs[first + k];
				const uint8_t *p = pl + k * CP_SEG_SIZE;

				g->seq = get_le64(p);
				g->written = get_le32(p + 8);
				g->live = get_le32(p + 12);
			}
		}
	}
	s->nrecords = nrec;
	s->cp_gen = gen;
	s->cp_start_seq = start_seq;
	s->pin_seq = prev_start_seq;
	s->next_seg_seq = next_seg_seq;
	/*
	 * Segments that received this checkpoint's later pages, or the log
	 * after it, may be newer than the table: trust their headers.
	 */
	for (uint64_t i = 0; i < s->nseg; i++) {
		struct seginfo *g = &s->segs[i];

		if (g->hdr_seq >= start_seq && g->hdr_seq != g->seq) {
			g->seq = g->hdr_seq;
			g->live = 0;
			g->written = s->seg_size;
		}
	}
	r = 0;
out:
	if (r) {
		/* Leave nothing half-applied for the next candidate. */
		idx_free(&s->idx);
		idx_init(&s->idx);
		memset(s->segs, 0, s->nseg * sizeof(*s->segs));
	}
	free(arena);
	free(parena);
	free(pr);
	return r;
}

/* Read and decode both checkpoint slots (A, B): rc[i] as slot_decode(). */
static void slots_read(struct store *s, struct cp_slot c[2], int rc[2])
{
	uint8_t buf[SLOT_SIZE];

	for (int i = 0; i < 2; i++) {
		rc[i] = strata_pread_full(s->dev.fd, buf, SLOT_SIZE, (off_t)(i + 1) * s->block);
		if (!rc[i])
			rc[i] = slot_decode(buf, &c[i]);
	}
}

/* The higher generation of the valid slots of this store (0: none). */
static uint64_t slots_gen(const struct store *s, const struct cp_slot c[2], const int rc[2])
{
	uint64_t gen = 0;

	for (int i = 0; i < 2; i++)
		if (!rc[i] && !memcmp(c[i].uuid, s->sb.uuid, 16) && c[i].gen > gen)
			gen = c[i].gen;
	return gen;
}

uint64_t cp_newest_gen(struct store *s)
{
	struct cp_slot c[2];
	int rc[2];

	slots_read(s, c, rc);
	return slots_gen(s, c, rc);
}

int cp_load(struct store *s, uint32_t *seg, uint32_t *off, uint64_t *lsn)
{
	struct cp_slot c[2];
	int rc[2], order[2] = { 0, 1 };
	uint64_t *hdr_seq;

	slots_read(s, c, rc);
	/* Read before the index is loaded: a checkpoint published meanwhile
	 * shows as a change to a read-only handle's view (view.c). */
	s->view_gen = slots_gen(s, c, rc);
	s->cp_fresh = rc[0] == -ENOENT && rc[1] == -ENOENT;
	if (!rc[0] && !rc[1] && c[1].gen > c[0].gen) {
		order[0] = 1;
		order[1] = 0;
	}
	/* cp_try clears segs on failure; keep the header seqs. */
	hdr_seq = malloc(s->nseg * sizeof(*hdr_seq));
	if (!hdr_seq)
		return -ENOMEM;
	for (uint64_t i = 0; i < s->nseg; i++)
		hdr_seq[i] = s->segs[i].hdr_seq;
	for (int k = 0; k < 2; k++) {
		int i = order[k], r;

		if (rc[i])
			continue;
		r = cp_try(s, &c[i]);
		for (uint64_t j = 0; j < s->nseg; j++)
			s->segs[j].hdr_seq = hdr_seq[j];
		if (!r) {
			free(hdr_seq);
			*seg = c[i].seg;
			*off = c[i].off;
			*lsn = c[i].lsn;
			return 0;
		}
		log_warn("%s: checkpoint %llu (slot %c) unusable: %s", s->path,
			 (unsigned long long)c[i].gen, i ? 'B' : 'A', strerror(-r));
	}
	free(hdr_seq);
	return -ENOENT;
}
