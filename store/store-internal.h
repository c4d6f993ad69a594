/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block store core: on-disk format helpers, the in-memory index, the log
 * appender, checkpoints and recovery.  Private to store/.  The on-disk
 * format is normative in man/strata-store.5; store/DESIGN.md explains why.
 */
#ifndef STRATA_STORE_INTERNAL_H
#define STRATA_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/store.h"
#include "store/device-internal.h"
#include "store/io-internal.h"

/* ---- on-disk constants (see strata-store(5)) ---- */
#define SB_MAGIC "STRATA\0S"
#define SB_MAGIC_LEN 8
#define SB_SIZE 144		/* bytes covered by the superblock incl. its xxh3 */
#define SEG_MAGIC 0x47455353u	/* "SSEG" read as little-endian u32 */
#define SEG_HDR_SIZE 48
#define REC_MAGIC 0x43455253u	/* "SREC" */
#define REC_HDR 64
#define SLOT_MAGIC 0x54504353u	/* "SCPT" */
#define SLOT_SIZE 64

#define SEG_MIN_SIZE (1u << 20)
#define SEG_MAX_SIZE (256u << 20)
#define DATA_ALIGN (1u << 20)

/* Internal record types. */
enum {
	REC_PAD = 0x100,
	REC_TOMB = 0x101,
	REC_CP_INDEX = 0x102,
	REC_CP_SEGTAB = 0x103,
	REC_CP_COMMIT = 0x104,
};

#define CP_ENT_SIZE 64		/* one index entry in a CP_INDEX page */
#define CP_SEG_SIZE 16		/* one segment in a CP_SEGTAB page */
#define CP_PAGE_MAX (1u << 20)	/* payload bound of a checkpoint page */
#define CP_COMMIT_FIXED 64	/* commit payload before the page list */
#define CP_PAGEREF_SIZE 16

/* Write buffers: fixed 1 MiB windows of a segment (segments are multiples). */
#define WBUF_SIZE (1u << 20)
#define NWBUF 8
#define WQ_DEPTH 4

#define IDX_SHARDS 64

/* ---- little-endian helpers ---- */
static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline uint32_t rec_total(uint32_t len)
{
	return (REC_HDR + len + 7u) & ~7u;
}

/* ---- format.c: decoded on-disk structures ---- */
struct sb {
	uint32_t version;
	uint32_t incompat;
	uint8_t uuid[16];
	char label[STORE_LABEL_MAX];
	uint64_t device_size;
	uint32_t block_size;
	uint32_t segment_size;
	uint64_t data_start;
	uint64_t nsegments;
	uint64_t created;
};

struct seg_hdr {
	uint32_t version;
	uint8_t uuid[16];
	uint64_t seq;
	uint64_t index;
};

struct rec_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t user;
	uint64_t lsn;
	uint8_t key[STORE_KEY_LEN];
	uint64_t csum;
};

struct cp_slot {
	uint64_t gen;
	uint8_t uuid[16];
	uint32_t seg;	/* location of the CP_COMMIT record */
	uint32_t off;
	uint32_t len;	/* its payload length */
	uint64_t lsn;	/* its lsn */
};

void sb_encode(const struct sb *sb, uint8_t *blk);
/* 0, -EINVAL (not a store), -EPROTONOSUPPORT (newer), -EUCLEAN (corrupt). */
int sb_decode(const uint8_t *blk, size_t len, struct sb *sb, const char *path);
void seg_hdr_encode(const struct seg_hdr *h, uint8_t *p);
int seg_hdr_decode(const uint8_t *p, struct seg_hdr *h); /* 0 or -EINVAL */
void rec_hdr_encode(const struct rec_hdr *h, uint8_t *p); /* csum as given */
/* Parse a header (magic, fields; no checksum check).  0 or -EINVAL. */
int rec_hdr_decode(const uint8_t *p, struct rec_hdr *h);
/*
 * Checksum of a record: XXH3 seeded with the store's seed (first 8 bytes of
 * the uuid, little-endian) over the header with csum=0, then the payload;
 * PAD: header only.  The seed makes records left by an earlier format of
 * the same device fail verification even where lsns happen to line up.
 */
