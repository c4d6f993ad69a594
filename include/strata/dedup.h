/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dedup/: how file data becomes store records.
 *
 * - Content-defined chunking (FastCDC: gear hash, normalized chunking with
 *   two masks, no hashing below the minimum size) cuts large files into
 *   chunks whose boundaries move with the content, so an insertion early in
 *   a file changes only the chunks around it.  Small files are one object.
 *   Boundaries depend only on the bytes and the parameters, never on how the
 *   data was fed in, the build or the host: chunk ids are shared between
 *   hosts, so the gear table and the cut rule are part of the format.
 * - A chunk's id is the SHA-256 of its uncompressed bytes ("sha256:<hex>",
 *   the OCI digest form); it is also its store key.  XXH3 is offered for
 *   in-memory hash tables only, where an adversary does not matter.
 * - Chunks are stored zstd-compressed only when that saves enough to be
 *   worth decompressing on every read (see dedup_compress()).
 *
 * Thread safety: chunkers, hashers and compression contexts are owned by
 * one thread at a time; the free functions are thread-safe.
 */
#ifndef STRATA_DEDUP_H
#define STRATA_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strata/store.h"

/* ---- Chunking ---------------------------------------------------------- */

#define DEDUP_CHUNK_MIN_DEFAULT (16u << 10)
#define DEDUP_CHUNK_AVG_DEFAULT (64u << 10)
#define DEDUP_CHUNK_MAX_DEFAULT (256u << 10)
/* Limits accepted by dedup_chunker_params_check(). */
#define DEDUP_CHUNK_MIN_LIMIT 64u         /* one gear window */
#define DEDUP_CHUNK_AVG_LIMIT_LO 256u
#define DEDUP_CHUNK_MAX_LIMIT (1u << 20)  /* also the largest object dedup/ makes */

/*
 * On random data the mean chunk is about 1.15 x avg_size: normalized
 * chunking seldom cuts before avg_size and then cuts within about
 * avg_size / 4 bytes.
 */
struct dedup_chunker_params {
	uint32_t min_size; /* no cut before this many bytes; >= DEDUP_CHUNK_MIN_LIMIT */
	uint32_t avg_size; /* power of two, min_size < avg_size < max_size */
	uint32_t max_size; /* forced cut; <= DEDUP_CHUNK_MAX_LIMIT */
	uint32_t whole_max; /* files of at most this size are one object; 0: avg_size */
};

/* One chunk of a stream. */
struct dedup_chunk {
	uint64_t offset;     /* from the start of the stream */
	uint32_t len;        /* 1..max_size */
	const uint8_t *data; /* the chunk's bytes; valid only during the callback */
};

/* One chunk of a buffer, as returned by dedup_chunk_buffer(). */
struct dedup_span {
	uint64_t offset;
	uint32_t len;
};

struct dedup_chunker;

/*
 * Fill *p with the defaults (16 KiB / 64 KiB / 256 KiB, whole_max 0).
 * Cannot fail.
 */
void dedup_chunker_params_default(struct dedup_chunker_params *p);

/*
 * Check chunking parameters: avg_size a power of two of at least
 * DEDUP_CHUNK_AVG_LIMIT_LO, DEDUP_CHUNK_MIN_LIMIT <= min_size < avg_size <
 * max_size <= DEDUP_CHUNK_MAX_LIMIT, whole_max <= max_size.  Returns 0 or
 * -EINVAL.  Every function taking parameters checks them the same way.
 */
int dedup_chunker_params_check(const struct dedup_chunker_params *p);

/*
 * Policy for small files: true when a file of file_size bytes should be
 * stored as one whole object instead of being chunked (file_size <=
 * whole_max, or <= avg_size when whole_max is 0).  Below the average size
 * normalized chunking almost never cuts anyway, so this saves the scan and
 * makes the object's id the file's own SHA-256.  p NULL means defaults; p
 * must be valid (dedup_chunker_params_check()).
 */
bool dedup_whole_object(const struct dedup_chunker_params *p, uint64_t file_size);

/*
 * Create a streaming chunker for parameters p (NULL: defaults).  Returns 0
 * and the chunker in *out (the caller frees it with
 * dedup_chunker_destroy()), -EINVAL for bad parameters, -ENOMEM.
 */
int dedup_chunker_create(const struct dedup_chunker_params *p, struct dedup_chunker **out);

/* Free a chunker; NULL is accepted. */
void dedup_chunker_destroy(struct dedup_chunker *c);

