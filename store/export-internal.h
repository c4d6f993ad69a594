/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to store/export*.c: the output target and the compressors. */
#ifndef STRATA_STORE_EXPORT_INTERNAL_H
#define STRATA_STORE_EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/export.h"
#include "strata/image.h"

/* ---- export-out.c: where the files go ---- */
/*
 * The output: a directory (OCI layout) or a tar file (oci-archive,
 * docker-archive), built under TARGET.tmp-XXXXXX next to the target and
 * renamed over it by exp_out_commit().  destroy without commit removes the
 * temporary.  Names are relative ("blobs/sha256/<hex>", "index.json").
 */
struct exp_out;

/* -EEXIST (logged) when target exists and force is false. */
int exp_out_create(enum export_format f, const char *target, bool force, struct exp_out **out);
void exp_out_destroy(struct exp_out *o);
/* True when name was written already (shared layers and blobs). */
bool exp_out_has(const struct exp_out *o, const char *name);
/* A directory entry (archives; the layout's directories exist already). */
int exp_out_dir(struct exp_out *o, const char *name);
/* A whole small file. */
int exp_out_file(struct exp_out *o, const char *name, const void *buf, size_t len);
/*
 * A blob written in pieces.  When name and size are known up front, an
 * archive streams it straight into the tar; otherwise it is staged in an
 * unnamed temporary file next to the target.  exp_out_blob_end() names it
 * prefix + <sha256 hex of what was written> + suffix and returns its digest
 * and size; -EBADMSG when a name given up front does not match.
 */
int exp_out_blob_begin(struct exp_out *o, const char *name, int64_t size);
int exp_out_blob_write(struct exp_out *o, const void *buf, size_t len);
int exp_out_blob_end(struct exp_out *o, const char *prefix, const char *suffix,
		     struct image_digest *digest, uint64_t *size);
/* Finish the archive, sync, rename over the target.  0 or -errno (logged). */
int exp_out_commit(struct exp_out *o);

/* ---- export-comp.c: gzip (zlib) and zstd (libzstd) streams ---- */
typedef int (*exp_sink_fn)(void *arg, const void *buf, size_t len);
struct exp_comp;

/* comp: IMAGE_COMP_NONE, _GZIP or _ZSTD; level 0: default. */
int exp_comp_create(enum image_compression comp, int level, exp_sink_fn sink, void *arg,
		    struct exp_comp **out);
int exp_comp_write(struct exp_comp *z, const void *buf, size_t len);
/* Flush the end of the stream into the sink. */
int exp_comp_finish(struct exp_comp *z);
void exp_comp_destroy(struct exp_comp *z);

#endif
