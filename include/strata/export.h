/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Export images from the store to an OCI image layout directory, an
 * oci-archive (that layout as a tar) or a docker-archive (what `docker
 * save` writes: manifest.json, the config, uncompressed layer tars).
 *
 * Each layer's uncompressed tar is rebuilt byte for byte from its layer
 * index (layer_rebuild_tar()) and its SHA-256 checked against the DiffID
 * while it streams; it is then compressed (gzip, zstd or none) and the
 * blob's digest and size computed as it is written.  The config is written
 * byte for byte, so the image ID (config digest) and the DiffIDs never
 * change.  When every layer blob comes out identical to the one imported
 * (same digest and size: uncompressed layers, or a deterministic
 * compressor), the stored manifest is written byte for byte too and the
 * manifest digest is kept; otherwise a new manifest is written (OCI media
 * types, the new layer descriptors, every other field kept).
 *
 * The output is built in a temporary sibling of the target (TARGET.tmp-
 * XXXXXX) and renamed over it at the end; on any error (ENOSPC, a DiffID
 * mismatch, a missing chunk, cancellation) the temporary is removed and
 * the target is untouched.  The caller holds the catalog lock (shared).
 */
#ifndef STRATA_EXPORT_H
#define STRATA_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/catalog.h"
#include "strata/chunkstore.h"
#include "strata/image.h"

enum export_format {
	EXPORT_OCI_LAYOUT = 1, /* directory: oci-layout, index.json, blobs/sha256/ */
	EXPORT_OCI_ARCHIVE,    /* the same as a tar file */
	EXPORT_DOCKER_ARCHIVE, /* docker save format, uncompressed layers */
};

/* One image to export and the names it gets in the output. */
struct export_item {
	const struct catalog_image *img;
	/*
	 * OCI: one index.json entry per name, with annotation
	 * org.opencontainers.image.ref.name = the name (none: one entry
	 * without a name).  docker-archive: RepoTags.
	 */
	const char *const *names;
	size_t nnames;
};

struct export_progress {
	size_t image, nimages; /* 0-based image being exported */
	size_t layer, nlayers; /* 0-based layer */
	const struct image_digest *diff_id;
	uint64_t bytes;       /* uncompressed bytes of this layer so far */
	uint64_t tar_size;    /* of this layer */
	uint64_t total_bytes; /* all layers so far (rate) */
	uint64_t elapsed_ns;
	bool reused; /* written already for an earlier image of this export */
	bool done;
};

/* Called every few MiB; returning non-zero cancels the export (-ECANCELED). */
typedef int (*export_progress_fn)(void *arg, const struct export_progress *p);

struct export_opts {
	enum export_format format;
	/* IMAGE_COMP_NONE, _GZIP or _ZSTD; IMAGE_COMP_AUTO: gzip for OCI, none for docker. */
	enum image_compression comp;
	int level;  /* compression level; 0: the library's default */
	bool force; /* replace an existing target (atomically) */
	export_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

/* What was written for one item. */
struct export_result {
	struct image_digest manifest; /* digest of the manifest written */
	bool manifest_kept;           /* byte for byte the stored one */
	size_t nlayers;
	uint64_t tar_bytes;  /* uncompressed layer bytes */
	uint64_t blob_bytes; /* layer blob bytes written (shared layers counted once) */
};

/*
 * Export items[0..n) to target.  res (n entries, may be NULL) gets what was
 * written for each.  Returns 0, or: -EEXIST the target exists and force is
 * not set; -EINVAL bad options (compression with docker-archive, a name
 * that is not valid for the format); -EBADMSG a rebuilt layer does not
 * match its DiffID or a stored blob is corrupt; -ENOENT a blob, layer or
 * chunk is missing from the store; -ENODATA a layer that cannot be
 * rebuilt (no skeleton); -ECANCELED; -ENOSPC and other -errno from
 * writing.  Every error is logged with the object it concerns, and leaves
 * nothing at target or its temporary.
 */
int export_images(struct chunkstore *cs, const struct export_item *items, size_t n,
		  const char *target, const struct export_opts *o, struct export_result *res);

/* "oci-layout", "oci-archive", "docker-archive". */
const char *export_format_name(enum export_format f);

#endif
