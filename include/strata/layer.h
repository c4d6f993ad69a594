/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer indexes: each imported layer becomes a compact, offset-indexed
 * metadata tree in the block store, plus its files' chunk lists and the tar
 * skeleton needed to rebuild the layer's uncompressed tar byte for byte.
 *
 * On disk (all little endian) an index is one byte string cut into pieces
 * of LAYER_PIECE_SIZE bytes, each a STORE_REC_META record (user word
 * LAYER_META_KIND) keyed by SHA-256("strata-layer-v1" || DiffID || u32
 * piece number).  Piece 0 starts with a fixed header naming the offset and
 * size of every section; a reader fetches pieces only when it touches them,
 * so opening a layer reads one record whatever the layer's size.  Sections:
 * inodes (fixed 96-byte records, inode 1 = root), directory entries (per
 * directory one run sorted by name bytes: binary search for lookup),
 * xattrs, chunk lists (per data-bearing tar entry: id, file offset,
 * length), the rebuild table (tar entry index -> chunk list) and a string
 * heap.  The skeleton is stored as ordinary chunks listed in the index.
 * Piece 0 is written last, so a torn import never leaves a piece 0 whose
 * other pieces are missing.
 *
 * Names are stored as bytes, never resolved on the host: entries with
 * "..", absolute names or paths through symlinks are rejected by the tar
 * walker or stored as names only.  Whiteouts stay whiteout entries
 * (LAYER_F_WHITEOUT) and opaque markers a flag on their directory
 * (LAYER_F_OPAQUE): applying them is the overlay's business.  Duplicate
 * entries: the last one wins, as with tar extraction (a directory that is
 * re-declared keeps its children; anything replaced by a non-directory
 * loses them); every duplicate's data still goes into the rebuild table.
 *
 * Thread safety: a struct layer may be used by many threads at once.
 */
#ifndef STRATA_LAYER_H
#define STRATA_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "strata/chunkstore.h"
#include "strata/dedup.h"
#include "strata/image.h"
#include "strata/store.h"

#define LAYER_PIECE_SIZE (256u << 10)
#define LAYER_META_KIND 0x5354594cu /* "STYL": user word of layer index records */
#define LAYER_ROOT_INO 1u

/* Inode flags. */
#define LAYER_F_WHITEOUT 0x1 /* this name is deleted in lower layers */
#define LAYER_F_OPAQUE 0x2   /* directory hides lower layers' contents */
#define LAYER_F_IMPLICIT 0x4 /* directory not in the tar, implied by a path */
#define LAYER_F_SPARSE 0x8   /* regular file stored sparse in the tar */

struct layer;

/* What the import of one layer produced. */
struct layer_build_stats {
	uint64_t entries;      /* tar entries */
	uint64_t inodes;       /* inodes in the tree */
	uint64_t file_bytes;   /* bytes of file data (logical) */
	uint64_t chunks;       /* chunk references (file data and skeleton) */
	uint64_t new_chunks;   /* chunks written (the rest deduplicated) */
	uint64_t new_bytes;    /* raw bytes of the chunks written */
	uint64_t stored_bytes; /* payload bytes of the chunks written */
	uint64_t index_bytes;  /* size of the index byte string */
	uint64_t skeleton_bytes;
	uint64_t tar_size;
};

struct layer_builder;

/*
 * Start building a layer index into cs.  p: chunking parameters (NULL:
 * defaults).  Returns 0 and *out, -EINVAL, -ENOMEM.  destroy accepts NULL
 * and discards an unfinished build (chunks already written stay as
 * garbage for gc).
 */
int layer_builder_create(struct chunkstore *cs, const struct dedup_chunker_params *p,
			 struct layer_builder **out);
void layer_builder_destroy(struct layer_builder *b);

/*
 * Add the tar entry e.  For entries with data (regular files, IMAGE_EF_DATA
 * or sparse), rd(arg, ...) is called until it returns 0 to read e->size
 * bytes (image_tarwalk_read() fits); the data is chunked and stored.
 * Returns 0, -EBADMSG with the entry named in the log (hardlink to a
 * missing target or a directory, a path under a non-directory, data size
 * mismatch), -ENOMEM, or a store -errno.
 */
int layer_builder_add(struct layer_builder *b, const struct image_entry *e, image_read_fn rd,
		      void *arg);

/*
 * Finish: store the skeleton (NULL: none, the layer cannot be rebuilt) as
 * chunks, serialize the index and write its pieces (piece 0 last), then
 * store_sync().  Already stored under this DiffID: 0, nothing written.
 * Returns 0 and fills *st (may be NULL), or -errno.
 */
int layer_builder_commit(struct layer_builder *b, const struct image_digest *diff_id,
			 uint64_t tar_size, const struct image_skeleton *sk,
			 struct layer_build_stats *st);

/* True when a complete index for diff_id is in the store (piece 0 exists). */
bool layer_exists(struct store *s, const struct image_digest *diff_id);

