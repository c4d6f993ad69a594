/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The strata block store: a log-structured, checksummed key -> record store
 * on a regular file or a whole block device.  Records are addressed by a
 * 32-byte key (a SHA-256 content id for chunks, a caller-chosen id for
 * metadata) and carry a type and caller flags.  All data I/O goes through
 * one io_uring engine.  The on-disk format is described in strata-store(5).
 *
 * Thread safety: one struct store may be used from many threads at once.
 * Lookups take a per-shard index lock; appends take the log lock; there is
 * no lock held across a whole operation.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_LEN 32
#define STORE_LABEL_MAX 64 /* including the terminating NUL */
#define STORE_FORMAT_VERSION 1

/* Defaults. */
#define STORE_DEFAULT_SEGMENT_SIZE (4u << 20)
#define STORE_DEFAULT_QUEUE_DEPTH 64u
#define STORE_MIN_SIZE (16ull << 20) /* smallest store that can be created */

struct store;

struct store_key {
	uint8_t b[STORE_KEY_LEN];
};

/* Record types visible to callers.  Types >= 0x100 are internal. */
enum store_rec_type {
	STORE_REC_CHUNK = 1, /* file data chunk; key = SHA-256 of uncompressed data */
	STORE_REC_META = 2,  /* metadata blob (layer index, manifest, catalog...) */
	STORE_REC_USER_MAX = 0xff,
};

/* Caller flags stored with a record, opaque to the store. */
#define STORE_F_ZSTD 0x0001 /* payload is a zstd frame (dedup/ sets this) */

struct store_create_opts {
	const char *path;     /* regular file (created if missing) or block device */
	uint64_t size;        /* file: size to create/extend to; 0: existing size. device: 0 */
	const char *label;    /* optional, < STORE_LABEL_MAX bytes */
	uint32_t segment_size; /* 0: STORE_DEFAULT_SEGMENT_SIZE; power of two, >= 1 MiB */
	bool force;           /* overwrite a device/file that holds a known signature */
};

struct store_open_opts {
	const char *path;
	bool read_only;         /* no writes at all, not even recovery's checkpoint */
	unsigned queue_depth;   /* io_uring depth; 0: STORE_DEFAULT_QUEUE_DEPTH */
	int direct;             /* -1: O_DIRECT when possible (default), 0: never, 1: required */
	uint64_t checkpoint_bytes; /* checkpoint after this many appended bytes; 0: default */
};

/* What a record is, as seen by callers. */
struct store_rec_info {
	uint16_t type;   /* enum store_rec_type */
	uint16_t flags;  /* caller flags (STORE_F_*) */
	uint32_t user;   /* caller word stored in the header (e.g. raw length) */
	uint32_t len;    /* payload length in bytes */
	uint64_t seq;    /* log sequence number of the record's current copy (grows
			  * when store_compact() moves it; payload and other fields stay) */
};

/* Space accounting, in bytes. */
struct store_stats {
	uint64_t device_size;  /* size of the file or device */
	uint64_t capacity;     /* bytes usable for segments */
	uint64_t used;         /* bytes of live records (headers included) */
	uint64_t reclaimable;  /* bytes in segments held by dead records and padding */
	uint64_t free;         /* bytes never written or in free segments */
	uint64_t records;      /* live records */
	uint64_t segments;     /* total segments */
	uint64_t free_segments;
	uint32_t segment_size;
	uint64_t checkpoint_gen;  /* generation of the newest checkpoint */
	uint64_t replayed;     /* records rolled forward at open */
	uint64_t dropped_bytes; /* torn bytes dropped at open */
};

/* Identity and geometry. */
struct store_info {
	uint8_t uuid[16];
	char label[STORE_LABEL_MAX];
	uint32_t version;
	uint32_t block_size;     /* alignment used for I/O (>= logical sector size) */
	uint32_t logical_sector; /* from the device (512 for files) */
	uint32_t physical_sector;
	uint32_t optimal_io;     /* 0 if the device does not say */
	bool is_block_device;
	bool direct_io;          /* O_DIRECT is in use */
	uint64_t created;        /* seconds since the epoch */
};

