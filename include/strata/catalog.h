/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image catalog: which images the store holds, by manifest digest (the
 * image ID) and by name:tag, and what each is made of.  Everything is
 * STORE_REC_META records, told apart by their user word:
 *
 *   image  CATALOG_KIND_IMAGE, key SHA-256("strata-image-v1" || manifest
 *          digest): JSON {manifest, config, layers[{diff_id, digest,
 *          media_type, size, tar_size}], ...}.  Its existence is what makes
 *          an image visible: import writes it last.
 *   tag    CATALOG_KIND_TAG, key SHA-256("strata-tag-v1" || name || 0 ||
 *          image digest): JSON {name, image, time}.  Several records may
 *          name the same tag after a crash; the newest whose image exists
 *          wins, so moving a tag is "put new, then delete old" and a tag
 *          written before its image appears only with the image.
 *   blob   CATALOG_KIND_BLOB, key SHA-256("strata-blob-v1" || digest): a
 *          manifest or config exactly as imported (byte for byte, so its
 *          digest still holds).
 *
 * Layers are layer indexes (strata/layer.h) shared by DiffID between
 * images.  Writers serialize on catalog_lock(); readers take it shared.
 */
#ifndef STRATA_CATALOG_H
#define STRATA_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/chunkstore.h"
#include "strata/image.h"
#include "strata/store.h"

#define CATALOG_KIND_IMAGE 0x53544949u /* "STII" */
#define CATALOG_KIND_TAG 0x53544954u   /* "STIT" */
#define CATALOG_KIND_BLOB 0x53544942u  /* "STIB" */
#define CATALOG_NAME_MAX 255

struct catalog_layer {
	struct image_digest diff_id;
	struct image_digest digest; /* the blob as imported (= diff_id for synthetic) */
	char *media_type;
	int64_t size;      /* blob size */
	uint64_t tar_size; /* uncompressed */
};

struct catalog_image {
	struct image_digest id;     /* manifest digest */
	struct image_digest config; /* config digest */
	char *manifest_media_type;
	bool synthetic;   /* manifest (and for rootfs tars the config) made at import */
	char *source;     /* "oci-layout", "docker-archive", ... */
	int64_t imported; /* unix seconds */
	size_t nlayers;
	struct catalog_layer *layers;
	size_t ntags;
	char **tags;      /* name:tag, sorted */
};

struct catalog;

/*
 * Take the store's catalog lock: an flock on the store path itself,
 * exclusive for writers (import, tag, rmi, gc), shared for readers.  When
 * wait is false and the lock is held: -EWOULDBLOCK.  Returns 0 and a
 * descriptor in *fd (release with catalog_unlock()), or -errno.
 */
int catalog_lock(const char *store_path, bool exclusive, bool wait, int *fd);
void catalog_unlock(int fd);

/*
 * Load the catalog: every image and tag record (one store_iterate() and a
 * batched read).  Tag records that lost to a newer one or name a missing
 * image are ignored (gc deletes them).  Returns 0 and *out, -EBADMSG
 * (a record that does not parse, logged), -ENOMEM, -EIO.
 */
int catalog_open(struct store *s, struct catalog **out);
void catalog_close(struct catalog *c);

/* Images, sorted by import time (newest first), then ID. */
size_t catalog_count(const struct catalog *c);
const struct catalog_image *catalog_image_at(const struct catalog *c, size_t i);

/*
 * Find an image by reference: "name:tag", "name" (":latest"), a full
 * "sha256:<hex>" ID, or a hex prefix of at least 4 digits (with or without
 * "sha256:").  Returns 0 and *out (valid until catalog_close()), -ENOENT,
 * -ENOTUNIQ (a prefix matching several images), -EINVAL (malformed).
 */
int catalog_resolve(const struct catalog *c, const char *ref, const struct catalog_image **out);

