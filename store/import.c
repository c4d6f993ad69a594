// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Import: image source -> layer indexes + blobs -> one catalog record.
 * Order of writes, and why an interrupted import is invisible:
 *   1. each layer not yet stored: chunks, sync, index pieces (piece 0
 *      last), sync (layer_builder_commit());
 *   2. config and manifest blobs;
 *   3. tag records (ignored while their image record does not exist), sync;
 *   4. the image record, sync: the image appears with its tags at once.
 * Sources without a manifest (docker-archive, rootfs tar) get a
 * deterministic OCI manifest made here (layers described as uncompressed
 * tars, digest = DiffID), and a rootfs tar a minimal config, so every image
 * has a manifest digest as its ID and importing the same input twice gives
 * the same ID.
 */
#include <errno.h>
#include <stdio.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/import.h"
#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define PROGRESS_STEP (4u << 20)

struct prog {
	const struct import_opts *o;
	const char *path;
	struct image_tarwalk *tw;
	struct import_progress p;
	uint64_t t0, last;
};

static int report(struct prog *pg)
{
	if (!pg->o->progress)
		return 0;
	pg->p.elapsed_ns = strata_now_ns() - pg->t0;
	return pg->o->progress(pg->o->progress_arg, &pg->p) ? -ECANCELED : 0;
}

static ssize_t prog_read(void *arg, void *buf, size_t len)
{
	struct prog *pg = arg;
	ssize_t n = image_tarwalk_read(pg->tw, buf, len);

	if (n > 0) {
		pg->p.bytes += (uint64_t)n;
		pg->p.total_bytes += (uint64_t)n;
		if (pg->p.bytes - pg->last >= PROGRESS_STEP) {
			pg->last = pg->p.bytes;
			if (report(pg))
				return -ECANCELED;
		}
	}
	return n;
}

/* Read layer i through the walker only for what it verifies. */
static int verify_blob(struct image *img, size_t i)
{
	struct image_tarwalk *tw;
	const struct image_entry *e;
	int r = image_layer_walk(img, i, true, &tw);

	if (r)
		return r;
	while ((r = image_tarwalk_next(tw, &e)) == 1)
		;
	image_tarwalk_destroy(tw);
	return r;
}

/* Import layer i of img unless its DiffID is stored; fill *cl. */
static int import_layer(struct chunkstore *cs, struct image *img, size_t i, struct prog *pg,
			struct catalog_layer *cl, bool *added, struct import_result *res)
{
	const struct image_config_info *ci = image_config(img);
	const struct image_descriptor *d = image_layer_desc(img, i);
	struct image_skeleton *sk = NULL;
	struct layer_builder *b = NULL;
	struct layer_build_stats bs;
	const struct image_entry *e;
	struct image_digest blob;
	uint64_t blob_size, tar_size;
	int r;