/*
 * Forget the current stream: the next byte fed starts a new chunk at
 * offset 0.  Needed after a callback or allocation failure in
 * dedup_chunker_feed(), or to reuse the chunker for another file.
 */
void dedup_chunker_reset(struct dedup_chunker *c);

/*
 * Low-level scan with no copying: look for the end of the current chunk
 * in buf[0..len).  Returns the number of bytes consumed; *cut is true when
 * the current chunk ends right after them (the next byte starts a new
 * chunk), false when all len bytes were consumed with the chunk still
 * open.  The caller keeps the data itself; at end of stream whatever is
 * open (dedup_chunker_pending() bytes) is the last chunk.  Do not mix with
 * dedup_chunker_feed() on one stream.
 */
size_t dedup_chunker_scan(struct dedup_chunker *c, const void *buf, size_t len, bool *cut);

/* Bytes of the chunk still open (scanned but not yet cut). */
uint32_t dedup_chunker_pending(const struct dedup_chunker *c);

/*
 * Callback for dedup_chunker_feed()/dedup_chunker_finish(): called once per
 * chunk, in stream order.  Returns 0 to go on, or -errno, which stops
 * feeding and is returned to the feeder.
 */
typedef int (*dedup_chunk_fn)(void *arg, const struct dedup_chunk *chunk);

/*
 * Streaming interface: feed the next len bytes of the stream (any split,
 * any size, len 0 allowed) and get fn called for every chunk completed.
 * Chunk boundaries are the same however the stream is split into feeds.
 * A chunk that lies inside one feed is passed in place; one that spans
 * feeds is assembled in the chunker's own buffer (max_size bytes,
 * allocated on first use).  buf stays owned by the caller and is not
 * referenced after the call.  Returns 0, -ENOMEM (nothing consumed), or
 * the callback's -errno (the stream is then broken: reset the chunker).
 */
int dedup_chunker_feed(struct dedup_chunker *c, const void *buf, size_t len,
		       dedup_chunk_fn fn, void *arg);

/*
 * End of stream: pass the last (possibly short) chunk to fn, if any bytes
 * are pending, and reset the chunker for a new stream.  Returns 0 or the
 * callback's -errno (the chunker is reset either way).
 */
int dedup_chunker_finish(struct dedup_chunker *c, dedup_chunk_fn fn, void *arg);

/*
 * One-shot: chunk a whole buffer with parameters p (NULL: defaults).
 * Returns 0 with a malloc'd array of *count spans in *spans (the caller
 * frees it with free(); NULL and 0 for an empty buffer), -EINVAL, -ENOMEM.
 * The spans are exactly those the streaming interface produces.
 */
int dedup_chunk_buffer(const struct dedup_chunker_params *p, const void *buf, size_t len,
		       struct dedup_span **spans, size_t *count);

/* ---- Content ids ------------------------------------------------------- */

#define DEDUP_CID_LEN 32
#define DEDUP_CID_PREFIX "sha256:"
#define DEDUP_CID_STR_LEN (sizeof(DEDUP_CID_PREFIX) - 1 + 2 * DEDUP_CID_LEN) /* 71 */
#define DEDUP_CID_STR_SIZE (DEDUP_CID_STR_LEN + 1)

/* SHA-256 of a chunk's uncompressed bytes; byte for byte a store key. */
struct dedup_cid {
	uint8_t b[DEDUP_CID_LEN];
};

_Static_assert(sizeof(struct dedup_cid) == sizeof(struct store_key),
	       "a content id is a store key");

/* The store key of a content id (the same 32 bytes). */
static inline void dedup_cid_to_key(const struct dedup_cid *cid, struct store_key *key)
{
	memcpy(key->b, cid->b, DEDUP_CID_LEN);
}

/* The content id held in a chunk record's store key. */
static inline void dedup_cid_from_key(const struct store_key *key, struct dedup_cid *cid)
{
	memcpy(cid->b, key->b, DEDUP_CID_LEN);
}

/*
 * SHA-256 of buf[0..len) into *out (OpenSSL, SHA-NI where the CPU has
 * it).  Returns 0, or -ENOMEM/-EIO when libcrypto fails (logged).
 */
int dedup_cid_compute(const void *buf, size_t len, struct dedup_cid *out);

/*
 * Streaming SHA-256 for data that is not in one buffer.  One hasher is
 * reused for many ids without allocating: dedup_hasher_final() resets it.
 */
struct dedup_hasher;

