// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Space accounting (df) and garbage collection (gc) over the catalog.  Both
 * derive chunk references from the layer indexes the catalog names, as
 * chunkstore.h explains: nothing here trusts a stored counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/catalog-internal.h"
#include "strata/catalog.h"
#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"

/* ---- per-image chunk sets ---- */

struct img_walk {
	struct chunkstore *cs;
	struct chunk_refs *set;  /* distinct chunks of this image */
	struct chunk_refs *refs; /* every reference (gc) or image count (df); may be NULL */
	bool count_images;       /* refs counts images, not references */
	struct catalog_usage *u;
};

static int walk_chunk(void *arg, const struct dedup_cid *cid, uint32_t raw_len)
{
	struct img_walk *w = arg;
	int64_t n = chunk_refs_incref(w->set, cid, 1);

	if (n < 0)
		return (int)n;
	if (w->refs && (!w->count_images || n == 1)) {
		int64_t m = chunk_refs_incref(w->refs, cid, 1);

		if (m < 0)
			return (int)m;
	}
	if (n == 1 && w->u) {
		uint32_t stored = 0;

		w->u->chunks++;
		w->u->data += raw_len;
		if (chunkstore_stat(w->cs, cid, NULL, &stored, NULL) == 0)
			w->u->stored += stored;
	}
	return 0;
}

/* Open a layer named by the catalog; a missing one is damage, said so. */
static int open_layer(struct chunkstore *cs, const struct catalog_image *im, size_t i,
		      struct layer **l)
{
	char a[IMAGE_DIGEST_STRLEN], b[IMAGE_DIGEST_STRLEN];
	int r = layer_open(cs, &im->layers[i].diff_id, l);

	if (r)
		log_err("image %s: layer %s: %s", image_digest_format(&im->id, a),
			image_digest_format(&im->layers[i].diff_id, b),
			r == -ENOENT ? "missing from the store" : strerror(-r));
	return r;
}

/* Walk every chunk of image im into w; index bytes of its layers into *index. */
static int walk_image(struct img_walk *w, const struct catalog_image *im, uint64_t *index)
{
	for (size_t i = 0; i < im->nlayers; i++) {
		struct layer_info li;
		struct layer *l;
		int r;

		/* A layer listed twice in one image is walked once. */
		for (size_t k = 0; k < i; k++)
			if (image_digest_equal(&im->layers[k].diff_id, &im->layers[i].diff_id))
				goto next;
		r = open_layer(w->cs, im, i, &l);
		if (r)
			return r;
		layer_get_info(l, &li);
		if (index)
			*index += li.index_bytes;
		r = layer_for_each_chunk(l, walk_chunk, w);
		layer_close(l);
		if (r)
			return r;
next:;
	}
	return 0;
}

/* ---- df ---- */

struct uniq_ctx {
	struct chunkstore *cs;
	const struct chunk_refs *images; /* chunk -> number of images */
	uint64_t unique;
};

static int uniq_cb(void *arg, const struct dedup_cid *cid, uint64_t count)
{
	struct uniq_ctx *u = arg;
	uint32_t stored;

	if (chunk_refs_get(u->images, cid) == 1 &&
	    chunkstore_stat(u->cs, cid, NULL, &stored, NULL) == 0)
		u->unique += stored;
	return 0;
}

struct garbage_ctx {
	const struct catalog *c;
	const struct chunk_refs *live_chunks;
	const struct chunk_refs *live_pieces;
	struct store_key *dead; /* gc only */
	size_t ndead, cap;
	bool collect;
	uint64_t bytes, records, chunk_records;
};

static bool meta_live(const struct garbage_ctx *g, const struct store_key *key, uint32_t kind)
{
	struct dedup_cid id;

	if (kind == LAYER_META_KIND) {
		dedup_cid_from_key(key, &id);
		return chunk_refs_get(g->live_pieces, &id) > 0;
	}
	return catalog_key_live(g->c, kind, key);
}

static int garbage_cb(void *arg, const struct store_key *key, const struct store_rec_info *info)
{
	struct garbage_ctx *g = arg;
	struct dedup_cid id;

	if (info->type == STORE_REC_CHUNK) {
		dedup_cid_from_key(key, &id);
		if (chunk_refs_get(g->live_chunks, &id))
			return 0;
		g->chunk_records++;
	} else if (info->type == STORE_REC_META &&
		   (info->user == LAYER_META_KIND || info->user == CATALOG_KIND_IMAGE ||
		    info->user == CATALOG_KIND_TAG || info->user == CATALOG_KIND_BLOB)) {
		if (meta_live(g, key, info->user))
			return 0;
		if (g->collect) {
			if (g->ndead == g->cap) {
				size_t cap = g->cap ? 2 * g->cap : 256;
				struct store_key *d = realloc(g->dead, cap * sizeof(*d));

				if (!d)
					return -ENOMEM;
				g->dead = d;
				g->cap = cap;
			}
			g->dead[g->ndead++] = *key;
		}
	} else {
		return 0;
	}
	g->bytes += info->len;
	g->records++;
	return 0;
}

