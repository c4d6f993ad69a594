// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The in-memory index: key -> record location.  64 shards, each an
 * open-addressing table with linear probing and backward-shift deletion
 * (no tombstones, so probe chains never rot).  A shard is picked by the top
 * bits of XXH3(key), the slot by the low bits, so the two are independent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "store/store-internal.h"

#define IDX_INIT_CAP 64u

static inline uint64_t key_hash(const uint8_t *key)
{
	return XXH3_64bits(key, STORE_KEY_LEN);
}

int idx_init(struct store_index *x)
{
	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		struct idx_shard *sh = &x->sh[i];

		pthread_mutex_init(&sh->lock, NULL);
		sh->tab = calloc(IDX_INIT_CAP, sizeof(*sh->tab));
		if (!sh->tab) {
			idx_free(x);
			return -ENOMEM;
		}
		sh->cap = IDX_INIT_CAP;
		sh->n = 0;
	}
	return 0;
}

void idx_free(struct store_index *x)
{
	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		free(x->sh[i].tab);
		x->sh[i].tab = NULL;
		x->sh[i].cap = x->sh[i].n = 0;
	}
}

static struct idx_shard *shard_of(struct store_index *x, uint64_t h)
{
	return &x->sh[h >> 58];
}

/* Slot holding key, or the empty slot where it would go. */
static uint32_t find_slot(const struct idx_shard *sh, const uint8_t *key, uint64_t h)
{
	uint32_t mask = sh->cap - 1, i = (uint32_t)h & mask;

	while (sh->tab[i].type && memcmp(sh->tab[i].key, key, STORE_KEY_LEN))
		i = (i + 1) & mask;
	return i;
}

static int grow_to(struct idx_shard *sh, uint32_t ncap)
{
	struct idx_ent *nt = calloc(ncap, sizeof(*nt)), *ot = sh->tab;
	uint32_t ocap = sh->cap;

	if (!nt)
		return -ENOMEM;
	sh->tab = nt;
	sh->cap = ncap;
	for (uint32_t i = 0; i < ocap; i++) {
		if (!ot[i].type)
			continue;
		nt[find_slot(sh, ot[i].key, key_hash(ot[i].key))] = ot[i];
	}
	free(ot);
	return 0;
}

static int grow(struct idx_shard *sh)
{
	return grow_to(sh, sh->cap * 2);
}

static uint64_t isqrt64(uint64_t v)
{
	uint64_t r = 0;

	while ((r + 1) * (r + 1) <= v)
		r++;
	return r;
}

/*
 * Room for about n keys in all, made at once: loading a checkpoint of n
 * records would otherwise double every shard several times, rehashing
 * and faulting in each table on the way.  A shard gets its share plus
 * two standard deviations (keys fall into shards like balls into bins):
 * the odd shard that gets more grows as before, while more slack would
 * often double every table, and each page of a table costs a fault.
 */
int idx_reserve(struct store_index *x, uint64_t n)
{
	uint64_t share = n / IDX_SHARDS, want = share + 2 * (isqrt64(share) + 1);
	uint64_t cap = IDX_INIT_CAP;

	while (want * 4 > cap * 3)
		cap *= 2;
	if (cap > UINT32_MAX / 2)
		return -ENOMEM;
	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		struct idx_shard *sh = &x->sh[i];
		int r = 0;

		pthread_mutex_lock(&sh->lock);
		if (sh->cap < cap)
			r = grow_to(sh, (uint32_t)cap);
		pthread_mutex_unlock(&sh->lock);
		if (r)
			return r;
	}
	return 0;
}

int idx_get(struct store_index *x, const uint8_t *key, struct idx_ent *e)
{
	uint64_t h = key_hash(key);
	struct idx_shard *sh = shard_of(x, h);
	int ret = -ENOENT;
	uint32_t i;

	pthread_mutex_lock(&sh->lock);
	i = find_slot(sh, key, h);
	if (sh->tab[i].type) {
		if (e)
			*e = sh->tab[i];
		ret = 0;
	}
	pthread_mutex_unlock(&sh->lock);
	return ret;
}

int idx_put(struct store_index *x, const struct idx_ent *e, struct idx_ent *old, bool *replaced)
{
	uint64_t h = key_hash(e->key);
	struct idx_shard *sh = shard_of(x, h);
	int ret = 0;
	uint32_t i;

	pthread_mutex_lock(&sh->lock);
	/* Keep the load below 3/4 so probe chains stay short. */
	if ((sh->n + 1) * 4 > sh->cap * 3) {
		ret = grow(sh);
		if (ret)
			goto out;
	}
	i = find_slot(sh, e->key, h);
	*replaced = sh->tab[i].type != 0;
	if (*replaced && old)
		*old = sh->tab[i];
	if (!*replaced)
		sh->n++;
	sh->tab[i] = *e;
out:
	pthread_mutex_unlock(&sh->lock);
	return ret;
}

int idx_del(struct store_index *x, const uint8_t *key, struct idx_ent *old)
{
	uint64_t h = key_hash(key);
	struct idx_shard *sh = shard_of(x, h);
	uint32_t mask, i, j;

	pthread_mutex_lock(&sh->lock);
	mask = sh->cap - 1;
	i = find_slot(sh, key, h);
	if (!sh->tab[i].type) {
		pthread_mutex_unlock(&sh->lock);
		return -ENOENT;
	}
	if (old)
		*old = sh->tab[i];
	/* Backward-shift: pull later members of the chain into the hole. */
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (!sh->tab[j].type)
			break;
		home = (uint32_t)key_hash(sh->tab[j].key) & mask;
		/* Entry j may move to i only if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			sh->tab[i] = sh->tab[j];
			i = j;
		}
	}
	memset(&sh->tab[i], 0, sizeof(sh->tab[i]));
	sh->n--;
	pthread_mutex_unlock(&sh->lock);
	return 0;
}

void idx_swap(struct store_index *a, struct store_index *b)
{
	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		struct idx_shard *x = &a->sh[i], *y = &b->sh[i];
		struct idx_ent *tab;
		uint32_t cap, n;

		pthread_mutex_lock(&x->lock);
		pthread_mutex_lock(&y->lock);
		tab = x->tab;
		cap = x->cap;
		n = x->n;
		x->tab = y->tab;
		x->cap = y->cap;
		x->n = y->n;
		y->tab = tab;
		y->cap = cap;
		y->n = n;
		pthread_mutex_unlock(&y->lock);
		pthread_mutex_unlock(&x->lock);
	}
}

uint64_t idx_count(struct store_index *x)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < IDX_SHARDS; i++) {
		pthread_mutex_lock(&x->sh[i].lock);
		n += x->sh[i].n;
		pthread_mutex_unlock(&x->sh[i].lock);
	}
	return n;
}

int idx_snapshot_shard(struct store_index *x, unsigned shard, struct idx_ent **out, uint32_t *n)
{
	struct idx_shard *sh = &x->sh[shard];
	struct idx_ent *a;
	uint32_t k = 0;

	pthread_mutex_lock(&sh->lock);
	a = malloc((sh->n ? sh->n : 1) * sizeof(*a));
	if (!a) {
		pthread_mutex_unlock(&sh->lock);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < sh->cap; i++)
		if (sh->tab[i].type)
			a[k++] = sh->tab[i];
	pthread_mutex_unlock(&sh->lock);
	*out = a;
	*n = k;
	return 0;
}
