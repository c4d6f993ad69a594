// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The parent image's layers as overlayfs merges them, only as far as a
 * commit needs: where the data of a metacopy file is.  A metacopy upper
 * file keeps the path of its lower (strata-fuse copies up in place and
 * never writes redirects), so the data is the regular file the parent's
 * merged view shows at that path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/commit-internal.h"
#include "strata/log.h"

struct commit_lower {
	struct chunkstore *cs;
	size_t n;
	struct image_digest *diff_ids; /* [0] bottom */
	struct layer **layers;	       /* opened on first use */
};

int commit_lower_create(struct chunkstore *cs, const struct catalog_image *parent,
			struct commit_lower **out)
{
	struct commit_lower *lw = calloc(1, sizeof(*lw));

	if (!lw)
		return -ENOMEM;
	lw->cs = cs;
	lw->n = parent->nlayers;
	lw->diff_ids = calloc(lw->n ? lw->n : 1, sizeof(*lw->diff_ids));
	lw->layers = calloc(lw->n ? lw->n : 1, sizeof(*lw->layers));
	if (!lw->diff_ids || !lw->layers) {
		commit_lower_destroy(lw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < lw->n; i++)
		lw->diff_ids[i] = parent->layers[i].diff_id;
	*out = lw;
	return 0;
}

void commit_lower_destroy(struct commit_lower *lw)
{
	if (!lw)
		return;
	for (size_t i = 0; lw->layers && i < lw->n; i++)
		layer_close(lw->layers[i]);
	free(lw->layers);
	free(lw->diff_ids);
	free(lw);
}

static int get_layer(struct commit_lower *lw, size_t i, struct layer **out)
{
	int r;

	if (!lw->layers[i]) {
		r = layer_open(lw->cs, &lw->diff_ids[i], &lw->layers[i]);
		if (r) {
			char dg[IMAGE_DIGEST_STRLEN];

			log_err("layer %s: cannot open: %s",
				image_digest_format(&lw->diff_ids[i], dg), strerror(-r));
			return r;
		}
	}
	*out = lw->layers[i];
	return 0;
}

/* A directory of the merged view: the layers (top first) that contribute. */
struct vis {
	size_t layer;
	uint64_t ino;
};

int commit_lower_find(struct commit_lower *lw, const char *path, struct layer **l, uint64_t *ino,
		      uint64_t *size)
{
	struct vis *cur, *next;
	size_t ncur = 0, nnext;
	const char *p = path;
	int r = -ENOENT;

	cur = calloc(lw->n ? lw->n : 1, sizeof(*cur));
	next = calloc(lw->n ? lw->n : 1, sizeof(*next));
	if (!cur || !next) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = lw->n; i-- > 0;) {
		cur[ncur].layer = i;
		cur[ncur++].ino = LAYER_ROOT_INO;
	}
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		bool last = !slash || !slash[1];

		nnext = 0;
		for (size_t k = 0; k < ncur; k++) {
			struct layer *ly;
			struct layer_attr a;
			uint64_t ci;

			r = get_layer(lw, cur[k].layer, &ly);
			if (r)
				goto out;
			r = layer_lookup(ly, cur[k].ino, p, len, &ci);
			if (r == -ENOENT)
				continue;
			if (!r)
				r = layer_getattr(ly, ci, &a);
			if (r)
				goto out;
			if (a.flags & LAYER_F_WHITEOUT)
				break;
			if (S_ISDIR(a.mode)) {
				if (last && !nnext) {
					r = -EISDIR;
					goto out;
				}
				next[nnext].layer = cur[k].layer;
				next[nnext++].ino = ci;
				if (a.flags & LAYER_F_OPAQUE)
					break;
				continue;
			}
			/* A non-directory hides everything below it. */
			if (!last || nnext) {
				r = -ENOENT;
				if (nnext)
					break;
				goto out;
			}
			if (!S_ISREG(a.mode)) {
				r = -EINVAL;
				goto out;
			}
			*l = ly;
			*ino = ci;
			*size = a.size;
			r = 0;
			goto out;
		}
		if (!nnext || last) {
			r = -ENOENT;
			goto out;
		}
		memcpy(cur, next, nnext * sizeof(*cur));
		ncur = nnext;
		p += len;
		while (*p == '/')
			p++;
	}
	r = -ENOENT;
out:
	free(cur);
	free(next);
	return r;
}
