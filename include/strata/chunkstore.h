/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dedup index: file data chunks in the block store, keyed by their
 * SHA-256 content id, stored zstd-compressed when the per-store policy says
 * it pays (STORE_F_ZSTD set, raw length in the record's user word), and the
 * reference counts that decide what gc may reclaim.
 *
 * Crash safety of reference counts.  Counts are never stored as counters
 * (a counter update and the record it counts could not be made durable
 * together with the store's primitives, and a torn pair would either leak
 * a chunk forever or free a live one).  The only persistent truth is the
 * layer indexes: each lists the chunks its files and tar skeleton use, and a
 * layer is reachable when an image record of the catalog names it.  A
 * struct chunk_refs is the table derived from them: built at gc (or df)
 * time by walking catalog -> layers -> chunk lists, updated in memory with
 * chunk_refs_incref()/decref() while the process works.  A chunk is written
 * before any layer that names it (import syncs chunks, then writes the
 * layer, then the image record), so after a crash at any instant every
 * reachable chunk exists, and chunks of an interrupted import are simply
 * unreferenced: chunkstore_sweep() deletes them.  gc must hold the store's
 * exclusive lock (catalog_lock()) so no import is between "chunk written"
 * and "layer written" while it sweeps.
 *
 * Thread safety: a struct chunkstore may be used by many threads at once
 * (compression contexts come from an internal pool).  A struct chunk_refs
 * belongs to one thread at a time.
 */
#ifndef STRATA_CHUNKSTORE_H
#define STRATA_CHUNKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/dedup.h"
#include "strata/store.h"

struct chunkstore;

/*
 * Wrap an open store.  pol: compression policy for new chunks (NULL: zstd
 * at the default level).  The store stays owned by the caller and must
 * outlive the chunkstore.  Returns 0 and *out, -EINVAL bad policy, -ENOMEM.
 */
int chunkstore_create(struct store *s, const struct dedup_compress_policy *pol,
		      struct chunkstore **out);

/* Free a chunkstore (not the store); NULL is accepted. */
void chunkstore_destroy(struct chunkstore *cs);

/* The store under cs. */
struct store *chunkstore_store(const struct chunkstore *cs);

/*
 * A chunk cache (strata/chunkcache.h) for the readers of cs's chunks
 * (layer_read()); NULL: none.  Owned by the caller, who must keep it
 * until cs is destroyed or another is set; set before any reader starts.
 */
struct chunk_cache;
void chunkstore_set_cache(struct chunkstore *cs, struct chunk_cache *cache);
struct chunk_cache *chunkstore_cache(const struct chunkstore *cs);

/* What chunkstore_put() did. */
struct chunkstore_put_info {
	bool added;          /* a new record was written (false: deduplicated) */
	bool compressed;     /* the record holds a zstd frame */
	uint32_t stored_len; /* payload bytes of the record (new or existing) */
};

/*
 * Store len bytes (1..DEDUP_CHUNK_MAX_LIMIT) as a chunk: compute the id,
 * and unless a chunk with that id exists, write it (compressed when the
 * policy says so).  Returns 0 with *cid (and *pi, may be NULL), -EINVAL
 * (len 0 or too big), -ENOSPC, -ENOMEM, -EIO, -EROFS.  The chunk is durable
 * after store_sync().
 */
int chunkstore_put(struct chunkstore *cs, const void *data, size_t len, struct dedup_cid *cid,
		   struct chunkstore_put_info *pi);

/* As chunkstore_put() when the caller already computed cid from data. */
int chunkstore_put_cid(struct chunkstore *cs, const struct dedup_cid *cid, const void *data,
		       size_t len, struct chunkstore_put_info *pi);

/* ---- two-step puts, for worker threads (see dedup/pipeline.c) ---- */

/* What chunkstore_prepare() found out about a chunk. */
struct chunkstore_prep {
	struct dedup_cid cid;
	bool exists;         /* already in the store: nothing to write */
	bool compressed;     /* when exists: the record holds a zstd frame */
	uint32_t stored_len; /* when exists: its payload bytes */
	size_t zlen;         /* when not: bytes of zstd frame in zbuf, 0: store raw */
};

/*
 * A compression context for cs's policy, owned by the caller (one per
 * worker thread; free with dedup_zctx_destroy()).  Returns 0, -ENOMEM.
 */
int chunkstore_zctx_create(struct chunkstore *cs, struct dedup_zctx **out);

/*
 * First half of chunkstore_put(), safe to run on many threads at once
 * (each with its own z and zbuf): compute the id of len bytes
 * (1..DEDUP_CHUNK_MAX_LIMIT), look it up, and only when the store does not
 * hold it compress the data into zbuf (zcap bytes; len suffice) as the
 * policy says.  Writes nothing.  Returns 0 and *pr, -EINVAL, -EUCLEAN (the
 * key holds another record type, logged), -ENOMEM, -EIO.
 */
int chunkstore_prepare(struct chunkstore *cs, struct dedup_zctx *z, const void *data, size_t len,
		       void *zbuf, size_t zcap, struct chunkstore_prep *pr);

/*
 * Second half: write the chunk prepared in *pr (data: its raw bytes, zbuf:
 * the frame chunkstore_prepare() left) unless it exists; a record written
 * since the check counts as a hit.  Returns as chunkstore_put_cid().
 */
int chunkstore_put_prepared(struct chunkstore *cs, const struct chunkstore_prep *pr,
			    const void *data, size_t len, const void *zbuf,
			    struct chunkstore_put_info *pi);

/*
 * Pipeline: many chunks prepared by worker threads (SHA-256, lookup, zstd)
 * while the caller goes on producing them, and written by the caller's
 * thread in submission order, so the store sees the same puts in the same
 * order as with chunkstore_put() one by one.  Owned by one thread.
 */
struct dedup_pipeline;

/*
 * Called on the submitting thread, in submission order, once a chunk is in
 * the store: tag as given to dedup_pipeline_submit().  Returns 0 or
 * -errno, which stops the pipeline (dedup_pipeline_submit()/flush() then
 * return it).
 */
typedef int (*dedup_pipeline_done_fn)(void *arg, uint64_t tag, const struct dedup_cid *cid,
				      const struct chunkstore_put_info *pi);

/*
 * Start nworkers threads (0: one per online CPU) for chunks of at most
 * max_len bytes (<= DEDUP_CHUNK_MAX_LIMIT).  Returns 0 and *out, -EINVAL,
 * -ENOMEM, -EAGAIN (no threads).
 */
int dedup_pipeline_create(struct chunkstore *cs, unsigned nworkers, uint32_t max_len,
			  dedup_pipeline_done_fn fn, void *arg, struct dedup_pipeline **out);

/*
 * Queue a copy of data[0..len) (1..max_len bytes).  May first write chunks
 * whose preparation is done, and wait for one when all slots are busy.
 * Returns 0, -EINVAL, or the first error of any earlier chunk (a store
 * error, or the callback's): the pipeline is then broken and every later
 * call returns that error; nothing after the failing chunk is written.
 */
int dedup_pipeline_submit(struct dedup_pipeline *p, const void *data, size_t len, uint64_t tag);

/* Wait for and write every queued chunk.  Returns 0 or the first error. */
int dedup_pipeline_flush(struct dedup_pipeline *p);

/*
 * Stop the workers and free; chunks queued and not flushed are dropped
 * (what was written stays, unreferenced, for gc).  NULL is accepted.
 */
void dedup_pipeline_destroy(struct dedup_pipeline *p);

/*
 * Describe a chunk without reading it: raw (uncompressed) length, payload
 * length in the store, compressed or not.  Any out pointer may be NULL.
 * Returns 0, -ENOENT (no such chunk), -EUCLEAN (the key holds another
 * record type).
 */
int chunkstore_stat(struct chunkstore *cs, const struct dedup_cid *cid, uint32_t *raw_len,
		    uint32_t *stored_len, bool *compressed);

/*
 * Read a chunk's raw bytes into buf (bufsize >= raw length).  Returns 0 and
 * *len, -ENOENT, -ENOBUFS (*len says how much is needed), -EBADMSG (store
 * checksum or zstd frame broken; logged with the id), -EIO, -ENOMEM.
 * verify: also recompute the SHA-256 and return -EBADMSG on a mismatch.
 */
int chunkstore_get(struct chunkstore *cs, const struct dedup_cid *cid, void *buf, size_t bufsize,
		   size_t *len, bool verify);

/* One request of chunkstore_get_batch(). */
struct chunkstore_req {
	struct dedup_cid cid;
	void *buf;      /* room for the raw chunk */
	size_t bufsize;
	size_t len;     /* out: raw length */
	int res;        /* out: 0 or -errno as for chunkstore_get() */
	/* out, when res is 0: the raw chunk, len bytes: buf, or for a chunk
	 * stored uncompressed possibly the store's per-thread read buffer,
	 * valid until this thread's next store read or store_close() (see
	 * store_get_req.data in strata/store.h) */
	const void *data;
};

/*
 * Read n chunks with one batched store read (store_get_batch()), then
 * decompress those that need it (straight from the store's read buffer
 * where the device needs aligned reads).  Returns 0 when all succeeded,
 * else the first failing request's -errno (each request has its own res).
 */
int chunkstore_get_batch(struct chunkstore *cs, struct chunkstore_req *reqs, unsigned n);

/* ---- reference counts (derived, see above) ---- */

struct chunk_refs;

/* Create an empty table.  Returns 0 and *out, or -ENOMEM. */
int chunk_refs_create(struct chunk_refs **out);

/* Free a table; NULL is accepted. */
void chunk_refs_destroy(struct chunk_refs *r);

/*
 * Add n references to cid (n >= 1).  Returns the new count (> 0) or
 * -ENOMEM (table unchanged).
 */
int64_t chunk_refs_incref(struct chunk_refs *r, const struct dedup_cid *cid, uint64_t n);

/*
 * Drop one reference.  Returns the new count (0: nobody uses the chunk any
 * more, gc may reclaim it), or -ENOENT when cid holds no reference (a
 * caller bug, reported rather than going negative).
 */
int64_t chunk_refs_decref(struct chunk_refs *r, const struct dedup_cid *cid);

/* Current count of cid (0 when unknown). */
uint64_t chunk_refs_get(const struct chunk_refs *r, const struct dedup_cid *cid);

/* Number of ids with a count > 0. */
size_t chunk_refs_count(const struct chunk_refs *r);

/*
 * Call fn for every id with a count > 0 (any order).  fn returns 0 to go
 * on, anything else stops the walk and is returned.
 */
typedef int (*chunk_refs_fn)(void *arg, const struct dedup_cid *cid, uint64_t count);
int chunk_refs_iterate(const struct chunk_refs *r, chunk_refs_fn fn, void *arg);

/* What chunkstore_sweep() found and did. */
struct chunkstore_sweep_stats {
	uint64_t chunks;        /* chunk records seen */
	uint64_t live;          /* kept: referenced */
	uint64_t deleted;       /* deleted: unreferenced */
	uint64_t deleted_bytes; /* their payload bytes */
	uint64_t missing;       /* referenced ids with no chunk record (damage) */
};

/*
 * Delete every chunk record whose id has no reference in live, then sync.
 * Counts referenced ids that have no record in st->missing (logged; not an
 * error for the sweep, but the caller should report damage).  The caller
 * holds the store's exclusive lock.  Returns 0, or -errno of the first
 * failed delete/sync (records deleted before it stay deleted: they were
 * garbage).  dry_run: count only.
 */
int chunkstore_sweep(struct chunkstore *cs, const struct chunk_refs *live, bool dry_run,
		     struct chunkstore_sweep_stats *st);

#endif