/* Keys of every piece of every layer the catalog uses, as a set. */
static int live_pieces(struct chunkstore *cs, const struct catalog *c, struct chunk_refs *set,
		       uint64_t *nlayers)
{
	for (size_t i = 0; i < catalog_count(c); i++) {
		const struct catalog_image *im = catalog_image_at(c, i);

		for (size_t k = 0; k < im->nlayers; k++) {
			struct layer_info li;
			struct store_key key;
			struct dedup_cid id;
			struct layer *l;
			int r;

			layer_piece_key(&im->layers[k].diff_id, 0, &key);
			dedup_cid_from_key(&key, &id);
			if (chunk_refs_get(set, &id))
				continue;
			r = open_layer(cs, im, k, &l);
			if (r)
				return r;
			layer_get_info(l, &li);
			layer_close(l);
			(*nlayers)++;
			for (uint32_t p = 0; p < li.npieces; p++) {
				layer_piece_key(&im->layers[k].diff_id, p, &key);
				dedup_cid_from_key(&key, &id);
				if (chunk_refs_incref(set, &id, 1) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

int catalog_df(struct chunkstore *cs, const struct catalog *c, struct catalog_df *df)
{
	struct chunk_refs *images = NULL, *all = NULL, *pieces = NULL;
	struct chunk_refs **sets = NULL;
	uint64_t *index = NULL;
	size_t n = catalog_count(c);
	int r = -ENOMEM;

	memset(df, 0, sizeof(*df));
	df->nimages = n;
	df->images = calloc(n ? n : 1, sizeof(*df->images));
	sets = calloc(n ? n : 1, sizeof(*sets));
	index = calloc(n ? n : 1, sizeof(*index));
	if (!df->images || !sets || !index || chunk_refs_create(&images) ||
	    chunk_refs_create(&all) || chunk_refs_create(&pieces))
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct catalog_image *im = catalog_image_at(c, i);
		struct img_walk w = { .cs = cs, .refs = images, .count_images = true,
				      .u = &df->images[i] };

		r = chunk_refs_create(&sets[i]);
		if (r)
			goto out;
		w.set = sets[i];
		r = walk_image(&w, im, &index[i]);
		if (r)
			goto out;
		df->images[i].stored += index[i];
		for (size_t k = 0; k < im->nlayers; k++)
			df->images[i].logical += im->layers[k].tar_size;
		df->images[i].layers = im->nlayers;
		df->total.logical += df->images[i].logical;
	}
	/* Unique bytes: chunks no other image uses, and layers no other image uses. */
	for (size_t i = 0; i < n; i++) {
		const struct catalog_image *im = catalog_image_at(c, i);
		struct uniq_ctx u = { .cs = cs, .images = images };
		struct img_walk w = { .cs = cs, .set = all, .u = &df->total };

		chunk_refs_iterate(sets[i], uniq_cb, &u);
		df->images[i].unique = u.unique;
		for (size_t k = 0; k < im->nlayers; k++) {
			bool shared = false;
			struct layer *l;
			struct layer_info li;

			for (size_t j = 0; j < n && !shared; j++) {
				const struct catalog_image *o = catalog_image_at(c, j);

				for (size_t m = 0; j != i && m < o->nlayers && !shared; m++)
					shared = image_digest_equal(&o->layers[m].diff_id,
								    &im->layers[k].diff_id);
			}
			if (shared || layer_open(cs, &im->layers[k].diff_id, &l))
				continue;
			layer_get_info(l, &li);
			layer_close(l);
			df->images[i].unique += li.index_bytes;
		}
		/* Totals: every distinct chunk once, every distinct layer index once. */
		for (size_t k = 0; k < im->nlayers; k++) {
			struct store_key key;
			struct dedup_cid id;
			struct layer *l;
			struct layer_info li;

			layer_piece_key(&im->layers[k].diff_id, 0, &key);
			dedup_cid_from_key(&key, &id);
			if (chunk_refs_get(pieces, &id))
				continue;
			if (chunk_refs_incref(pieces, &id, 1) < 0) {
				r = -ENOMEM;
				goto out;
			}
			r = layer_open(cs, &im->layers[k].diff_id, &l);
			if (r)
				goto out;
			layer_get_info(l, &li);
			df->total.layers++;
			df->total.stored += li.index_bytes;
			r = layer_for_each_chunk(l, walk_chunk, &w);
			layer_close(l);
			if (r)
				goto out;
		}
	}
	df->total.unique = df->total.stored;
	/* What no image uses: interrupted imports, removed images not yet collected. */
	{
		struct chunk_refs *lp = NULL;
		uint64_t nl = 0;
		struct garbage_ctx g = { .c = c, .live_chunks = all };

		r = chunk_refs_create(&lp);
		if (r)
			goto out;
		r = live_pieces(cs, c, lp, &nl);
		g.live_pieces = lp;
		if (!r)
			r = store_iterate(chunkstore_store(cs), garbage_cb, &g);
		chunk_refs_destroy(lp);
		if (r)
			goto out;
		df->garbage_bytes = g.bytes;
		df->garbage_records = g.records;
	}
	store_get_stats(chunkstore_store(cs), &df->store);
	r = 0;
out:
	for (size_t i = 0; sets && i < n; i++)
		chunk_refs_destroy(sets[i]);
	free(sets);
	free(index);
	chunk_refs_destroy(images);
	chunk_refs_destroy(all);
	chunk_refs_destroy(pieces);
	if (r)
		catalog_df_free(df);
	return r;
}

void catalog_df_free(struct catalog_df *df)
{
	free(df->images);
	df->images = NULL;
	df->nimages = 0;
}

/* ---- gc ---- */

/*
 * Put the first piece of every dead layer index first: a layer exists
 * while its piece 0 does, so piece 0 must go before the others, or a crash
 * half-way through could leave a piece 0 whose other pieces are gone (and
 * an import would then reuse that layer).  The log keeps the order of the
 * deletes, so no sync is needed in between.  A piece 0 is recognized by
 * its header magic; mistaking another piece for one only changes order.
 */
static int order_dead(struct store *s, struct store_key *dead, size_t n)
{
	uint8_t *buf = malloc(LAYER_PIECE_SIZE);
	size_t front = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct store_rec_info info;
		struct store_key k;
		size_t len;

		if (store_get(s, &dead[i], buf, LAYER_PIECE_SIZE, &len, &info) ||
		    info.user != LAYER_META_KIND || len < 8 || memcmp(buf, "STLAYER1", 8))
			continue;
		k = dead[front];
		dead[front++] = dead[i];
		dead[i] = k;
	}
	free(buf);
	return 0;
}

int catalog_gc(struct chunkstore *cs, const struct catalog *c, bool dry_run, bool no_compact,
	       struct catalog_gc_stats *st)
{
	struct store *s = chunkstore_store(cs);
	struct chunk_refs *live = NULL, *pieces = NULL;
	struct garbage_ctx g = { .c = c, .collect = true };
	struct chunkstore_sweep_stats ss;
	int r;

	memset(st, 0, sizeof(*st));
	r = chunk_refs_create(&live);
	if (!r)
		r = chunk_refs_create(&pieces);
	if (r)
		goto out;
	/* Mark.  Any unreadable layer stops gc here, before anything is deleted. */
	for (size_t i = 0; i < catalog_count(c); i++) {
		struct chunk_refs *set = NULL;
		struct img_walk w = { .cs = cs, .refs = live };

		r = chunk_refs_create(&set);
		if (r)
			goto out;
		w.set = set;
		r = walk_image(&w, catalog_image_at(c, i), NULL);
		chunk_refs_destroy(set);
		if (r)
			goto out;
		st->live_images++;
	}
	r = live_pieces(cs, c, pieces, &st->live_layers);
	if (r)
		goto out;
	st->live_chunks = chunk_refs_count(live);
	/* Sweep catalog and layer records, then chunks. */
	g.live_chunks = live;
	g.live_pieces = pieces;
	r = store_iterate(s, garbage_cb, &g);
	if (r)
		goto out;
	r = order_dead(s, g.dead, g.ndead);
	if (r)
		goto out;
	for (size_t i = 0; i < g.ndead; i++) {
		struct store_rec_info info;

		if (store_lookup(s, &g.dead[i], &info))
			continue;
		st->meta_bytes_deleted += info.len;
		st->meta_deleted++;
		if (dry_run)
			continue;
		r = store_delete(s, &g.dead[i]);
		if (r && r != -ENOENT)
			goto out;
	}
	r = chunkstore_sweep(cs, live, dry_run, &ss);
	st->chunks_deleted = ss.deleted;
	st->chunk_bytes_deleted = ss.deleted_bytes;
	st->missing_chunks = ss.missing;
	if (r || dry_run || no_compact)
		goto out;
	r = store_compact(s, NULL, &st->compact);
	if (r == -ENOSPC) {
		log_warn("gc: not enough free space to compact; records were deleted");
		r = 0;
	} else if (!r) {
		st->compacted = true;
	}
out:
	free(g.dead);
	chunk_refs_destroy(live);
	chunk_refs_destroy(pieces);
	return r;
}
