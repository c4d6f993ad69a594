/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded cache of raw (verified, decompressed) chunks, keyed by content
 * id, for the readers of store-backed layers.
 *
 * Why a daemon needs one besides the kernel's page cache: a chunk is read
 * and checked whole (its checksum covers it), but a request often wants
 * only part of it: a 4 KiB random read, or the kernel's read-ahead windows,
 * whose edges rarely fall on chunk edges.  Without a cache every such
 * request reads and checks the whole chunk again, and the next window
 * reads the chunk at its edge a second time.  The caller decides what to
 * keep (layer_read() keeps chunks a request used only part of); lookups
 * copy the wanted bytes out, so no entry is ever used after it is evicted.
 *
 * Thread safety: any number of threads at once.  The cache is split into
 * shards by a seeded hash of the id (ids come from outside data), each
 * with its own lock (a leaf lock: nothing else is taken under it, held only
 * for the table walk, the LRU move and the copy), its own least recently
 * used list and an equal part of the byte budget.
 */
#ifndef STRATA_CHUNKCACHE_H
#define STRATA_CHUNKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/dedup.h"

struct chunk_cache;

/* What a cache did since it was created. */
struct chunk_cache_stats {
	uint64_t hits, misses; /* lookups */
	uint64_t inserts, evictions;
	uint64_t done;	  /* dropped once all their bytes were handed out */
	uint64_t aged;	  /* dropped by chunk_cache_trim() */
	uint64_t bytes;   /* held now: chunk bytes plus per-entry overhead */
	uint64_t entries; /* held now */
	uint64_t budget;
};

/*
 * Create a cache holding at most budget bytes (chunk bytes plus a small
 * per-entry overhead).  budget 0 is refused (-EINVAL: no cache is NULL);
 * a chunk larger than a shard's part of the budget is never kept.
 * Returns 0 and *out, -EINVAL, -ENOMEM.
 */
int chunk_cache_create(uint64_t budget, struct chunk_cache **out);

/* Free the cache and everything in it; NULL is accepted. */
void chunk_cache_destroy(struct chunk_cache *c);

/*
 * When chunk cid is cached with chunk_len bytes (what the caller's index
 * says it has) and [off, off+len) lies inside it, copy those bytes to dst,
 * mark the chunk recently used and return true; otherwise return false
 * (counted as a miss).  A chunk of which as many bytes as it has were
 * handed out (adopt's used included) leaves the cache: its reader has all
 * of it by now (the kernel keeps what a FUSE read returned in its page
 * cache), so a stream through the cache keeps few chunks, not its budget.
 */
bool chunk_cache_read(struct chunk_cache *c, const struct dedup_cid *cid, size_t chunk_len,
		      uint64_t off, size_t len, void *dst);

/*
 * A buffer for len bytes of a chunk (len <= UINT32_MAX) that
 * chunk_cache_adopt() can keep without copying it; free it with
 * chunk_cache_free() if it is not given to a cache.  NULL: no memory.
 */
void *chunk_cache_alloc(size_t len);
void chunk_cache_free(void *buf);

/*
 * Keep chunk cid, whose len raw bytes are in buf (from chunk_cache_alloc()
 * with at least len bytes), of which the caller handed out used bytes
 * already, evicting the least recently used chunks of its shard to make
 * room.  The cache takes buf in every case: it is kept, or freed when the
 * chunk is cached already (which is then marked used, and used counted as
 * handed out from it: two readers that missed it at once each had their
 * part), when it is larger than a shard's part of the budget (-E2BIG) or
 * len is 0 (-EINVAL).  Returns 0 when the chunk is cached.
 */
int chunk_cache_adopt(struct chunk_cache *c, const struct dedup_cid *cid, void *buf, size_t len,
		      size_t used);

/*
 * chunk_cache_adopt() of a copy of data, none of it handed out.  Returns as it does, or -ENOMEM
 * (nothing changed: a cache that cannot grow still serves what it holds).
 */
int chunk_cache_put(struct chunk_cache *c, const struct dedup_cid *cid, const void *data,
		    size_t len);

/*
 * Free every chunk not kept or read within the last idle_ns nanoseconds
 * (0: all of them), so that an idle reader gives its memory back.
 * Returns the bytes freed (as counted against the budget).
 */
uint64_t chunk_cache_trim(struct chunk_cache *c, uint64_t idle_ns);

/* Counters, summed over the shards. */
void chunk_cache_get_stats(struct chunk_cache *c, struct chunk_cache_stats *st);

#endif