/*
 * Create a hasher ready for data.  Returns 0 and *out (free with
 * dedup_hasher_destroy()), -ENOMEM, or -EIO when libcrypto has no SHA-256.
 */
int dedup_hasher_create(struct dedup_hasher **out);

/* Add len bytes.  Returns 0 or -EIO (libcrypto failure, logged). */
int dedup_hasher_update(struct dedup_hasher *h, const void *buf, size_t len);

/*
 * Write the id of everything added since the last final/reset to *out and
 * reset the hasher for the next id.  Returns 0 or -EIO (logged).
 */
int dedup_hasher_final(struct dedup_hasher *h, struct dedup_cid *out);

/* Drop the data added so far.  Returns 0 or -EIO (logged). */
int dedup_hasher_reset(struct dedup_hasher *h);

/* Free a hasher; NULL is accepted. */
void dedup_hasher_destroy(struct dedup_hasher *h);

/*
 * Format as "sha256:" and 64 lowercase hex digits into out
 * (DEDUP_CID_STR_SIZE bytes, NUL terminated).  Returns out.
 */
char *dedup_cid_format(const struct dedup_cid *cid, char out[DEDUP_CID_STR_SIZE]);

/*
 * Parse the NUL-terminated string s, which must be exactly "sha256:"
 * followed by 64 lowercase hex digits (the OCI digest form; uppercase hex,
 * another algorithm, a short or long digest or trailing bytes are all
 * -EINVAL).  Returns 0 and *out, or -EINVAL leaving *out untouched.
 */
int dedup_cid_parse(const char *s, struct dedup_cid *out);

/* As dedup_cid_parse(), for len bytes of s that need not be NUL terminated. */
int dedup_cid_parse_n(const char *s, size_t len, struct dedup_cid *out);

/* Byte order comparison (memcmp sign); equal ids return 0. */
int dedup_cid_cmp(const struct dedup_cid *a, const struct dedup_cid *b);

/* True when a and b are the same id. */
bool dedup_cid_equal(const struct dedup_cid *a, const struct dedup_cid *b);

/*
 * XXH3-64 of buf with seed.  For in-memory hash tables only (fast, not
 * collision resistant): tables keyed by outside data should use a seed
 * drawn at random per process so bucket collisions cannot be planned.
 */
uint64_t dedup_hash64(const void *buf, size_t len, uint64_t seed);

/* XXH3-64 of a content id with seed, for hash tables of ids. */
uint64_t dedup_cid_hash(const struct dedup_cid *cid, uint64_t seed);

/* ---- Compression ------------------------------------------------------- */

enum dedup_compress_algo {
	DEDUP_COMPRESS_NONE = 0,
	DEDUP_COMPRESS_ZSTD = 1,
};

/*
 * Level 1: the import's CPU is half zstd at level 3, and level 1 makes a
 * minbase import 17% faster for 4% more stored bytes (64.3 vs 61.9 MiB);
 * frames of any level read the same.  Stores that want the smaller size
 * set it (strata store set compress=zstd:3).
 */
#define DEDUP_ZSTD_LEVEL_DEFAULT 1

/* Per-store compression setting. */
struct dedup_compress_policy {
	enum dedup_compress_algo algo;
	int level; /* zstd level; 0: DEDUP_ZSTD_LEVEL_DEFAULT; negative: fast levels */
};

/*
 * Parse "none", "zstd" or "zstd:N" (N within zstd's level range, negative
 * allowed; 0 and plain "zstd" mean DEDUP_ZSTD_LEVEL_DEFAULT) into *out.
 * Returns 0, or -EINVAL leaving *out untouched.
 */
int dedup_compress_policy_parse(const char *s, struct dedup_compress_policy *out);

/*
 * Compression context: one zstd compression and one decompression context,
 * reused for every chunk.  Owned by one thread at a time; create one per
 * worker thread.
 */
struct dedup_zctx;

/*
 * Create a context for policy pol (NULL: none; decompression works under
 * any policy, so records written under an older setting stay readable).
 * Returns 0 and *out (free with dedup_zctx_destroy()), -EINVAL for an
 * unknown algorithm or a level out of range, -ENOMEM.
 */
int dedup_zctx_create(const struct dedup_compress_policy *pol, struct dedup_zctx **out);

/* Free a context; NULL is accepted. */
void dedup_zctx_destroy(struct dedup_zctx *z);