	*added = false;
	pg->p.layer = i;
	pg->p.bytes = 0;
	pg->last = 0;
	pg->p.skipped = pg->p.done = false;
	pg->p.diff_id = NULL;
	cl->media_type = strdup(d->media_type ? d->media_type : MT_OCI_LAYER_TAR);
	if (!cl->media_type)
		return -ENOMEM;
	cl->size = d->size;
	if (d->digest_known)
		cl->digest = d->digest;
	if (i < ci->ndiff_ids && layer_exists(chunkstore_store(cs), &ci->diff_ids[i])) {
		struct layer *l;
		struct layer_info li;

		cl->diff_id = ci->diff_ids[i];
		/* Stored already; the blob is still checked (digest, size, DiffID). */
		r = verify_blob(img, i);
		if (r)
			return r;
		r = layer_open(cs, &cl->diff_id, &l);
		if (r)
			return r;
		layer_get_info(l, &li);
		layer_close(l);
		cl->tar_size = li.tar_size;
		if (!d->digest_known)
			cl->digest = cl->diff_id;
		if (cl->size < 0 && !d->digest_known)
			cl->size = (int64_t)li.tar_size;
		pg->p.diff_id = &cl->diff_id;
		pg->p.skipped = pg->p.done = true;
		return report(pg);
	}
	if (i < ci->ndiff_ids)
		pg->p.diff_id = &ci->diff_ids[i];
	r = image_layer_walk(img, i, false, &pg->tw);
	if (r)
		return r;
	r = layer_builder_create(cs, pg->o->chunking, &b);
	if (r)
		goto out;
	while ((r = image_tarwalk_next(pg->tw, &e)) == 1) {
		r = layer_builder_add(b, e, prog_read, pg);
		if (r)
			goto out;
	}
	if (r)
		goto out;
	r = image_tarwalk_result(pg->tw, &cl->diff_id, &blob, &blob_size, &tar_size, &sk);
	if (r)
		goto out;
	r = layer_builder_commit(b, &cl->diff_id, tar_size, sk, &bs);
	if (r)
		goto out;
	cl->tar_size = tar_size;
	if (!d->digest_known) {
		cl->digest = blob;
		cl->size = (int64_t)blob_size;
	}
	*added = true;
	res->new_chunks += bs.new_chunks;
	res->new_bytes += bs.new_bytes;
	res->stored_bytes += bs.stored_bytes;
	res->file_bytes += bs.file_bytes;
	pg->p.diff_id = &cl->diff_id;
	pg->p.done = true;
	r = report(pg);
out:
	image_skeleton_destroy(sk);
	layer_builder_destroy(b);
	image_tarwalk_destroy(pg->tw);
	pg->tw = NULL;
	return r;
}

static char *dup_json(json_object *o, size_t *len)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *d = s ? strdup(s) : NULL;

	if (d)
		*len = strlen(d);
	return d;
}

/* A minimal config for a rootfs tarball (deterministic: no timestamps). */
static char *make_config(const struct catalog_layer *ls, size_t n, size_t *len)
{
	char dg[IMAGE_DIGEST_STRLEN];
	json_object *o = json_object_new_object(), *rf = json_object_new_object();
	json_object *ids = json_object_new_array();
	char *s;

	json_object_object_add(o, "architecture", json_object_new_string("amd64"));
	json_object_object_add(o, "os", json_object_new_string("linux"));
	json_object_object_add(o, "config", json_object_new_object());
	json_object_object_add(rf, "type", json_object_new_string("layers"));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(ids, json_object_new_string(
						   image_digest_format(&ls[i].diff_id, dg)));
	json_object_object_add(rf, "diff_ids", ids);
	json_object_object_add(o, "rootfs", rf);
	s = dup_json(o, len);
	json_object_put(o);
	return s;
}

/* An OCI manifest for sources that have none: layers as uncompressed tars. */
static char *make_manifest(const struct image_digest *config, size_t config_len,
			   const char *config_mt, struct catalog_layer *ls, size_t n, size_t *len)
{
	char dg[IMAGE_DIGEST_STRLEN];
	json_object *o = json_object_new_object(), *c = json_object_new_object();
	json_object *la = json_object_new_array();
	char *s;

	json_object_object_add(o, "schemaVersion", json_object_new_int(2));
	json_object_object_add(o, "mediaType", json_object_new_string(MT_OCI_MANIFEST));
	json_object_object_add(c, "mediaType", json_object_new_string(config_mt));
	json_object_object_add(c, "digest",
			       json_object_new_string(image_digest_format(config, dg)));
	json_object_object_add(c, "size", json_object_new_int64((int64_t)config_len));
	json_object_object_add(o, "config", c);
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_new_object();

		/* The layer as strata can give it back: the uncompressed tar. */
		free(ls[i].media_type);
		ls[i].media_type = strdup(MT_OCI_LAYER_TAR);
		ls[i].digest = ls[i].diff_id;
		ls[i].size = (int64_t)ls[i].tar_size;
		json_object_object_add(l, "mediaType", json_object_new_string(MT_OCI_LAYER_TAR));
		json_object_object_add(l, "digest", json_object_new_string(
							    image_digest_format(&ls[i].diff_id, dg)));
		json_object_object_add(l, "size", json_object_new_int64((int64_t)ls[i].tar_size));
		json_object_array_add(la, l);
	}
	json_object_object_add(o, "layers", la);
	s = dup_json(o, len);
	json_object_put(o);
	return s;
}

