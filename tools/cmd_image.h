/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the image commands (cmd_import.c, cmd_image.c, cmd_gc.c). */
#ifndef STRATA_TOOLS_CMD_IMAGE_H
#define STRATA_TOOLS_CMD_IMAGE_H

#include <stdbool.h>

#include "strata/catalog.h"
#include "strata/chunkstore.h"
#include "strata/store.h"

/* An open store with its catalog, under the catalog lock. */
struct img_ctx {
	const char *path;
	int lockfd;
	struct store *s;
	struct chunkstore *cs;
	struct catalog *cat;
};

/*
 * Lock (exclusive when write), open the store (read-only unless write) and
 * load the catalog.  Prints "strata: <what>: ..." and returns 1 on failure,
 * 0 on success.  pol: compression for new chunks (NULL: default).
 */
int img_ctx_open(struct img_ctx *c, const char *what, bool write,
		 const struct dedup_compress_policy *pol);

/* Close everything; returns 1 (and prints) when the final close failed. */
int img_ctx_close(struct img_ctx *c, const char *what);

/* Explain a catalog_resolve() error for ref. */
void img_resolve_err(const char *what, const char *ref, int r);

/* "sha256:<12 hex>" style short id into buf (at least 13 bytes): 12 hex digits. */
char *img_short_id(const struct image_digest *d, char *buf);

#endif
