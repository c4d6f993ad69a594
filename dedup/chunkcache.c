// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bounded chunk cache (strata/chunkcache.h): shards of a chained hash
 * table with a least recently used list each.  An entry is one malloc
 * (header and bytes: the buffers chunk_cache_alloc() hands out are entries
 * already, so adopting one copies nothing), freed only under its shard's
 * lock once it is out of the table, so a reader never sees a freed entry.
 */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkcache.h"
#include "strata/util.h"

#define SHARDS_MAX 16u
#define SHARD_MIN_BUDGET (2ull << 20)
#define BUCKET_BYTES (16u << 10) /* one bucket per this much budget */
#define ENT_OVERHEAD 16u	/* malloc's own, roughly */

struct cc_ent {
	struct cc_ent *hnext;	    /* bucket chain */
	struct cc_ent *prev, *next; /* LRU: head most recent */
	struct dedup_cid cid;
	uint32_t len;
	uint32_t served; /* bytes handed out so far, the first reader's too */
	uint64_t used_ns; /* last kept or read (strata_now_ns()) */
	uint8_t data[];
};

struct cc_shard {
	pthread_mutex_t lock;
	struct cc_ent **buckets;
	size_t mask;
	struct cc_ent *head, *tail;
	uint64_t bytes, budget, entries;
	uint64_t hits, misses, inserts, evictions, done, aged;
};

struct chunk_cache {
	uint64_t seed;
	unsigned nshards;
	struct cc_shard sh[];
};

static uint64_t ent_cost(size_t len)
{
	return sizeof(struct cc_ent) + ENT_OVERHEAD + len;
}

int chunk_cache_create(uint64_t budget, struct chunk_cache **out)
{
	struct chunk_cache *c;
	unsigned n;

	if (!budget)
		return -EINVAL;
	n = (unsigned)MIN((uint64_t)SHARDS_MAX, MAX(1ull, budget / SHARD_MIN_BUDGET));
	c = calloc(1, sizeof(*c) + n * sizeof(c->sh[0]));
	if (!c)
		return -ENOMEM;
	c->nshards = n;
	/* Ids come from outside data: a per-cache seed keeps chains short. */
	c->seed = strata_now_ns() ^ (uint64_t)(uintptr_t)c;
	for (unsigned i = 0; i < n; i++) {
		struct cc_shard *s = &c->sh[i];
		size_t nb = 64;

		s->budget = budget / n;
		while (nb < s->budget / BUCKET_BYTES && nb < ((size_t)1 << 24))
			nb <<= 1;
		s->buckets = calloc(nb, sizeof(*s->buckets));
		if (!s->buckets) {
			c->nshards = i;
			chunk_cache_destroy(c);
			return -ENOMEM;
		}
		s->mask = nb - 1;
		pthread_mutex_init(&s->lock, NULL);
	}
	*out = c;
	return 0;
}

