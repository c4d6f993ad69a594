/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Import images from an image source (OCI layout, oci-archive,
 * docker-archive, rootfs tar) into the store: every blob verified, each
 * layer stored once as a layer index (shared by DiffID), then the image
 * made visible by one catalog record.  An import that fails or is
 * interrupted leaves no visible image; what it wrote is garbage for gc.
 * The caller holds the exclusive catalog lock.
 */
#ifndef STRATA_IMPORT_H
#define STRATA_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/catalog.h"
#include "strata/chunkstore.h"
#include "strata/image.h"

struct import_progress {
	size_t image, nimages;  /* 0-based image being imported */
	size_t layer, nlayers;  /* 0-based layer */
	const struct image_digest *diff_id; /* NULL while unknown (rootfs tar) */
	uint64_t bytes;         /* file data bytes of this layer processed so far */
	uint64_t total_bytes;   /* of all layers so far (rate) */
	uint64_t elapsed_ns;
	bool skipped;           /* the layer was in the store already */
	bool done;              /* the layer is finished */
};

/* Called often (at most every few MiB); returning non-zero cancels (-ECANCELED). */
typedef int (*import_progress_fn)(void *arg, const struct import_progress *p);

struct import_opts {
	enum image_source_kind kind; /* IMAGE_SRC_AUTO: detect */
	const char *ref;             /* image in the source by ref; NULL: the only one */
	bool all;                    /* every image of the source */
	const char *const *names;    /* tags to give (only with one image); NULL: the source ref */
	size_t nnames;
	const struct dedup_chunker_params *chunking; /* NULL: the store's policy, else defaults */
	const char *tmpdir;          /* archive extraction; NULL: default */
	import_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

/* One imported image, as reported to the caller. */
struct import_result {
	struct image_digest id;
	char *names;             /* tags given, comma separated (may be empty); caller frees */
	size_t nlayers, layers_new;
	uint64_t logical;        /* sum of layer tar sizes */
	uint64_t new_chunks, new_bytes, stored_bytes;
	uint64_t file_bytes;
};

/*
 * Import from path.  On success returns 0 with a malloc'ed array of
 * *nresults results (free with import_results_free()).  Errors: -ENOENT
 * no such source or missing blob, -EBADMSG malformed or unsafe input or a
 * digest mismatch (logged with the object), -ENOTSUP, -EINVAL (bad
 * options: names with several images, a bad name), -ECANCELED, store
 * -errno.
 */
int import_source(struct chunkstore *cs, struct catalog *cat, const char *path,
		  const struct import_opts *o, struct import_result **results, size_t *nresults);
void import_results_free(struct import_result *r, size_t n);

#endif