/* A segment emptied by deletes whose last tombstone is not synced yet. */
bool seg_awaits_sync_locked(const struct store *s, uint64_t i);

uint64_t rec_csum(const uint8_t *hdr, const void *payload, size_t len, uint64_t seed);
/* Start a record checksum state (an XXH3_state_t) with the header hdr, its
 * checksum field counted as zero; rec_csum_update() adds the payload. */
void rec_csum_begin(void *xxh3_state, const uint8_t *hdr, uint64_t seed);

/*
 * Hash more payload bytes into a record checksum state.  Bulk payload goes
 * through libxxhash's runtime-dispatched XXH3 (AVX2/AVX-512 when the CPU has
 * them: 2-4x the inlined SSE2 build); the value is the same either way.
 */
void rec_csum_update(void *xxh3_state, const void *buf, size_t len);
/* Verify a contiguous record (header then payload) in place; 0 or -EBADMSG. */
int rec_verify(const uint8_t *rec, uint64_t seed);
void slot_encode(const struct cp_slot *c, uint8_t *p);
int slot_decode(const uint8_t *p, struct cp_slot *c); /* 0, -ENOENT (zero), -EINVAL */

/* ---- index.c ---- */
struct idx_ent {
	uint8_t key[STORE_KEY_LEN];
	uint32_t seg;		/* segment index */
	uint32_t off;		/* offset of the record header in the segment */
	uint32_t len;		/* payload length */
	uint16_t type;		/* 0: empty slot */
	uint16_t flags;
	uint32_t user;
	uint8_t loc;		/* location kind: 0 = this device (tiers later) */
	uint64_t lsn;
};

struct idx_shard {
	pthread_mutex_t lock;	/* leaf below log_lock; protects tab, cap, n */
	struct idx_ent *tab;
	uint32_t cap;		/* power of two */
	uint32_t n;
} __attribute__((aligned(64)));

struct store_index {
	struct idx_shard sh[IDX_SHARDS];
};

int idx_init(struct store_index *x);
void idx_free(struct store_index *x);
int idx_reserve(struct store_index *x, uint64_t n);
/* Copy the entry for key into *e; 0 or -ENOENT. */
int idx_get(struct store_index *x, const uint8_t *key, struct idx_ent *e);
/* Insert or replace; *old (may be NULL) receives a replaced entry and
 * *replaced says whether there was one.  0 or -ENOMEM. */
int idx_put(struct store_index *x, const struct idx_ent *e, struct idx_ent *old,
	    bool *replaced);
/* Remove; 0 and the removed entry in *old (may be NULL), or -ENOENT. */
int idx_del(struct store_index *x, const uint8_t *key, struct idx_ent *old);
uint64_t idx_count(struct store_index *x);
/* Exchange the contents of a and b shard by shard, each under its lock: a
 * lookup in a sees its old entry or the new one.  b must be private to the
 * caller (its locks are taken second). */
void idx_swap(struct store_index *a, struct store_index *b);
/* Snapshot one shard's entries (malloc'd array in *out, count in *n). */
int idx_snapshot_shard(struct store_index *x, unsigned shard, struct idx_ent **out,
		       uint32_t *n);

/* ---- log.c: write buffers ---- */
enum wbuf_state {
	WB_FREE = 0,
	WB_FILLING,	/* the window being appended to */
	WB_INFLIGHT,	/* submitted to the write queue */
	WB_DONE,	/* on disk; data kept for reads until recycled */
	WB_ERR,		/* write failed: data only here, retried by sync */
};

