// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The dedup index over the block store.  The store's own index already maps
 * a content id to its record, so "is this chunk known" is one store_lookup()
 * and the dedup index needs no structure of its own on disk; what it adds is
 * the record conventions (type CHUNK, STORE_F_ZSTD, raw length in the user
 * word), compression, and the derived reference counts (see chunkstore.h
 * for why counts are derived rather than stored).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkstore.h"
#include "strata/log.h"
#include "strata/util.h"

#define ZPOOL_MAX 8

/* Lock order: pool_lock is a leaf. */
struct chunkstore {
	struct store *s;
	struct dedup_compress_policy pol;
	pthread_mutex_t pool_lock;
	struct dedup_zctx *pool[ZPOOL_MAX]; /* idle contexts, under pool_lock */
	unsigned npool;
	struct chunk_cache *cache; /* the caller's, may be NULL */
};

int chunkstore_create(struct store *s, const struct dedup_compress_policy *pol,
		      struct chunkstore **out)
{
	struct chunkstore *cs;
	struct dedup_zctx *z;
	int r;

	if (!s || !out)
		return -EINVAL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->s = s;
	if (pol)
		cs->pol = *pol;
	else
		cs->pol = (struct dedup_compress_policy){ DEDUP_COMPRESS_ZSTD, 0 };
	/* Validate the policy now rather than at the first put. */
	r = dedup_zctx_create(&cs->pol, &z);
	if (r) {
		free(cs);
		return r;
	}
	pthread_mutex_init(&cs->pool_lock, NULL);
	cs->pool[cs->npool++] = z;
	*out = cs;
	return 0;
}

void chunkstore_destroy(struct chunkstore *cs)
{
	if (!cs)
		return;
	for (unsigned i = 0; i < cs->npool; i++)
		dedup_zctx_destroy(cs->pool[i]);
	pthread_mutex_destroy(&cs->pool_lock);
	free(cs);
}

struct store *chunkstore_store(const struct chunkstore *cs)
{
	return cs->s;
}

void chunkstore_set_cache(struct chunkstore *cs, struct chunk_cache *cache)
{
	cs->cache = cache;
}

struct chunk_cache *chunkstore_cache(const struct chunkstore *cs)
{
	return cs->cache;
}