void chunk_cache_destroy(struct chunk_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct cc_shard *s = &c->sh[i];

		for (struct cc_ent *e = s->head, *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

static struct cc_shard *shard_of(struct chunk_cache *c, const struct dedup_cid *cid,
				 uint64_t *h)
{
	*h = dedup_cid_hash(cid, c->seed);
	return &c->sh[(*h >> 40) % c->nshards];
}

/* Under s->lock: the pointer to the chain link naming cid (*link NULL
 * when absent). */
static struct cc_ent **find(struct cc_shard *s, uint64_t h, const struct dedup_cid *cid)
{
	struct cc_ent **link = &s->buckets[h & s->mask];

	while (*link && !dedup_cid_equal(&(*link)->cid, cid))
		link = &(*link)->hnext;
	return link;
}

static void lru_unlink(struct cc_shard *s, struct cc_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
}

static void lru_push(struct cc_shard *s, struct cc_ent *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	else
		s->tail = e;
	s->head = e;
}

static void touch(struct cc_shard *s, struct cc_ent *e)
{
	e->used_ns = strata_now_ns();
	if (s->head != e) {
		lru_unlink(s, e);
		lru_push(s, e);
	}
}

/* Under s->lock: take the entry *link names out and free it. */
static void drop(struct cc_shard *s, struct cc_ent **link)
{
	struct cc_ent *e = *link;

	*link = e->hnext;
	lru_unlink(s, e);
	s->bytes -= ent_cost(e->len);
	s->entries--;
	free(e);
}

/* Under s->lock: drop the least recently used entry. */
static void evict_one(struct chunk_cache *c, struct cc_shard *s)
{
	struct cc_ent *e = s->tail;

	drop(s, find(s, dedup_cid_hash(&e->cid, c->seed), &e->cid));
	s->evictions++;
}

bool chunk_cache_read(struct chunk_cache *c, const struct dedup_cid *cid, size_t chunk_len,
		      uint64_t off, size_t len, void *dst)
{
	uint64_t h;
	struct cc_shard *s = shard_of(c, cid, &h);
	struct cc_ent *e, **link;
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	link = find(s, h, cid);
	e = *link;
	if (e && e->len == chunk_len && off <= e->len && len <= e->len - off) {
		memcpy(dst, e->data + off, len);
		hit = true;
		s->hits++;
		e->served += (uint32_t)MIN(len, (size_t)(e->len - e->served));
		if (e->served >= e->len) {
			drop(s, link);
			s->done++;
		} else {
			touch(s, e);
		}
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

static struct cc_ent *ent_of(void *buf)
{
	return (struct cc_ent *)((uint8_t *)buf - offsetof(struct cc_ent, data));
}

void *chunk_cache_alloc(size_t len)
{
	struct cc_ent *e;

	if (len > UINT32_MAX)
		return NULL;
	e = malloc(sizeof(*e) + len);
	return e ? e->data : NULL;
}

void chunk_cache_free(void *buf)
{
	if (buf)
		free(ent_of(buf));
}

int chunk_cache_adopt(struct chunk_cache *c, const struct dedup_cid *cid, void *buf, size_t len,
		      size_t used)
{
	struct cc_ent *e = ent_of(buf), **link;
	uint64_t h;
	struct cc_shard *s = shard_of(c, cid, &h);

	if (!len || ent_cost(len) > s->budget) {
		free(e);
		return len ? -E2BIG : -EINVAL;
	}
	e->cid = *cid;
	e->len = (uint32_t)len;
	e->served = (uint32_t)MIN(used, len);
	pthread_mutex_lock(&s->lock);
	link = find(s, h, cid);
	if (*link) { /* another reader kept it first: count what this one had */
		struct cc_ent *o = *link;

		o->served += (uint32_t)MIN((size_t)e->served, (size_t)(o->len - o->served));
		if (o->served >= o->len) {
			drop(s, link);
			s->done++;
		} else {
			touch(s, o);
		}
		pthread_mutex_unlock(&s->lock);
		free(e);
		return 0;
	}
	while (s->bytes + ent_cost(len) > s->budget)
		evict_one(c, s);
	/* Eviction may have unlinked entries before cid's link: find again. */
	link = find(s, h, cid);
	e->hnext = NULL;
	e->used_ns = strata_now_ns();
	*link = e;
	lru_push(s, e);
	s->bytes += ent_cost(len);
	s->entries++;
	s->inserts++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int chunk_cache_put(struct chunk_cache *c, const struct dedup_cid *cid, const void *data,
		    size_t len)
{
	void *buf;

	if (!len)
		return -EINVAL;
	buf = chunk_cache_alloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, len);
	return chunk_cache_adopt(c, cid, buf, len, 0);
}

uint64_t chunk_cache_trim(struct chunk_cache *c, uint64_t idle_ns)
{
	uint64_t now = strata_now_ns(), freed = 0;

	for (unsigned i = 0; i < c->nshards; i++) {
		struct cc_shard *s = &c->sh[i];

		pthread_mutex_lock(&s->lock);
		/* The tail is the least recently used: stop at the first
		 * entry used within idle_ns. */
		while (s->tail && now - s->tail->used_ns >= idle_ns) {
			freed += ent_cost(s->tail->len);
			drop(s, find(s, dedup_cid_hash(&s->tail->cid, c->seed), &s->tail->cid));
			s->aged++;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return freed;
}

void chunk_cache_get_stats(struct chunk_cache *c, struct chunk_cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < c->nshards; i++) {
		struct cc_shard *s = &c->sh[i];

		pthread_mutex_lock(&s->lock);
		st->hits += s->hits;
		st->misses += s->misses;
		st->inserts += s->inserts;
		st->evictions += s->evictions;
		st->done += s->done;
		st->aged += s->aged;
		st->bytes += s->bytes;
		st->entries += s->entries;
		st->budget += s->budget;
		pthread_mutex_unlock(&s->lock);
	}
}