/*
 * Format a new store at o->path.  A regular file is created (sparse) or
 * extended to o->size; a block device is used whole.  Before writing
 * anything the target is probed with libblkid: a filesystem, partition
 * table, RAID member or existing strata store is refused with -EEXIST
 * unless o->force.  Too small: -ENOSPC.  Bad options: -EINVAL.  Returns 0
 * or -errno; on error nothing has been written to the target.
 */
int store_create(const struct store_create_opts *o);

/*
 * Open a store: verify the superblock, load the newest valid checkpoint and
 * roll forward the log written after it, dropping torn records.  Unless
 * read_only, a checkpoint is written right away when recovery dropped or
 * replayed anything.  Returns 0 and a handle in *out, or -errno:
 * -EINVAL/-EUCLEAN not a strata store or corrupt superblock, -EPROTONOSUPPORT
 * newer format version, -ENOENT no such path.
 */
int store_open(const struct store_open_opts *o, struct store **out);

/*
 * Sync, write a checkpoint (unless read-only or nothing changed) and free
 * the handle.  NULL is accepted.  Returns 0 or the first -errno met; the
 * handle is freed either way.
 */
int store_close(struct store *s);

/*
 * Append a record.  Returns 0; -EEXIST if a live record with this key
 * exists (nothing is written: the caller dedups on it); -ENOSPC when the
 * store is full; -EFBIG when len exceeds store_max_record(); -EROFS on a
 * read-only handle.  The record is readable by store_get() at once but
 * durable only after a store_sync() that returns 0.
 */
int store_put(struct store *s, uint16_t type, const struct store_key *key,
	      const void *data, size_t len, uint16_t flags, uint32_t user);

/* Largest payload store_put() accepts for this store. */
size_t store_max_record(const struct store *s);

/*
 * Look up a key without reading its payload.  Returns 0 and fills *info
 * (may be NULL), or -ENOENT.
 */
int store_lookup(struct store *s, const struct store_key *key, struct store_rec_info *info);

/*
 * Read a record's payload into buf (bufsize bytes).  Returns 0 and the
 * payload length in *len; -ENOENT unknown key; -ENOBUFS buf too small
 * (*len says how much is needed); -EBADMSG checksum mismatch (logged with
 * the key and location); -EIO device error.  info may be NULL.
 */
int store_get(struct store *s, const struct store_key *key, void *buf, size_t bufsize,
	      size_t *len, struct store_rec_info *info);

/* One request of a batched get. */
struct store_get_req {
	struct store_key key;
	void *buf;
	size_t bufsize;
	/* in: the payload may be left where the store read it instead of
	 * being copied into buf (see data) */
	bool borrow;
	size_t len;              /* out: payload length */
	struct store_rec_info info; /* out */
	int res;                 /* out: 0 or -errno as for store_get() */
	/* out, when res is 0: the verified payload, len bytes: buf, or with
	 * borrow possibly the store's per-thread read buffer, which stays
	 * valid until this thread's next store_get(), store_get_batch() or
	 * store_close(), of any store.  Borrowing saves a copy where the
	 * device needs aligned reads (the payload cannot be read into buf
	 * itself); it is meant for callers that transform the payload anyway
	 * (decompress it). */
	const void *data;
};

/*
 * Read n records with as few io_uring submissions as the queue depth
 * allows.  Every request gets its own res; returns 0 when all succeeded,
 * else the first failing request's -errno.  Each request needs a buffer of
 * its own (also when borrowing): payloads may be read straight into them,
 * so a failed request's buffer may hold partial or unverified bytes.
 */
int store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n);

/*
 * Remove a record: a tombstone is appended and its space becomes
 * reclaimable.  Returns 0, -ENOENT, -EROFS, -ENOSPC.
 */
int store_delete(struct store *s, const struct store_key *key);

/*
 * Make every record put or deleted before this call durable.  Returns 0 or
 * -errno (the store stays usable; the caller must not acknowledge data).
 */
int store_sync(struct store *s);

/*
 * Write a checkpoint now: sync, persist the index, switch the checkpoint
 * slot.  Opening afterwards reads the checkpoint instead of the log.
 */
int store_checkpoint(struct store *s);

/*
 * Call fn for every live record (any order).  fn returns 0 to go on or a
 * non-zero value that stops the walk and is returned.  Records put by fn
 * itself may or may not be visited.
 */
typedef int (*store_iter_fn)(void *arg, const struct store_key *key,
			     const struct store_rec_info *info);