static int zctx_get(struct chunkstore *cs, struct dedup_zctx **z)
{
	pthread_mutex_lock(&cs->pool_lock);
	if (cs->npool) {
		*z = cs->pool[--cs->npool];
		pthread_mutex_unlock(&cs->pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&cs->pool_lock);
	return dedup_zctx_create(&cs->pol, z);
}

static void zctx_put(struct chunkstore *cs, struct dedup_zctx *z)
{
	pthread_mutex_lock(&cs->pool_lock);
	if (cs->npool < ZPOOL_MAX) {
		cs->pool[cs->npool++] = z;
		z = NULL;
	}
	pthread_mutex_unlock(&cs->pool_lock);
	dedup_zctx_destroy(z);
}

static void cid_str(const struct dedup_cid *cid, char buf[DEDUP_CID_STR_SIZE])
{
	dedup_cid_format(cid, buf);
}

int chunkstore_stat(struct chunkstore *cs, const struct dedup_cid *cid, uint32_t *raw_len,
		    uint32_t *stored_len, bool *compressed)
{
	struct store_rec_info info;
	struct store_key key;
	int r;

	dedup_cid_to_key(cid, &key);
	r = store_lookup(cs->s, &key, &info);
	if (r)
		return r;
	if (info.type != STORE_REC_CHUNK)
		return -EUCLEAN;
	if (raw_len)
		*raw_len = info.user;
	if (stored_len)
		*stored_len = info.len;
	if (compressed)
		*compressed = !!(info.flags & STORE_F_ZSTD);
	return 0;
}

int chunkstore_zctx_create(struct chunkstore *cs, struct dedup_zctx **out)
{
	return dedup_zctx_create(&cs->pol, out);
}

/* Log a key that holds something other than a chunk. */
static void log_not_chunk(const struct dedup_cid *cid)
{
	char s[DEDUP_CID_STR_SIZE];

	cid_str(cid, s);
	log_err("chunk %s: the key holds a record that is not a chunk", s);
}

/* Existence check and compression; cid already set in *pr. */
static int prepare_cid(struct chunkstore *cs, struct dedup_zctx *z, const void *data, size_t len,
		       void *zbuf, size_t zcap, struct chunkstore_prep *pr)
{
	int r;

	pr->exists = false;
	pr->zlen = 0;
	pr->stored_len = 0;
	pr->compressed = false;
	r = chunkstore_stat(cs, &pr->cid, NULL, &pr->stored_len, &pr->compressed);
	if (r == 0) {
		/* Already stored: no need to compress it. */
		pr->exists = true;
		return 0;
	}
	if (r != -ENOENT) {
		if (r == -EUCLEAN)
			log_not_chunk(&pr->cid);
		return r;
	}
	if (cs->pol.algo == DEDUP_COMPRESS_NONE)
		return 0;
	return dedup_compress(z, data, len, zbuf, zcap, &pr->zlen);
}

int chunkstore_prepare(struct chunkstore *cs, struct dedup_zctx *z, const void *data, size_t len,
		       void *zbuf, size_t zcap, struct chunkstore_prep *pr)
{
	int r;

	if (len == 0 || len > DEDUP_CHUNK_MAX_LIMIT || !z || (zcap && !zbuf))
		return -EINVAL;
	r = dedup_cid_compute(data, len, &pr->cid);
	if (r)
		return r;
	return prepare_cid(cs, z, data, len, zbuf, zcap, pr);
}

int chunkstore_put_prepared(struct chunkstore *cs, const struct chunkstore_prep *pr,
			    const void *data, size_t len, const void *zbuf,
			    struct chunkstore_put_info *pi)
{
	struct chunkstore_put_info dummy;
	struct store_key key;
	uint32_t slen;
	bool comp;
	int r;

	if (!pi)
		pi = &dummy;
	memset(pi, 0, sizeof(*pi));
	if (len == 0 || len > DEDUP_CHUNK_MAX_LIMIT || (pr->zlen && !zbuf))
		return -EINVAL;
	if (pr->exists) {
		pi->stored_len = pr->stored_len;
		pi->compressed = pr->compressed;
		return 0;
	}
	dedup_cid_to_key(&pr->cid, &key);
	if (pr->zlen)
		r = store_put(cs->s, STORE_REC_CHUNK, &key, zbuf, pr->zlen, STORE_F_ZSTD,
			      (uint32_t)len);
	else
		r = store_put(cs->s, STORE_REC_CHUNK, &key, data, len, 0, (uint32_t)len);
	if (r == -EEXIST) {
		/* Stored since the check (another thread, or the same chunk
		 * earlier in a pipeline): still a hit. */
		r = chunkstore_stat(cs, &pr->cid, NULL, &slen, &comp);
		if (!r) {
			pi->stored_len = slen;
			pi->compressed = comp;
		} else if (r == -EUCLEAN) {
			log_not_chunk(&pr->cid);
		}
		return r;
	}
	if (r)
		return r;
	pi->added = true;
	pi->compressed = pr->zlen != 0;
	pi->stored_len = (uint32_t)(pr->zlen ? pr->zlen : len);
	return 0;
}

int chunkstore_put_cid(struct chunkstore *cs, const struct dedup_cid *cid, const void *data,
		       size_t len, struct chunkstore_put_info *pi)
{
	struct chunkstore_prep pr = { .cid = *cid };
	struct dedup_zctx *z = NULL;
	void *zbuf = NULL;
	int r;

	if (pi)
		memset(pi, 0, sizeof(*pi));
	if (len == 0 || len > DEDUP_CHUNK_MAX_LIMIT)
		return -EINVAL;
	if (cs->pol.algo != DEDUP_COMPRESS_NONE) {
		r = zctx_get(cs, &z);
		if (r)
			return r;
		zbuf = malloc(len);
		if (!zbuf) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = prepare_cid(cs, z, data, len, zbuf, zbuf ? len : 0, &pr);
	if (!r)
		r = chunkstore_put_prepared(cs, &pr, data, len, zbuf, pi);
out:
	free(zbuf);
	if (z)
		zctx_put(cs, z);
	return r;
}

int chunkstore_put(struct chunkstore *cs, const void *data, size_t len, struct dedup_cid *cid,
		   struct chunkstore_put_info *pi)
{
	int r;

	if (len == 0 || len > DEDUP_CHUNK_MAX_LIMIT)
		return -EINVAL;
	r = dedup_cid_compute(data, len, cid);
	if (r)
		return r;
	return chunkstore_put_cid(cs, cid, data, len, pi);
}

/*
 * Turn the record payload at src (buf, or memory the store lent) into the
 * raw chunk at *data: a compressed frame is decompressed into buf (moved
 * aside first when it is in buf itself); a raw one stays where it is.
 */
static int finish_get(struct chunkstore *cs, const struct dedup_cid *cid,
		      const struct store_rec_info *info, const void *src, void *buf,
		      size_t bufsize, size_t *len, const void **data, bool verify)
{
	char s[DEDUP_CID_STR_SIZE];
	int r = 0;

	if (info->type != STORE_REC_CHUNK) {
		cid_str(cid, s);
		log_err("chunk %s: the key holds a record of type %u", s, info->type);
		return -EUCLEAN;
	}
	if (info->flags & STORE_F_ZSTD) {
		struct dedup_zctx *z;
		void *frame;

		if (info->user > bufsize) {
			*len = info->user;
			return -ENOBUFS;
		}
		frame = NULL;
		if (src == buf) {
			frame = malloc(info->len);
			if (!frame)
				return -ENOMEM;
			memcpy(frame, buf, info->len);
			src = frame;
		}
		r = zctx_get(cs, &z);
		if (!r) {
			r = dedup_decompress(z, src, info->len, buf, info->user);
			zctx_put(cs, z);
		}
		free(frame);
		if (r) {
			if (r == -EBADMSG) {
				cid_str(cid, s);
				log_err("chunk %s: zstd frame does not decode", s);
			}
			return r;
		}
		*len = info->user;
		*data = buf;
	} else {
		if (info->len != info->user) {
			cid_str(cid, s);
			log_err("chunk %s: record holds %u bytes, raw length says %u", s,
				info->len, info->user);
			return -EBADMSG;
		}
		*len = info->len;
		*data = src;
	}
	if (verify) {
		struct dedup_cid got;

		r = dedup_cid_compute(*data, *len, &got);
		if (r)
			return r;
		if (!dedup_cid_equal(&got, cid)) {
			cid_str(cid, s);
			log_err("chunk %s: content does not hash to its id", s);
			return -EBADMSG;
		}
	}
	return 0;
}

int chunkstore_get(struct chunkstore *cs, const struct dedup_cid *cid, void *buf, size_t bufsize,
		   size_t *len, bool verify)
{
	struct store_rec_info info;
	struct store_key key;
	const void *data;
	size_t got = 0;
	int r;

	dedup_cid_to_key(cid, &key);
	r = store_get(cs->s, &key, buf, bufsize, &got, &info);
	if (r == -ENOBUFS) {
		/* Say how much raw room is needed, not the stored length. */
		if (store_lookup(cs->s, &key, &info) == 0)
			*len = info.user;
		return r;
	}
	if (r)
		return r;
	return finish_get(cs, cid, &info, buf, buf, bufsize, len, &data, verify);
}

int chunkstore_get_batch(struct chunkstore *cs, struct chunkstore_req *reqs, unsigned n)
{
	struct store_get_req *sr;
	int first = 0;

	if (n == 0)
		return 0;
	sr = calloc(n, sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		dedup_cid_to_key(&reqs[i].cid, &sr[i].key);
		sr[i].buf = reqs[i].buf;
		sr[i].bufsize = reqs[i].bufsize;
		/* A compressed frame left in the store's read buffer is
		 * decompressed from there; a raw chunk is not copied at all. */
		sr[i].borrow = true;
	}
	store_get_batch(cs->s, sr, n);
	for (unsigned i = 0; i < n; i++) {
		reqs[i].len = 0;
		reqs[i].data = reqs[i].buf;
		reqs[i].res = sr[i].res;
		if (!reqs[i].res)
			reqs[i].res = finish_get(cs, &reqs[i].cid, &sr[i].info, sr[i].data,
						 reqs[i].buf, reqs[i].bufsize, &reqs[i].len,
						 &reqs[i].data, false);
		if (reqs[i].res && !first)
			first = reqs[i].res;
	}
	free(sr);
	return first;
}

/* ---- derived reference counts ---- */

struct ref_slot {
	struct dedup_cid cid;
	uint64_t count;
	bool used; /* slots never go back to unused: no tombstones needed */
};

struct chunk_refs {
	struct ref_slot *slots;
	size_t cap; /* power of two */
	size_t used;
	size_t live; /* slots with count > 0 */
	uint64_t seed;
};

int chunk_refs_create(struct chunk_refs **out)
{
	struct chunk_refs *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->cap = 1024;
	r->slots = calloc(r->cap, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return -ENOMEM;
	}
	/* Ids come from outside data: a per-table seed keeps probes unplannable. */
	r->seed = strata_now_ns() ^ (uint64_t)(uintptr_t)r;
	*out = r;
	return 0;
}

void chunk_refs_destroy(struct chunk_refs *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}

/* Slot of cid, or the unused slot where it would go. */
static struct ref_slot *refs_find(const struct chunk_refs *r, const struct dedup_cid *cid)
{
	size_t mask = r->cap - 1, i = dedup_cid_hash(cid, r->seed) & mask;

	for (;;) {
		struct ref_slot *s = &r->slots[i];

		if (!s->used || dedup_cid_equal(&s->cid, cid))
			return s;
		i = (i + 1) & mask;
	}
}

static int refs_grow(struct chunk_refs *r)
{
	struct ref_slot *old = r->slots;
	size_t oldcap = r->cap;

	r->slots = calloc(oldcap * 2, sizeof(*r->slots));
	if (!r->slots) {
		r->slots = old;
		return -ENOMEM;
	}
	r->cap = oldcap * 2;
	r->used = 0;
	for (size_t i = 0; i < oldcap; i++) {
		/* Zero counts are dropped here: their ids are forgotten. */
		if (old[i].used && old[i].count) {
			*refs_find(r, &old[i].cid) = old[i];
			r->used++;
		}
	}
	free(old);
	return 0;
}

int64_t chunk_refs_incref(struct chunk_refs *r, const struct dedup_cid *cid, uint64_t n)
{
	struct ref_slot *s;

	if (n == 0 || n > INT64_MAX)
		return -EINVAL;
	s = refs_find(r, cid);
	if (!s->used) {
		if ((r->used + 1) * 4 > r->cap * 3) {
			if (refs_grow(r))
				return -ENOMEM;
			s = refs_find(r, cid);
		}
		s->used = true;
		s->cid = *cid;
		r->used++;
	}
	if (s->count > (uint64_t)INT64_MAX - n)
		return -EOVERFLOW;
	if (s->count == 0)
		r->live++;
	s->count += n;
	return (int64_t)s->count;
}

int64_t chunk_refs_decref(struct chunk_refs *r, const struct dedup_cid *cid)
{
	struct ref_slot *s = refs_find(r, cid);

	if (!s->used || s->count == 0)
		return -ENOENT;
	if (--s->count == 0)
		r->live--;
	return (int64_t)s->count;
}

uint64_t chunk_refs_get(const struct chunk_refs *r, const struct dedup_cid *cid)
{
	struct ref_slot *s = refs_find(r, cid);

	return s->used ? s->count : 0;
}

size_t chunk_refs_count(const struct chunk_refs *r)
{
	return r->live;
}

int chunk_refs_iterate(const struct chunk_refs *r, chunk_refs_fn fn, void *arg)
{
	for (size_t i = 0; i < r->cap; i++) {
		if (r->slots[i].used && r->slots[i].count) {
			int ret = fn(arg, &r->slots[i].cid, r->slots[i].count);

			if (ret)
				return ret;
		}
	}
	return 0;
}

/* ---- sweep ---- */

struct sweep_ctx {
	const struct chunk_refs *live;
	struct store_key *dead;
	size_t ndead, cap;
	struct chunkstore_sweep_stats *st;
	struct chunk_refs *seen;
};

static int sweep_visit(void *arg, const struct store_key *key, const struct store_rec_info *info)
{
	struct sweep_ctx *c = arg;
	struct dedup_cid cid;

	if (info->type != STORE_REC_CHUNK)
		return 0;
	c->st->chunks++;
	dedup_cid_from_key(key, &cid);
	if (chunk_refs_get(c->live, &cid)) {
		c->st->live++;
		if (chunk_refs_incref(c->seen, &cid, 1) < 0)
			return -ENOMEM;
		return 0;
	}
	if (c->ndead == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct store_key *d = realloc(c->dead, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		c->dead = d;
		c->cap = cap;
	}
	c->dead[c->ndead++] = *key;
	c->st->deleted_bytes += info->len;
	return 0;
}

static int count_missing(void *arg, const struct dedup_cid *cid, uint64_t count)
{
	struct sweep_ctx *c = arg;

	if (!chunk_refs_get(c->seen, cid)) {
		char s[DEDUP_CID_STR_SIZE];

		c->st->missing++;
		log_err("chunk %s: referenced %llu times but not in the store",
			dedup_cid_format(cid, s), (unsigned long long)count);
	}
	return 0;
}

int chunkstore_sweep(struct chunkstore *cs, const struct chunk_refs *live, bool dry_run,
		     struct chunkstore_sweep_stats *st)
{
	struct sweep_ctx c = { .live = live, .st = st };
	int r;

	memset(st, 0, sizeof(*st));
	r = chunk_refs_create(&c.seen);
	if (r)
		return r;
	/* Collect first: deleting while the store iterates is not promised safe. */
	r = store_iterate(cs->s, sweep_visit, &c);
	if (r)
		goto out;
	chunk_refs_iterate(live, count_missing, &c);
	for (size_t i = 0; i < c.ndead && !dry_run; i++) {
		r = store_delete(cs->s, &c.dead[i]);
		if (r == -ENOENT)
			r = 0;
		if (r)
			goto out;
		st->deleted++;
	}
	if (dry_run)
		st->deleted = c.ndead;
	else
		r = store_sync(cs->s);
out:
	chunk_refs_destroy(c.seen);
	free(c.dead);
	return r;
}