/*
 * The name a source's ref gives an image.  A full reference ("name:tag",
 * "host/name") is used as it is.  An OCI ref that is only a tag ("12",
 * "base": what skopeo and umoci write) is qualified by the source's file
 * name, so "oci:/tmp/debian:12" becomes "debian:12".
 */
static int ref_name(const char *path, const char *ref, char *out)
{
	char base[CATALOG_NAME_MAX + 1], full[2 * CATALOG_NAME_MAX + 2];
	const char *b;
	size_t len;

	if (strchr(ref, ':') || strchr(ref, '/'))
		return catalog_normalize_name(ref, out);
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	b = path + len;
	while (b > path && b[-1] != '/')
		b--;
	len = (size_t)(path + len - b);
	if (len > 4 && !memcmp(b + len - 4, ".tar", 4))
		len -= 4;
	if (!len || len > CATALOG_NAME_MAX)
		return catalog_normalize_name(ref, out);
	memcpy(base, b, len);
	base[len] = 0;
	snprintf(full, sizeof(full), "%s:%s", base, ref);
	if (catalog_normalize_name(full, out))
		return catalog_normalize_name(ref, out);
	return 0;
}

static int import_one(struct chunkstore *cs, struct catalog *cat, struct image *img,
		      const char *kind, struct prog *pg, struct import_result *res)
{
	struct store *s = chunkstore_store(cs);
	size_t n = image_layer_count(img), clen = 0, mlen = 0;
	struct catalog_image ci = { 0 };
	const struct image_descriptor *md = image_manifest_desc(img);
	const struct image_descriptor *cd = image_config_desc(img);
	const void *craw = image_config_raw(img, &clen), *mraw;
	char *cfg = NULL, *man = NULL, norm[CATALOG_NAME_MAX + 1];
	const char *names[64];
	size_t nnames = 0, namelen = 0;
	int r;

	ci.layers = calloc(n ? n : 1, sizeof(*ci.layers));
	if (!ci.layers)
		return -ENOMEM;
	ci.nlayers = n;
	res->nlayers = n;
	pg->p.nlayers = n;
	for (size_t i = 0; i < n; i++) {
		bool added;

		r = import_layer(cs, img, i, pg, &ci.layers[i], &added, res);
		if (r)
			goto out;
		res->layers_new += added;
		res->logical += ci.layers[i].tar_size;
	}
	/* Config. */
	if (craw && cd) {
		ci.config = cd->digest;
		r = catalog_put_blob(s, &ci.config, craw, clen);
	} else {
		cfg = make_config(ci.layers, n, &clen);
		r = cfg ? 0 : -ENOMEM;
		if (!r) {
			image_sha256_buf(cfg, clen, &ci.config);
			r = catalog_put_blob(s, &ci.config, cfg, clen);
		}
	}
	if (r)
		goto out;
	/* Manifest. */
	mraw = image_manifest_raw(img, &mlen);
	if (mraw && md) {
		ci.id = md->digest;
		ci.manifest_media_type = strdup(md->media_type ? md->media_type : MT_OCI_MANIFEST);
		r = ci.manifest_media_type ? catalog_put_blob(s, &ci.id, mraw, mlen) : -ENOMEM;
	} else {
		/* An OCI manifest names an OCI config, whatever the source
		 * called it (a docker-archive's config is docker's
		 * container.image.v1, whose JSON the OCI config takes
		 * as is): skopeo and umoci treat any other config media
		 * type as an artifact, not an image. */
		man = make_manifest(&ci.config, clen, MT_OCI_CONFIG, ci.layers, n, &mlen);
		ci.synthetic = true;
		ci.manifest_media_type = strdup(MT_OCI_MANIFEST);
		r = man && ci.manifest_media_type ? 0 : -ENOMEM;
		if (!r) {
			image_sha256_buf(man, mlen, &ci.id);
			r = catalog_put_blob(s, &ci.id, man, mlen);
		}
	}
	if (r)
		goto out;
	ci.source = strdup(kind);
	ci.imported = (int64_t)time(NULL);
	if (!ci.source) {
		r = -ENOMEM;
		goto out;
	}
	/* Names: given ones, else the source's ref ("base" -> "base:latest"). */
	if (pg->o->names) {
		for (size_t i = 0; i < pg->o->nnames && nnames < ARRAY_SIZE(names); i++)
			names[nnames++] = pg->o->names[i];
	} else if (image_ref(img)) {
		if (!ref_name(pg->path, image_ref(img), norm))
			names[nnames++] = norm;
		else
			log_warn("%s: ref is not a usable name; imported without a tag",
				 image_ref(img));
	}
	for (size_t i = 0; i < nnames; i++)
		namelen += strlen(names[i]) + 2;
	res->names = calloc(1, namelen + 1);
	if (!res->names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nnames; i++) {
		char nn[CATALOG_NAME_MAX + 1];

		if (catalog_normalize_name(names[i], nn)) {
			r = -EINVAL;
			goto out;
		}
		if (i)
			strcat(res->names, ", ");
		strcat(res->names, nn);
	}
	r = catalog_add_image(s, cat, &ci, names, nnames);
	if (!r)
		res->id = ci.id;
out:
	for (size_t i = 0; i < ci.nlayers; i++)
		free(ci.layers[i].media_type);
	free(ci.layers);
	free(ci.manifest_media_type);
	free(ci.source);
	free(cfg);
	free(man);
	return r;
}

