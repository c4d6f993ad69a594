/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pieces of strata commit (store/commit*.c); see include/strata/commit.h. */
#ifndef STRATA_STORE_COMMIT_INTERNAL_H
#define STRATA_STORE_COMMIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/commit.h"
#include "strata/layer.h"

/* ---- the parent image's layers, for metacopy data (commit-lower.c) ---- */

struct commit_lower;

/* Prepare (layers are opened on first use).  Returns 0 or -ENOMEM. */
int commit_lower_create(struct chunkstore *cs, const struct catalog_image *parent,
			struct commit_lower **out);
void commit_lower_destroy(struct commit_lower *lw);

/*
 * The regular file the merged view of the parent image shows at path
 * (relative, no leading '/'): *l (owned by lw), *ino, *size.  Returns 0,
 * -ENOENT (absent or whited out), -EISDIR/-EINVAL (not a regular file),
 * or a layer -errno.
 */
int commit_lower_find(struct commit_lower *lw, const char *path, struct layer **l, uint64_t *ino,
		      uint64_t *size);

/* ---- the layer diff tar (commit-diff.c) ---- */

struct commit_diff_stats {
	struct image_digest diff_id;
	uint64_t tar_size;
	uint64_t entries;
	uint64_t metacopy;
};

/*
 * One snapshot attempt: write the diff of upper as a tar to fd (from
 * offset 0; the caller truncates).  Returns 0 when the snapshot is
 * consistent (see commit.h), -EAGAIN when something changed during the
 * attempt, or another -errno (logged).
 */
int commit_diff_write(const char *upper, struct commit_lower *lw, int fd,
		      struct commit_diff_stats *st);

/* ---- config and manifest (commit-config.c) ---- */

/*
 * The new config: the parent's (every field kept) with the changes, the
 * history entry, created, author and the DiffID appended.  Returns 0 and a
 * malloc'ed *out, -EINVAL bad change, -EBADMSG parent not a JSON object.
 */
int commit_make_config(const void *parent, size_t len, const struct commit_opts *o,
		       const struct image_digest *diff_id, char **out, size_t *outlen);

/*
 * The new OCI manifest: the parent's (unknown fields kept, Docker media
 * types mapped to OCI ones) with the new config and one more layer (an
 * uncompressed tar: digest = DiffID).  Returns 0 and *out, or -errno.
 */
int commit_make_manifest(const void *parent, size_t len, const struct image_digest *parent_id,
			 const struct image_digest *config, size_t config_len,
			 const struct image_digest *diff_id, uint64_t tar_size, char **out,
			 size_t *outlen);

/* The OCI media type for a Docker schema 2 one (others unchanged). */
const char *commit_oci_media_type(const char *mt);

#define COMMIT_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define COMMIT_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define COMMIT_MT_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"

#endif