/*
 * Normalize a tag reference into out (CATALOG_NAME_MAX + 1 bytes): "name"
 * becomes "name:latest".  Names are 1..255 printable ASCII bytes without
 * spaces or '@', not starting with "sha256:", and not a bare hex id.
 * Returns 0 or -EINVAL.
 */
int catalog_normalize_name(const char *ref, char *out);

/*
 * Store a manifest or config blob (digest must be its SHA-256: checked;
 * -EBADMSG otherwise).  An existing one is kept.  Returns 0 or -errno.
 */
int catalog_put_blob(struct store *s, const struct image_digest *digest, const void *buf,
		     size_t len);

/*
 * Read a blob into a malloc'ed buffer (*buf, *len; caller frees).  Returns
 * 0, -ENOENT, -EBADMSG (content does not match its digest).
 */
int catalog_get_blob(struct store *s, const struct image_digest *digest, void **buf,
		     size_t *len);

/*
 * Add (or re-add: -EEXIST is not an error) an image record, after writing
 * tag records for names[0..nnames) (normalized).  The image record is the
 * commit point: put last, then store_sync().  Tags the names had before
 * are deleted afterwards.  Layers and blobs must be stored (and synced)
 * already.  c is updated to show the image.  Returns 0 or -errno.
 */
int catalog_add_image(struct store *s, struct catalog *c, const struct catalog_image *img,
		      const char *const *names, size_t nnames);

/*
 * Point name at image id (which must be in the catalog: -ENOENT), moving
 * it from another image if needed.  Returns 0 or -errno.
 */
int catalog_tag(struct store *s, struct catalog *c, const char *name,
		const struct image_digest *id);

/* Remove tag name.  Returns 0, -ENOENT, or -errno. */
int catalog_untag(struct store *s, struct catalog *c, const char *name);

/*
 * Remove an image: its image record first (it disappears at once), then
 * its tags.  Layers, blobs and chunks are left to gc.  Returns 0, -ENOENT.
 */
int catalog_remove_image(struct store *s, struct catalog *c, const struct image_digest *id);

/* ---- usage and gc (store/gc.c) ---- */

struct catalog_usage {
	uint64_t logical;    /* sum of uncompressed layer tar sizes */
	uint64_t data;       /* raw bytes of the distinct chunks referenced */
	uint64_t stored;     /* record payload bytes of those chunks + layer indexes */
	uint64_t unique;     /* stored bytes used by no other image */
	uint64_t chunks;     /* distinct chunks */
	uint64_t layers;
};

struct catalog_df {
	size_t nimages;
	struct catalog_usage *images; /* by catalog_image_at() index */
	struct catalog_usage total;   /* images together (shared data counted once) */
	uint64_t garbage_bytes;       /* chunk and catalog records no image uses */
	uint64_t garbage_records;
	struct store_stats store;
};

/*
 * Compute usage per image and in total (reads every layer's chunk list).
 * Returns 0 and fills *df (free with catalog_df_free()), or -errno.
 */
int catalog_df(struct chunkstore *cs, const struct catalog *c, struct catalog_df *df);
void catalog_df_free(struct catalog_df *df);

struct catalog_gc_stats {
	uint64_t live_images, live_layers, live_chunks;
	uint64_t chunks_deleted, chunk_bytes_deleted;
	uint64_t meta_deleted, meta_bytes_deleted;
	uint64_t missing_chunks; /* damage: referenced chunks not in the store */
	bool compacted;
	struct store_compact_report compact;
};

/*
 * Mark from the catalog (images -> layers -> chunks, blobs, winning tags)
 * and delete every chunk record and catalog/layer record not marked
 * (records of other kinds are left alone), sync, then compact (unless
 * no_compact).  The caller holds the exclusive catalog lock.  A layer
 * that cannot be read stops gc with its error before anything is deleted.
 * Returns 0 or -errno; *st says what was done.
 */
int catalog_gc(struct chunkstore *cs, const struct catalog *c, bool dry_run, bool no_compact,
	       struct catalog_gc_stats *st);

#endif
