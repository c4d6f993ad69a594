// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Recovery: roll the log forward from a checkpoint's commit record, or
 * rebuild everything from the segments when no checkpoint is usable.  The
 * log ends at the first record whose magic, lsn, bounds or checksum is
 * wrong; what follows is the torn tail and is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

/*
 * Segment headers read per batch.  The batch buffer is new memory, and on
 * virtual machines the first touch of a page can cost more than reading
 * it (about 12 us here): a small buffer reused beats one large batch.
 */
#define HDR_BATCH 32u

/*
 * Whether the header block at off of a store file may hold data: false
 * only for a hole (a segment never written, or discarded), which reads
 * as zeros.  Stores are sparse files, mostly holes while young, and the
 * header reads of every segment were most of the time an open took.
 * One SEEK_DATA per segment start that holds data, and none inside a hole
 * found before ([*hs, *he)): asking where the data ends instead (SEEK_HOLE)
 * makes tmpfs walk every page of it, 0.1-0.25 ms per 4 MiB segment.  A
 * block device, or a file system that cannot tell (*he < 0), is all data.
 */
static bool maybe_data(const struct store *s, uint64_t off, int64_t *hs, int64_t *he)
{
	off_t d;

	if (s->dev.is_blk || *he < 0)
		return true;
	if ((int64_t)off >= *hs && (int64_t)off < *he)
		return false;
	d = lseek(s->dev.fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO) { /* nothing but holes from off */
			*hs = (int64_t)off;
			*he = INT64_MAX;
			return false;
		}
		*he = -1; /* cannot tell: read everything */
		return true;
	}
	if ((uint64_t)d == off)
		return true;
	*hs = (int64_t)off;
	*he = d;
	return false;
}

int rec_read_seg_headers(struct store *s)
{
	uint32_t al = MAX(s->dev.align, s->block);
	struct sio_req *req;
	uint8_t *buf;
	int ret = 0;

	req = calloc(HDR_BATCH, sizeof(*req));
	if (!req || posix_memalign((void **)&buf, al, (size_t)HDR_BATCH * s->block)) {
		free(req);
		return -ENOMEM;
	}
	int64_t hs = 0, he = 0;
	uint64_t i = 0;

	while (i < s->nseg) {
		uint64_t segno[HDR_BATCH];
		unsigned n = 0;
		int r;

		memset(req, 0, HDR_BATCH * sizeof(*req));
		for (; i < s->nseg && n < HDR_BATCH; i++) {
			s->segs[i].hdr_seq = 0;
			if (!maybe_data(s, seg_foff(s, i), &hs, &he))
				continue;
			segno[n] = i;
			req[n].op = SIO_READ;
			req[n].buf = buf + (size_t)n * s->block;
			req[n].len = s->block;
			req[n].off = seg_foff(s, i);
			n++;
		}
		if (!n)
			continue;
		r = sio_run(s->io, req, n);
		if (r) {
			log_err("%s: reading segment headers: %s", s->path, strerror(-r));
			ret = r;
			break;
		}
		for (unsigned k = 0; k < n; k++) {
			struct seg_hdr h;

			if (seg_hdr_decode(buf + (size_t)k * s->block, &h) ||
			    memcmp(h.uuid, s->sb.uuid, 16) || h.index != segno[k])
				continue;
			s->segs[segno[k]].hdr_seq = h.seq;
		}
	}
	free(buf);
	free(req);
	return ret;
}

int rec_apply(struct store *s, const struct rec_hdr *h, uint32_t seg, uint32_t off)
{
	struct idx_ent e = { 0 }, old;
	bool rep;
	int r;

	if (h->type >= 1 && h->type <= STORE_REC_USER_MAX) {
		memcpy(e.key, h->key, STORE_KEY_LEN);
		e.seg = seg;
		e.off = off;
		e.len = h->len;
		e.type = h->type;
		e.flags = h->flags;
		e.user = h->user;
		e.lsn = h->lsn;
		r = idx_put(&s->idx, &e, &old, &rep);
		if (r)
			return r;
		if (rep)
			s->segs[old.seg].live -= rec_total(old.len);
		else
			s->nrecords++;
		s->segs[seg].live += rec_total(h->len);
		return 1;
	}
	if (h->type == REC_TOMB) {
		if (!idx_del(&s->idx, h->key, &old)) {
			s->segs[old.seg].live -= rec_total(old.len);
			s->nrecords--;
		}
		return 1;
	}
	return 0;
}