/*
 * Open the index of layer diff_id: reads piece 0 only.  Returns 0 and *out,
 * -ENOENT (no such layer), -EBADMSG (corrupt header, logged), -ENOMEM.
 * The chunkstore must outlive the layer.  close accepts NULL.
 */
int layer_open(struct chunkstore *cs, const struct image_digest *diff_id, struct layer **out);
void layer_close(struct layer *l);

/* Summary from the header. */
struct layer_info {
	struct image_digest diff_id;
	uint64_t tar_size;    /* uncompressed tar */
	uint64_t file_bytes;  /* logical file data */
	uint64_t ninodes;
	uint64_t ndirents;
	uint64_t nchunks;     /* chunk references incl. skeleton */
	uint64_t index_bytes; /* the index byte string */
	uint32_t npieces;
	uint64_t skeleton_bytes;
};
void layer_get_info(const struct layer *l, struct layer_info *info);

/* Attributes of an inode. */
struct layer_attr {
	uint64_t ino;
	uint32_t mode; /* S_IFMT | permission bits; whiteouts are S_IFCHR 0/0 */
	uint32_t nlink;
	uint64_t uid, gid;
	uint64_t size;    /* file data bytes, symlink target length, 0 otherwise */
	struct timespec atime, mtime, ctime; /* atime/ctime = mtime when the tar had none */
	uint32_t rdev_major, rdev_minor;
	uint32_t flags; /* LAYER_F_* */
};

/*
 * Find name (namelen bytes, no '/') in directory dir.  Returns 0 and *ino,
 * -ENOENT, -ENOTDIR (dir is not a directory), -EBADMSG, -EIO.
 */
int layer_lookup(struct layer *l, uint64_t dir, const char *name, size_t namelen, uint64_t *ino);

/* Attributes of ino.  Returns 0, -ENOENT (no such inode), -EBADMSG, -EIO. */
int layer_getattr(struct layer *l, uint64_t ino, struct layer_attr *attr);

/*
 * List directory dir from position cookie (0: start): fn gets each entry
 * (name not NUL terminated, its inode, its S_IFMT mode, and the cookie of
 * the entry after it) in name byte order, until it returns non-zero (that
 * value is returned; a positive value stops without error) or the
 * directory ends (0).  "." and ".." are not included.  -ENOTDIR, -EBADMSG.
 */
typedef int (*layer_dirent_fn)(void *arg, const char *name, size_t namelen, uint64_t ino,
			       uint32_t mode, uint64_t next_cookie);
int layer_readdir(struct layer *l, uint64_t dir, uint64_t cookie, layer_dirent_fn fn, void *arg);

/*
 * Symlink target of ino into buf (not NUL terminated).  Returns 0 and *len
 * (the full length), -EINVAL not a symlink, -ERANGE buf too small.
 */
int layer_readlink(struct layer *l, uint64_t ino, char *buf, size_t size, size_t *len);

/*
 * Extended attribute names as listxattr(2) gives them (each NUL
 * terminated).  size 0: only *len.  -ERANGE when size is too small.
 */
int layer_listxattr(struct layer *l, uint64_t ino, char *buf, size_t size, size_t *len);

/*
 * Value of xattr name.  size 0: only *len.  Returns 0, -ENODATA (no such
 * xattr), -ERANGE.
 */
int layer_getxattr(struct layer *l, uint64_t ino, const char *name, void *buf, size_t size,
		   size_t *len);

/*
 * Read up to len bytes of regular file ino at offset off: the chunks
 * needed are fetched with one batched store read, those held by the
 * chunkstore's cache (chunkstore_set_cache()) from it; chunks the read
 * needed only part of are given to that cache.  Returns the number of
 * bytes read (0 at or past the end), -EINVAL not a regular file, -EBADMSG,
 * -EIO, -ENOMEM.
 */
ssize_t layer_read(struct layer *l, uint64_t ino, void *buf, size_t len, uint64_t off);

/*
 * Rebuild the layer's uncompressed tar byte for byte through out(out_arg,
 * ...).  Returns 0, -ENODATA when the layer has no skeleton, or -errno.
 */
int layer_rebuild_tar(struct layer *l, image_put_fn out, void *out_arg);

/*
 * Call fn for every chunk the layer references (file data and skeleton;
 * a chunk used twice is passed twice).  Reads the whole index.  Returns 0,
 * fn's non-zero value, or -errno.
 */
typedef int (*layer_chunk_fn)(void *arg, const struct dedup_cid *cid, uint32_t raw_len);
int layer_for_each_chunk(struct layer *l, layer_chunk_fn fn, void *arg);

/*
 * The store key of piece i of the index of layer diff_id (pieces 0 ..
 * layer_info.npieces - 1).  gc uses it to tell live index records from
 * those of removed layers and interrupted imports.  Cannot fail.
 */
void layer_piece_key(const struct image_digest *diff_id, uint32_t piece, struct store_key *key);

/*
 * Remove a layer index: piece 0 first (the layer stops existing), then the
 * others.  Chunks are left to gc.  Returns 0, -ENOENT, or a store -errno.
 */
int layer_delete(struct store *s, const struct image_digest *diff_id);

#endif
