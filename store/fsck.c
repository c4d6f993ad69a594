// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store_fsck: open read-only (which runs recovery in memory only), then
 * cross-check what recovery built: segment headers of segments in use,
 * per-segment live bytes against the index, and (verify_data) every live
 * record's checksum.  With repair, a read-write open writes the recovery
 * checkpoint.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/store-internal.h"

#define FSCK_BATCH 64u

static uint64_t check_seg_headers(struct store *s)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < s->nseg; i++) {
		const struct seginfo *g = &s->segs[i];

		if (!g->seq || seg_is_free_locked(s, i))
			continue;
		/* Emptied by compaction, header zeroed, not yet free in this
		 * (older) checkpoint's view: nothing in it is needed. */
		if (!g->live && !g->hdr_seq)
			continue;
		if (g->hdr_seq != g->seq) {
			log_err("%s: segment %llu: header says seq %llu, expected %llu", s->path,
				(unsigned long long)i, (unsigned long long)g->hdr_seq,
				(unsigned long long)g->seq);
			bad++;
		}
	}
	return bad;
}

static int check_data(struct store *s, struct store_fsck_report *r, bool verify,
		      bool *acct_ok)
{
	uint64_t *live = calloc(s->nseg, sizeof(*live));
	struct rd_req rq[FSCK_BATCH];
	struct idx_ent *batch[FSCK_BATCH];
	int ret = 0;

	if (!live)
		return -ENOMEM;
	for (unsigned sh = 0; sh < IDX_SHARDS && !ret; sh++) {
		struct idx_ent *a;
		uint32_t n;

		ret = idx_snapshot_shard(&s->idx, sh, &a, &n);
		if (ret)
			break;
		for (uint32_t k = 0; k < n; k++)
			live[a[k].seg] += rec_total(a[k].len);
		for (uint32_t k = 0; verify && k < n; k += FSCK_BATCH) {
			unsigned m = (unsigned)MIN((uint32_t)FSCK_BATCH, n - k);
			uint8_t *arena;

			for (unsigned j = 0; j < m; j++) {
				batch[j] = &a[k + j];
				rq[j].foff = seg_foff(s, a[k + j].seg) + a[k + j].off;
				rq[j].len = a[k + j].len;
			}
			ret = store_read_recs(s, rq, m, &arena);
			if (ret)
				break;
			for (unsigned j = 0; j < m; j++) {
				const struct idx_ent *e = batch[j];
				int res = rq[j].res;
				char hex[2 * STORE_KEY_LEN + 1];

				if (!res && (get_le64(rq[j].rec + 16) != e->lsn ||
					     memcmp(rq[j].rec + 24, e->key, STORE_KEY_LEN)))
					res = -EBADMSG;
				if (!res)
					continue;
				strata_hex(e->key, STORE_KEY_LEN, hex);
				log_err("%s: record %s at segment %u offset %u: %s", s->path, hex,
					e->seg, e->off,
					res == -EBADMSG ? "checksum mismatch" : strerror(-res));
				r->bad_records++;
			}
			free(arena);
		}
		free(a);
	}
	*acct_ok = true;
	for (uint64_t i = 0; i < s->nseg && !ret; i++) {
		if (live[i] == s->segs[i].live)
			continue;
		log_err("%s: segment %llu: %llu live bytes in the index, accounting says %u",
			s->path, (unsigned long long)i, (unsigned long long)live[i],
			s->segs[i].live);
		*acct_ok = false;
	}
	free(live);
	return ret;
}

int store_fsck(const struct store_fsck_opts *o, struct store_fsck_report *r)
{
	struct store_open_opts oo = { 0 };
	struct store *s;
	uint64_t bad_hdrs;
	bool acct = false, fresh;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!o || !o->path)
		return -EINVAL;
	oo.path = o->path;
	oo.read_only = true;
	oo.direct = -1;
	ret = store_open_internal(&oo, &s);
	if (ret)
		return ret == -EINVAL || ret == -EUCLEAN ? -EUCLEAN : ret;
	r->superblock_ok = true;
	r->checkpoint_ok = s->cp_loaded;
	r->checkpoint_gen = s->cp_gen;
	r->torn_bytes = s->dropped_bytes;
	r->replayed = s->replayed;
	r->records = s->nrecords;
	fresh = s->cp_fresh;
	if (s->dropped_bytes)
		log_info("%s: %llu torn bytes at the log tail (unsynced writes of a crash)",
			 o->path, (unsigned long long)s->dropped_bytes);
	bad_hdrs = check_seg_headers(s);
	ret = check_data(s, r, o->verify_data, &acct);
	r->accounting_ok = acct && !bad_hdrs;
	store_close(s);
	if (ret)
		return ret;
	if (o->repair && (!r->checkpoint_ok || r->torn_bytes || r->replayed)) {
		oo.read_only = false;
		ret = store_open_internal(&oo, &s);
		if (!ret)
			ret = store_close(s);
		if (ret)
			return ret;
	}
	if (r->bad_records || !r->accounting_ok || (!r->checkpoint_ok && !fresh))
		return -EUCLEAN;
	return 0;
}