/*
 * A segment image for the scans below.  Anonymous mapped memory reads as
 * zeros until written, so the part of a segment past its data (a hole,
 * never written: most of a young store's log segment) costs neither a
 * read nor a memset that faults in every page; only what an earlier
 * segment left in the image is cleared.  dirty: [0, dirty) may be
 * non-zero.
 */
struct seg_img {
	uint8_t *buf;
	uint32_t dirty;
	bool mapped;
};

static int seg_img_init(const struct store *s, struct seg_img *m)
{
	uint32_t al = MAX(s->dev.align, s->block);
	long page = sysconf(_SC_PAGESIZE);

	m->dirty = 0;
	m->mapped = page > 0 && al <= (unsigned long)page;
	if (m->mapped) {
		void *p = mmap(NULL, s->seg_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		m->buf = p == MAP_FAILED ? NULL : p;
	} else if (posix_memalign((void **)&m->buf, al, s->seg_size)) {
		m->buf = NULL;
	}
	if (!m->buf)
		return -ENOMEM;
	if (!m->mapped)
		m->dirty = s->seg_size; /* malloc'ed: anything */
	return 0;
}

static void seg_img_free(const struct store *s, struct seg_img *m)
{
	if (m->mapped)
		munmap(m->buf, s->seg_size);
	else
		free(m->buf);
	m->buf = NULL;
}

/*
 * Read a segment image from offset from to its end into m.  Past the
 * data of a store file (a hole: never written) the image is zeros without
 * a read, and *end tells where they start: no record lies beyond.
 */
static int read_seg(struct store *s, uint64_t seg, struct seg_img *m, uint32_t from, uint32_t *end)
{
	struct sio_req req = {
		.op = SIO_READ,
		.buf = m->buf + from,
		.off = seg_foff(s, seg) + from,
	};
	uint32_t to = s->seg_size;
	int r = 0;

	if (!s->dev.is_blk) {
		off_t h = lseek(s->dev.fd, (off_t)req.off, SEEK_HOLE);

		if (h >= 0 && (uint64_t)h < req.off + (s->seg_size - from))
			to = (uint32_t)ALIGN_UP((uint64_t)h - seg_foff(s, seg), s->block);
	}
	if (m->dirty > to)
		memset(m->buf + to, 0, m->dirty - to);
	m->dirty = to; /* >= from: SEEK_HOLE never answers before the offset */
	req.len = to - from;
	if (req.len)
		r = sio_run(s->io, &req, 1);
	if (r)
		log_err("%s: reading segment %llu: %s", s->path, (unsigned long long)seg,
			strerror(-r));
	*end = to;
	return r;
}

/*
 * Parse the record at pos of a segment image.  Returns 0 and *h when it is
 * valid (and its lsn is `expect`, unless expect is 0), else -EINVAL.
 */
static int parse_at(const struct store *s, const uint8_t *buf, uint32_t pos, uint64_t expect,
		    struct rec_hdr *h)
{
	if ((uint64_t)pos + REC_HDR > s->seg_size || rec_hdr_decode(buf + pos, h))
		return -EINVAL;
	if ((expect && h->lsn != expect) || (uint64_t)pos + rec_total(h->len) > s->seg_size)
		return -EINVAL;
	if (h->type == REC_PAD)
		return rec_csum(buf + pos, NULL, 0, s->seed) == h->csum ? 0 : -EINVAL;
	return rec_verify(buf + pos, s->seed) ? -EINVAL : 0;
}

static uint32_t skip_small(const struct store *s, uint32_t pos)
{
	uint32_t rem = s->block - pos % s->block;

	return rem < REC_HDR ? pos + rem : pos;
}

/*
 * How many bytes after the end of the log at pos are a torn tail rather
 * than a clean end.  Past a clean end there is only what an earlier use of
 * the segment left: zeros, records with older lsns, or payload bytes.  A
 * tail is torn when a verified record of this life (lsn >= expect, within
 * the number of records a segment can hold) is found beyond pos: some
 * write after the end landed while an earlier one did not.
 */
static uint64_t torn_bytes(const struct store *s, const uint8_t *buf, uint32_t pos,
			   uint64_t expect, uint32_t data_end)
{
	uint64_t lim = expect + s->seg_size / REC_HDR, end = 0;

	for (uint32_t p = pos; (uint64_t)p + REC_HDR <= s->seg_size && p < data_end; p += 8) {
		struct rec_hdr h;

		if (get_le32(buf + p) != REC_MAGIC || parse_at(s, buf, p, 0, &h))
			continue;
		if (h.lsn < expect || h.lsn > lim)
			continue;
		end = MAX(end, MIN((uint64_t)s->seg_size, (uint64_t)p + rec_total(h.len)));
	}
	return end ? ALIGN_UP(end, s->block) - pos : 0;
}

static int64_t find_seq(const struct store *s, uint64_t seq)
{
	for (uint64_t i = 0; i < s->nseg; i++)
		if (s->segs[i].hdr_seq == seq)
			return (int64_t)i;
	return -1;
}

static void finish(struct store *s, uint64_t expect)
{
	uint64_t max = s->next_seg_seq;

	for (uint64_t i = 0; i < s->nseg; i++) {
		if (s->segs[i].hdr_seq >= max)
			max = s->segs[i].hdr_seq + 1;
		if (s->segs[i].seq >= max)
			max = s->segs[i].seq + 1;
	}
	s->next_seg_seq = max;
	s->next_lsn = expect;
	/*
	 * After a tear, records with lsns >= expect may survive on disk beyond
	 * it.  Skip past any lsn they could carry (at most one record per 64
	 * bytes was appended since the last checkpoint) so that none of them
	 * can ever pass for a successor of a future record.
	 */
	if (s->dropped_bytes)
		s->next_lsn += s->nseg * (s->seg_size / REC_HDR) + 1;
	atomic_store(&s->ondisk_lsn, s->next_lsn);
	s->synced_lsn = s->next_lsn; /* what recovery found is on disk */
}

int rec_roll_forward(struct store *s, uint32_t seg, uint32_t off, uint64_t lsn)
{
	struct seg_img m;
	const uint8_t *buf;
	uint64_t cur = seg, expect = lsn;
	uint32_t pos = off, data_end;
	int r = 0;

	if (seg_img_init(s, &m))
		return -ENOMEM;
	buf = m.buf;
	if (s->segs[cur].hdr_seq && s->segs[cur].seq != s->segs[cur].hdr_seq)
		s->segs[cur].seq = s->segs[cur].hdr_seq;
	r = read_seg(s, cur, &m, (uint32_t)ALIGN_DOWN(pos, s->block), &data_end);
	if (r)
		goto out;
	for (;;) {
		struct rec_hdr h;
		int64_t next;

		pos = skip_small(s, pos);
		if (pos < s->seg_size) {
			if (parse_at(s, buf, pos, expect, &h)) {
				s->dropped_bytes = torn_bytes(s, buf, pos, expect, data_end);
				/* A successor segment means writes went on past the end. */
				if (!s->dropped_bytes && find_seq(s, s->segs[cur].seq + 1) >= 0)
					s->dropped_bytes = s->seg_size - pos;
				if (s->dropped_bytes)
					log_warn("%s: dropped %llu torn bytes at segment %llu offset %u (lsn %llu)",
						 s->path, (unsigned long long)s->dropped_bytes,
						 (unsigned long long)cur, pos,
						 (unsigned long long)expect);
				break;
			}
			r = rec_apply(s, &h, (uint32_t)cur, pos);
			if (r < 0)
				goto out;
			s->replayed += (uint64_t)r;
			expect++;
			pos += rec_total(h.len);
			if (s->segs[cur].written < pos)
				s->segs[cur].written = pos;
			continue;
		}
		/* Segment end: the log goes on in the segment with the next seq. */
		s->segs[cur].written = s->seg_size;
		next = find_seq(s, s->segs[cur].seq + 1);
		if (next < 0)
			break;
		cur = (uint64_t)next;
		s->segs[cur].seq = s->segs[cur].hdr_seq;
		s->segs[cur].live = 0;
		s->segs[cur].written = s->block;
		pos = s->block;
		r = read_seg(s, cur, &m, 0, &data_end);
		if (r)
			goto out;
	}
	r = 0;
	if (s->segs[cur].written < pos && pos <= s->seg_size)
		s->segs[cur].written = pos;
	/* Keep appending where the log ended only when it ended cleanly. */
	if (!s->dropped_bytes && !s->replayed && pos < s->seg_size && pos % s->block == 0) {
		s->head_seg = (int64_t)cur;
		s->head_off = pos;
	} else {
		s->head_seg = -1;
	}
	finish(s, expect);
out:
	seg_img_free(s, &m);
	return r;
}

static int cmp_seq(const void *a, const void *b, void *arg)
{
	const struct seginfo *g = arg;
	uint64_t x = g[*(const uint64_t *)a].hdr_seq, y = g[*(const uint64_t *)b].hdr_seq;

	return x < y ? -1 : x > y;
}

int rec_full_scan(struct store *s)
{
	uint64_t *order, n = 0, last = 0;
	struct seg_img m;
	const uint8_t *buf;
	int r = 0;

	order = malloc(s->nseg * sizeof(*order));
	if (!order || seg_img_init(s, &m)) {
		free(order);
		return -ENOMEM;
	}
	buf = m.buf;
	for (uint64_t i = 0; i < s->nseg; i++) {
		s->segs[i].seq = 0;
		s->segs[i].live = 0;
		s->segs[i].written = 0;
		if (s->segs[i].hdr_seq)
			order[n++] = i;
	}
	qsort_r(order, n, sizeof(*order), cmp_seq, s->segs);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t j = order[k], prev = 0;
		uint32_t pos = s->block, data_end;

		s->segs[j].seq = s->segs[j].hdr_seq;
		s->segs[j].written = s->block;
		r = read_seg(s, j, &m, 0, &data_end);
		if (r)
			goto out;
		s->dropped_bytes = 0;
		for (;;) {
			struct rec_hdr h;

			pos = skip_small(s, pos);
			if (pos >= s->seg_size)
				break;
			if (parse_at(s, buf, pos, prev ? prev + 1 : 0, &h)) {
				/* Only the newest segment's garbage counts as torn. */
				s->dropped_bytes = torn_bytes(s, buf, pos, prev ? prev + 1 : 0,
							      data_end);
				break;
			}
			if (h.lsn > last) {
				r = rec_apply(s, &h, (uint32_t)j, pos);
				if (r < 0)
					goto out;
				s->replayed += (uint64_t)r;
				last = h.lsn;
			}
			prev = h.lsn;
			pos += rec_total(h.len);
		}
		s->segs[j].written = MIN(pos, s->seg_size);
	}
	r = 0;
	s->head_seg = -1;
	finish(s, last + 1);
	/* lsns are unknown beyond what was seen: never reuse one. */
	if (!s->dropped_bytes)
		s->next_lsn += s->nseg * (s->seg_size / REC_HDR) + 1;
	atomic_store(&s->ondisk_lsn, s->next_lsn);
	s->synced_lsn = s->next_lsn; /* what recovery found is on disk */
out:
	seg_img_free(s, &m);
	free(order);
	return r;
}