struct wbuf {
	uint8_t *data;		/* WBUF_SIZE, aligned */
	uint64_t foff;		/* file offset of data[0] */
	uint32_t fill;		/* bytes of log content in data[] */
	uint32_t written;	/* bytes already on disk (partial writes by sync) */
	uint32_t base;		/* data[] before base was never loaded (resumed window) */
	uint64_t min_lsn;	/* lowest lsn of a record overlapping this window */
	uint64_t age;		/* open order, for recycling the oldest */
	int state;
	int err;
	struct sio_req req;
	struct store *s;
};

/* Per-segment accounting (protected by log_lock). */
struct seginfo {
	uint64_t seq;		/* 0: never used since format */
	uint32_t written;	/* bytes up to the end of the last record */
	uint32_t live;		/* bytes of live records (rec_total) */
	uint64_t hdr_seq;	/* seq of the header on disk (0: none, or invalidated by
				 * compaction): a full log scan would read this segment */
	uint64_t dead_lsn;	/* lsn of the last tombstone that took live bytes from it:
				 * not free before that tombstone is synced, or a power
				 * cut could keep the deleted record's index entry while
				 * its bytes were already overwritten (0: none) */
	bool cleaning;		/* compaction victim: never free until compaction made
				 * its moves durable and checkpointed (compact.c) */
};

struct store {
	char *path;
	struct store_dev dev;
	struct sio *io;
	struct sb sb;
	bool read_only;
	uint32_t block;		/* sb.block_size */
	uint32_t seg_size;
	uint64_t nseg;
	uint64_t seed;		/* record checksum seed, from the uuid */

	struct store_index idx;

	/*
	 * Lock order: log_lock -> idx shard lock.  Never take log_lock while
	 * holding a shard lock.  Everything below up to "end log_lock" is
	 * protected by log_lock.
	 */
	pthread_mutex_t log_lock;
	struct sio_wq *wq;
	struct wbuf wb[NWBUF];
	uint8_t *wb_mem; /* the windows' data: NWBUF * WBUF_SIZE, huge pages */
	struct wbuf *cur;	/* window being filled, or NULL */
	uint64_t wb_age;
	int64_t head_seg;	/* -1: no open segment yet */
	uint32_t head_off;	/* next append position in head_seg */
	uint64_t next_lsn;
	uint64_t next_seg_seq;
	struct seginfo *segs;
	uint64_t nrecords;
	uint64_t appended_since_cp;
	bool dirty;		/* appended anything since the last checkpoint */
	uint64_t cp_gen;
	uint64_t cp_start_seq;	/* seq of the segment holding this cp's first page */
	uint64_t pin_seq;	/* segments with seq >= pin_seq are never reused */
	int broken;		/* -errno that makes the handle refuse writes, or 0 */
	bool compacting;	/* a store_compact() runs (one at a time per handle) */
	/* end log_lock */

	/* Records with lsn < ondisk_lsn are on disk; others may be in wb[]. */
	_Atomic uint64_t ondisk_lsn;
	/* Records with lsn < synced_lsn are durable (log_lock). */
	uint64_t synced_lsn;

	uint64_t checkpoint_bytes;
	uint8_t *seg_hdr_blk;	/* one block, reused to build segment headers */

	/* what open found */
	uint64_t replayed;
	uint64_t dropped_bytes;
	bool cp_loaded;		/* a checkpoint was used (not a full scan) */
	bool cp_fresh;		/* no checkpoint had ever been written */
	uint64_t bad_seg_hdrs;

	bool no_falloc;		/* the host file system cannot fallocate (space.c) */

	/* read-only handles: the view of the store (view.c) */
	pthread_mutex_t view_lock;	/* one reload at a time; before log_lock */
	uint64_t view_gen;	/* newest checkpoint generation on disk when the
				 * index was loaded */
	uint64_t view_loads;	/* reloads done (view_lock) */
	int view_direct;	/* store_open_opts.direct, for the reloads */
};

static inline uint64_t seg_foff(const struct store *s, uint64_t seg)
{
	return s->sb.data_start + seg * (uint64_t)s->seg_size;
}