/*
 * Smallest saving, in bytes, that makes dedup_compress() keep a zstd frame
 * for a raw chunk of raw_len bytes: max(raw_len / 8, 512).  A compressed
 * record costs a decompression on every read and rules out splicing the
 * data straight from the store; savings under a sector vanish in record
 * alignment, and under 1/8 they do not pay for that CPU.
 */
size_t dedup_compress_min_saving(size_t raw_len);

/*
 * Compress src[0..len) into dst (dst_cap bytes; len bytes always suffice).
 * Returns 0 with *zlen > 0 when dst holds a zstd frame worth keeping
 * (store it with STORE_F_ZSTD and len as the raw length), or 0 with *zlen
 * == 0 when the chunk should be stored raw: policy none, or compression
 * saves less than dedup_compress_min_saving(len).  -EINVAL bad arguments,
 * -ENOMEM, -EIO other zstd failure (logged).
 */
int dedup_compress(struct dedup_zctx *z, const void *src, size_t len, void *dst, size_t dst_cap,
		   size_t *zlen);

/*
 * Decompress the zstd frame src[0..src_len) into dst, which must have room
 * for exactly raw_len bytes, the length recorded next to the frame.  The
 * frame must be one complete frame with no trailing bytes, declare its
 * content size, and that size and the decoded length must both equal
 * raw_len.  Returns 0, -EBADMSG for a corrupt or mismatched frame (logged),
 * -ENOMEM.
 */
int dedup_decompress(struct dedup_zctx *z, const void *src, size_t src_len, void *dst,
		     size_t raw_len);

/*
 * "none" or "zstd:N" for p into buf (len bytes; 16 suffice); returns buf.
 * The inverse of dedup_compress_policy_parse().
 */
char *dedup_compress_policy_format(const struct dedup_compress_policy *p, char *buf, size_t len);

/* ---- Per-store policy (dedup/policy.c) ----------------------------------- */

/*
 * User word of the STORE_REC_META records that hold a store's policy
 * ("STPC").  gc and the catalog leave records of this kind alone.
 */
#define DEDUP_POLICY_KIND 0x53545043u

/*
 * What a store says new data should get: compression and chunking.  A
 * field not set in the store (has_* false) holds the built-in default;
 * tools apply, from weakest to strongest: built-in default, store policy,
 * environment, command-line option.  Chunk ids depend only on the bytes,
 * so changing the chunking never breaks what is stored: layers written
 * under different chunkings share whatever chunks happen to be equal.
 */
struct dedup_store_policy {
	bool has_compress;
	struct dedup_compress_policy compress;
	bool has_chunking;
	struct dedup_chunker_params chunking; /* valid (dedup_chunker_params_check()) */
	uint64_t generation; /* 0: the store has no policy record */
};

/* Fill *p with the built-in defaults (nothing set, generation 0). */
void dedup_store_policy_default(struct dedup_store_policy *p);

/*
 * Read the store's policy into *out (defaults, generation 0, when the
 * store has none).  Returns 0; -EBADMSG when policy records exist but none
 * decodes (logged; *out holds the defaults); -errno from the store.
 */
int dedup_store_policy_load(struct store *s, struct dedup_store_policy *out);

/*
 * Replace the store's policy with *p (its generation is set to the next
 * one) and sync.  Crash-safe: the new record goes to the slot that does
 * not hold the current one, so at every instant one complete policy, old
 * or new, is found.  The caller holds the exclusive catalog lock (one
 * writer).  Returns 0; -EINVAL for a policy that does not check out;
 * -EROFS, -ENOSPC, -EIO from the store.
 */
int dedup_store_policy_save(struct store *s, struct dedup_store_policy *p);

/*
 * NULL when p is valid chunking (dedup_chunker_params_check() == 0), else
 * a sentence saying which rule it breaks, for error messages.
 */
const char *dedup_chunker_params_why(const struct dedup_chunker_params *p);

/*
 * Parse "MIN:AVG:MAX" (each a size: bytes, or with a K/M suffix, powers of
 * 1024) into *p, with whole_max 0 (= AVG).  Returns 0, or -EINVAL leaving
 * *p untouched with *why set to what is wrong (a static string).
 */
int dedup_chunking_parse(const char *s, struct dedup_chunker_params *p, const char **why);

/*
 * Parse a whole-file threshold (a size, at most DEDUP_CHUNK_MAX_LIMIT; 0
 * means the average chunk size).  Returns 0 and *out, or -EINVAL with *why.
 * Whether it fits the chunking (<= MAX) is checked with the chunking.
 */
int dedup_whole_max_parse(const char *s, uint32_t *out, const char **why);

#endif