void import_results_free(struct import_result *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].names);
	free(r);
}

int import_source(struct chunkstore *cs, struct catalog *cat, const char *path,
		  const struct import_opts *o, struct import_result **results, size_t *nresults)
{
	struct image_source_opts so = { .kind = o->kind, .tmpdir = o->tmpdir };
	struct image_source *src = NULL;
	struct import_result *res = NULL;
	struct import_opts oo = *o;
	struct dedup_store_policy sp;
	struct prog pg = { .o = &oo, .path = path };
	size_t n, first, count;
	const char *kind;
	int r;

	*results = NULL;
	*nresults = 0;
	for (size_t i = 0; i < o->nnames; i++) {
		char nn[CATALOG_NAME_MAX + 1];

		if (catalog_normalize_name(o->names[i], nn)) {
			log_err("'%s' is not a valid image name", o->names[i]);
			return -EINVAL;
		}
	}
	if (!o->chunking) {
		/* The store's chunking (defaults when it has none or it is unreadable). */
		r = dedup_store_policy_load(chunkstore_store(cs), &sp);
		if (r && r != -EBADMSG)
			return r;
		oo.chunking = &sp.chunking;
	}
	r = image_source_open(path, &so, &src);
	if (r)
		return r;
	kind = image_source_kind_name(image_source_kind(src));
	n = image_source_count(src);
	if (n == 0) {
		log_err("%s: holds no image", path);
		r = -ENOENT;
		goto out;
	}
	first = 0;
	count = o->all ? n : 1;
	if (!o->all) {
		if (o->ref) {
			for (first = 0; first < n; first++)
				if (image_source_ref(src, first) &&
				    !strcmp(image_source_ref(src, first), o->ref))
					break;
			if (first == n) {
				log_err("%s: no image named '%s'", path, o->ref);
				r = -ENOENT;
				goto out;
			}
		} else if (n > 1) {
			log_err("%s: holds %zu images: name one or import them all", path, n);
			r = -EINVAL;
			goto out;
		}
	}
	if (o->nnames && count > 1) {
		log_err("%s: names apply to one image, the source holds %zu", path, count);
		r = -EINVAL;
		goto out;
	}
	res = calloc(count, sizeof(*res));
	if (!res) {
		r = -ENOMEM;
		goto out;
	}
	pg.t0 = strata_now_ns();
	pg.p.nimages = count;
	for (size_t i = 0; i < count; i++) {
		struct image *img = NULL;

		pg.p.image = i;
		r = image_source_load(src, first + i, &img);
		if (!r)
			r = import_one(cs, cat, img, kind, &pg, &res[i]);
		image_destroy(img);
		if (r)
			goto out;
		*nresults = i + 1;
	}
	*results = res;
	res = NULL;
out:
	if (res)
		import_results_free(res, count);
	if (r && *results == NULL)
		*nresults = 0;
	image_source_destroy(src);
	return r;
}