int store_iterate(struct store *s, store_iter_fn fn, void *arg);

/* Space accounting and identity; never fail on an open store. */
void store_get_stats(struct store *s, struct store_stats *st);
void store_get_info(struct store *s, struct store_info *info);

/* Compaction (space reclaim): see "Compaction" in strata-store(5). */
struct store_compact_report {
	uint64_t segments_scanned;   /* segments chosen as victims */
	uint64_t segments_cleaned;   /* victims whose live records were all moved out */
	uint64_t segments_freed;     /* of those, free for reuse when compaction returned */
	uint64_t records_moved;      /* live records copied to the log head */
	uint64_t tombstones_kept;    /* tombstones copied forward (an older record may remain) */
	uint64_t tombstones_dropped; /* tombstones no recovery path needs any more */
	uint64_t bytes_moved;        /* bytes appended for moved records and tombstones */
	uint64_t bytes_freed;        /* segments_freed * segment size */
};

/*
 * Progress callback: called after each victim segment with the totals so
 * far and the number of victims chosen.  A non-zero return stops
 * compaction after what was moved has been made durable.
 */
typedef int (*store_compact_progress_fn)(void *arg, const struct store_compact_report *sofar,
					 uint64_t victims);

struct store_compact_opts {
	double min_reclaim;  /* clean a segment only when at least this fraction of it is
			      * dead; 0: 0.25; else must be in (0, 1] */
	uint64_t max_bytes;  /* skip victims whose live bytes would take bytes_moved past
			      * this (tombstones carried along come on top); 0: no limit */
	store_compact_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

/*
 * Reclaim space: pick the segments with the most dead bytes, copy their
 * live records (same key, type, flags, user word and payload; a new seq) to
 * the log head, sync, write a checkpoint, and only then make the emptied
 * segments free for the appender.  Safe to call while other threads put,
 * get and delete; a crash at any point loses no acknowledged record and
 * brings back no deleted one.  o may be NULL (defaults); r (may be NULL)
 * receives what was done, also on error.  Returns 0; -EBUSY another
 * compaction is running on this handle; -EROFS read-only handle; -EINVAL
 * bad options; -ENOSPC not even one victim could be moved while keeping
 * room for a checkpoint; -ECANCELED the progress callback stopped it (what
 * was moved is durable); another -errno from I/O (moved records stay
 * readable; their old segments are not reused until a later compaction or
 * reopen).
 */
int store_compact(struct store *s, const struct store_compact_opts *o,
		  struct store_compact_report *r);

/*
 * Give the space of free segments back to the host: a store file's free
 * segments are punched (beyond the few kept allocated for the checkpoint
 * reserve, so that a full host file system never stops a checkpoint or the
 * deletes that free space), a device's are discarded (BLKDISCARD; a thin or
 * loop device frees them).  *bytes (may be NULL): how much was given back.
 * 0, -EROFS on a read-only handle, or -errno (an I/O error of the sync).
 */
int store_trim(struct store *s, uint64_t *bytes);

/* fsck options and report. */
struct store_fsck_opts {
	const char *path;
	bool repair;      /* write a fresh checkpoint after recovery (default: read-only check) */
	bool verify_data; /* read every record and check its checksum (default on in the tool) */
};

struct store_fsck_report {
	uint64_t records;        /* live records found */
	uint64_t bad_records;    /* live records whose checksum failed */
	uint64_t torn_bytes;     /* bytes dropped at the log tail */
	uint64_t replayed;       /* records rolled forward since the checkpoint */
	uint64_t checkpoint_gen;
	bool superblock_ok;
	bool checkpoint_ok;      /* newest checkpoint readable (else a full log scan was used) */
	bool accounting_ok;      /* per-segment live bytes match the index */
};

/*
 * Check a store: superblock, checkpoints, every segment header, the log
 * tail, and (verify_data) every live record's checksum.  Returns 0 when the
 * store is consistent, -EUCLEAN when it found damage (the report says what;
 * details are logged), or another -errno when it could not run.
 */
int store_fsck(const struct store_fsck_opts *o, struct store_fsck_report *r);

/* "1" for "1.2.3"-style printing of the uuid: 37 bytes. */
void store_uuid_str(const uint8_t uuid[16], char out[37]);

#endif