/* log.c (all *_locked with log_lock held) */
int log_init(struct store *s);
void log_free(struct store *s);
/* Abandon buffers without writing (after waiting for what is in flight). */
void log_abandon(struct store *s);
int log_append_locked(struct store *s, struct rec_hdr *h, const void *payload, bool internal,
		      uint32_t *seg, uint32_t *off);
/* Would a record of payload len fit (user records keep the checkpoint reserve)? */
int log_room_locked(struct store *s, uint32_t len, bool internal);
int log_sync_locked(struct store *s);
/* Copy [foff, foff+len) of the log, from buffers or the device. */
int log_read_locked(struct store *s, uint64_t foff, void *dst, size_t len);
void log_update_ondisk_locked(struct store *s);
bool seg_is_free_locked(const struct store *s, uint64_t i);
uint64_t cp_reserve_bytes_locked(const struct store *s);

/* checkpoint.c */
int cp_write_locked(struct store *s);
/* Load the newest usable checkpoint; 0, or -ENOENT when none is usable.
 * Sets view_gen to the newest slot generation read (before loading). */
int cp_load(struct store *s, uint32_t *seg, uint32_t *off, uint64_t *lsn);
/* The highest generation in a valid checkpoint slot on disk (0: none). */
uint64_t cp_newest_gen(struct store *s);

/* space.c: host space under the segments of a store file */
/* Give segment i its blocks (no-op for devices); 0, -ENOSPC or -errno. */
int space_alloc_seg(struct store *s, uint64_t i);
/* Give their blocks to the free segments after head (in the appender's
 * order) that the checkpoint reserve stands for; -ENOSPC if the host has
 * no room for them. */
int space_reserve_locked(struct store *s, uint64_t head);

/* view.c: read-only handles over a store other processes write */
int view_init(struct store *s, int direct);
void view_destroy(struct store *s);
/* Reload the index if the store changed on disk since the view was
 * loaded: 1 reloaded, 0 nothing new (or not a read-only handle), -errno. */
int view_refresh(struct store *s);

/* recover.c */
int rec_read_seg_headers(struct store *s);
int rec_roll_forward(struct store *s, uint32_t seg, uint32_t off, uint64_t lsn);
int rec_full_scan(struct store *s);
/* Apply one record found in the log to the index and accounting. */
int rec_apply(struct store *s, const struct rec_hdr *h, uint32_t seg, uint32_t off);

/* store.c: batched reads of whole records (header + payload). */
struct rd_req {
	uint64_t foff;		/* file offset of the record header */
	uint32_t len;		/* expected payload length */
	uint8_t *rec;		/* out: the record inside the arena */
	int res;		/* out: 0, -EBADMSG, or an I/O -errno */
};
/* Read n records in one sio_run; *arena must be freed by the caller. */
int store_read_recs(struct store *s, struct rd_req *r, unsigned n, uint8_t **arena);
size_t store_max_record_internal(uint32_t seg_size, uint32_t block);

/* store.c: open with extra knobs used by fsck */
int store_open_internal(const struct store_open_opts *o, struct store **out);
/* Read and verify one record for an index entry into a malloc'd buffer. */
int store_read_entry(struct store *s, const struct idx_ent *e, uint8_t **rec);

/* ---- test hooks (tests/unit only) ---- */
/* The engine, so tests can sio_set_fault() on it. */
struct sio *store_test_sio(struct store *s);
/* File offset of the next append (block aligned right after a sync). */
uint64_t store_test_head_offset(struct store *s);
/* File offset of a record's header; 0 or -ENOENT. */
int store_test_locate(struct store *s, const struct store_key *key, uint64_t *foff);
/* Index reloads of a read-only handle (view.c). */
uint64_t store_test_view_loads(struct store *s);
/* Free the handle like a crash: no sync, no checkpoint, unwritten buffers
 * are dropped (writes already in flight are waited for). */
void store_test_crash(struct store *s);

#endif
