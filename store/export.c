// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Export: catalog images -> OCI layout / oci-archive / docker-archive.
 * Per image: the config blob byte for byte; each layer rebuilt from its
 * index, checked against its DiffID as it streams, compressed and written
 * (once per export, however many images share it); then the manifest
 * (the stored one when every layer blob came out identical, else a
 * rewritten one).  index.json / manifest.json come last, then the output
 * is renamed into place (export-out.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/export.h"
#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"
#include "store/export-internal.h"
#include "store/image-internal.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define PROGRESS_STEP (4u << 20)

/* A layer blob written by this export. */
struct blob_done {
	struct image_digest diff_id, digest;
	uint64_t size;
};

struct exp {
	struct chunkstore *cs;
	struct store *s;
	const struct export_opts *o;
	enum image_compression comp;
	struct exp_out *out;
	struct blob_done *done;
	size_t ndone, done_cap;
	struct export_progress p;
	uint64_t t0, last;
	struct image_sha256 *diff_h;
	struct exp_comp *z;
	json_object *index; /* OCI: manifests[]; docker: the manifest.json array */
};

const char *export_format_name(enum export_format f)
{
	switch (f) {
	case EXPORT_OCI_LAYOUT:
		return "oci-layout";
	case EXPORT_OCI_ARCHIVE:
		return "oci-archive";
	case EXPORT_DOCKER_ARCHIVE:
		return "docker-archive";
	}
	return "?";
}

static bool is_docker(const struct exp *e)
{
	return e->o->format == EXPORT_DOCKER_ARCHIVE;
}

static const char *layer_media_type(enum image_compression c)
{
	return c == IMAGE_COMP_GZIP   ? MT_OCI_LAYER "+gzip"
	       : c == IMAGE_COMP_ZSTD ? MT_OCI_LAYER "+zstd"
				      : MT_OCI_LAYER;
}

static int report(struct exp *e)
{
	if (!e->o->progress)
		return 0;
	e->p.elapsed_ns = strata_now_ns() - e->t0;
	return e->o->progress(e->o->progress_arg, &e->p) ? -ECANCELED : 0;
}

static int blob_sink(void *arg, const void *buf, size_t len)
{
	struct exp *e = arg;

	return exp_out_blob_write(e->out, buf, len);
}

/* Rebuilt tar bytes: hashed for the DiffID check, then compressed. */
static int layer_put(void *arg, const void *buf, size_t len)
{
	struct exp *e = arg;

	image_sha256_update(e->diff_h, buf, len);
	e->p.bytes += len;
	e->p.total_bytes += len;
	if (e->p.bytes - e->last >= PROGRESS_STEP) {
		e->last = e->p.bytes;
		if (report(e))
			return -ECANCELED;
	}
	return exp_comp_write(e->z, buf, len);
}

static const struct blob_done *find_done(const struct exp *e, const struct image_digest *diff)
{
	for (size_t i = 0; i < e->ndone; i++)
		if (image_digest_equal(&e->done[i].diff_id, diff))
			return &e->done[i];
	return NULL;
}

static int add_done(struct exp *e, const struct blob_done *b)
{
	if (e->ndone == e->done_cap) {
		size_t cap = e->done_cap ? e->done_cap * 2 : 16;
		struct blob_done *v = realloc(e->done, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->done = v;
		e->done_cap = cap;
	}
	e->done[e->ndone++] = *b;
	return 0;
}

/* Rebuild, check, compress and write one layer; *b gets its blob. */
static int export_layer(struct exp *e, const struct catalog_layer *cl, struct blob_done *b)
{
	const char *prefix = is_docker(e) ? "" : "blobs/sha256/";
	const char *suffix = is_docker(e) ? ".tar" : "";
	char dg[IMAGE_DIGEST_STRLEN], dg2[IMAGE_DIGEST_STRLEN], name[256];
	const struct blob_done *d = find_done(e, &cl->diff_id);
	struct image_digest got;
	struct layer *l = NULL;
	struct layer_info li;
	int r;

	image_digest_format(&cl->diff_id, dg);
	e->p.diff_id = &cl->diff_id;
	e->p.bytes = 0;
	e->p.tar_size = cl->tar_size;
	e->p.reused = e->p.done = false;
	e->last = 0;
	if (d) {
		*b = *d;
		e->p.reused = e->p.done = true;
		return report(e);
	}
	r = report(e);
	if (r)
		return r;
	r = layer_open(e->cs, &cl->diff_id, &l);
	if (r) {
		log_err("layer %s: %s", dg,
			r == -ENOENT ? "not in the store" : "cannot open its index");
		return r;
	}
	layer_get_info(l, &li);
	image_sha256_reset(e->diff_h);
	/* An uncompressed blob is the tar itself: its name and size are known. */
	if (e->comp == IMAGE_COMP_NONE) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, dg + 7, suffix);
		r = exp_out_blob_begin(e->out, name, (int64_t)li.tar_size);
	} else {
		r = exp_out_blob_begin(e->out, NULL, -1);
	}
	if (r)
		goto out;
	r = exp_comp_create(e->comp, e->o->level, blob_sink, e, &e->z);
	if (r) {
		log_err("layer %s: cannot start the compressor: %s", dg, strerror(-r));
		goto out;
	}
	r = layer_rebuild_tar(l, layer_put, e);
	if (r == -ENODATA)
		log_err("layer %s: has no tar skeleton and cannot be rebuilt", dg);
	else if (r && r != -ECANCELED)
		log_err("layer %s: rebuilding its tar failed: %s", dg, strerror(-r));
	if (r)
		goto out;
	image_sha256_final(e->diff_h, &got);
	if (!image_digest_equal(&got, &cl->diff_id) || e->p.bytes != li.tar_size) {
		log_err("layer %s: rebuilt tar (%" PRIu64 " bytes) hashes to %s: "
			"the store is damaged (see strata verify)",
			dg, e->p.bytes, image_digest_format(&got, dg2));
		r = -EBADMSG;
		goto out;
	}
	r = exp_comp_finish(e->z);
	if (r)
		goto out;
	b->diff_id = cl->diff_id;
	r = exp_out_blob_end(e->out, prefix, suffix, &b->digest, &b->size);
	if (r)
		goto out;
	r = add_done(e, b);
	if (r)
		goto out;
	e->p.done = true;
	r = report(e);
out:
	exp_comp_destroy(e->z);
	e->z = NULL;
	layer_close(l);
	return r;
}

/* Read a stored manifest or config; missing or corrupt is logged. */
static int get_blob(struct exp *e, const struct image_digest *d, const char *what, void **buf,
		    size_t *len)
{
	char dg[IMAGE_DIGEST_STRLEN];
	int r = catalog_get_blob(e->s, d, buf, len);

	if (r)
		log_err("%s %s: %s", what, image_digest_format(d, dg),
			r == -ENOENT ? "not in the store" : strerror(-r));
	return r;
}

static int set_str(json_object *o, const char *key, const char *val)
{
	json_object *v = json_object_new_string(val);

	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int set_i64(json_object *o, const char *key, int64_t val)
{
	json_object *v = json_object_new_int64(val);

	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The stored manifest with new layer descriptors: OCI media types (a
 * docker schema 2 manifest becomes an OCI one; its config is the same
 * JSON), every other field as it was.
 */
static int rewrite_manifest(struct exp *e, const struct catalog_image *img, const void *raw,
			    size_t len, const struct blob_done *bl, char **out, size_t *outlen)
{
	char dg[IMAGE_DIGEST_STRLEN], what[128];
	json_object *m, *layers, *cfg, *v;
	const char *s;
	int r;

	snprintf(what, sizeof(what), "manifest %.19s", image_digest_format(&img->id, dg));
	r = sj_parse(raw, len, what, &m);
	if (r)
		return r;
	if (!json_object_object_get_ex(m, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array) ||
	    json_object_array_length(layers) != img->nlayers ||
	    !json_object_object_get_ex(m, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object)) {
		log_err("%s: stored manifest does not describe the image's %zu layers", what,
			img->nlayers);
		r = -EBADMSG;
		goto out;
	}
	r = set_str(m, "mediaType", MT_OCI_MANIFEST);
	if (!r && json_object_object_get_ex(cfg, "mediaType", &v) &&
	    (s = json_object_get_string(v)) && !strcmp(s, MT_DOCKER_CONFIG))
		r = set_str(cfg, "mediaType", MT_OCI_CONFIG);
	for (size_t i = 0; !r && i < img->nlayers; i++) {
		json_object *l = json_object_array_get_idx(layers, i);

		if (!json_object_is_type(l, json_type_object)) {
			log_err("%s: layer %zu is not an object", what, i);
			r = -EBADMSG;
			break;
		}
		r = set_str(l, "mediaType", layer_media_type(e->comp));
		if (!r)
			r = set_str(l, "digest", image_digest_format(&bl[i].digest, dg));
		if (!r)
			r = set_i64(l, "size", (int64_t)bl[i].size);
		/* Foreign-layer URLs name the old blob. */
		json_object_object_del(l, "urls");
	}
	if (r)
		goto out;
	s = json_object_to_json_string_ext(m, JSON_FLAGS);
	*out = s ? strdup(s) : NULL;
	if (!*out)
		r = -ENOMEM;
	else
		*outlen = strlen(*out);
out:
	json_object_put(m);
	return r;
}

/*
 * Can the stored manifest be written as it is?  Not an OCI manifest whose
 * config is labelled with docker's config type (what a docker-archive
 * import describes): skopeo and umoci take that for an artifact, not an
 * image, so it is rewritten with the OCI config type.
 */
static bool manifest_usable(const struct catalog_image *img, const void *raw, size_t len)
{
	const char *mt = img->manifest_media_type, *ct;
	json_object *m, *cfg, *v;
	bool ok = true;

	if (mt && strcmp(mt, MT_OCI_MANIFEST))
		return true;
	if (sj_parse(raw, len, "stored manifest", &m))
		return false;
	if (json_object_object_get_ex(m, "config", &cfg) &&
	    json_object_object_get_ex(cfg, "mediaType", &v) && (ct = json_object_get_string(v)) &&
	    !strcmp(ct, MT_DOCKER_CONFIG))
		ok = false;
	json_object_put(m);
	return ok;
}

static int index_add_oci(struct exp *e, const struct export_item *it, const char *mt,
			 const struct image_digest *md, size_t mlen)
{
	char dg[IMAGE_DIGEST_STRLEN];
	size_t n = it->nnames ? it->nnames : 1;

	image_digest_format(md, dg);
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_new_object(), *ann;
		int r = d ? 0 : -ENOMEM;

		if (!r)
			r = set_str(d, "mediaType", mt);
		if (!r)
			r = set_str(d, "digest", dg);
		if (!r)
			r = set_i64(d, "size", (int64_t)mlen);
		if (!r && it->nnames) {
			ann = json_object_new_object();
			r = ann ? set_str(ann, ANN_REF_NAME, it->names[i]) : -ENOMEM;
			if (!r)
				r = json_object_object_add(d, "annotations", ann) ? -ENOMEM : 0;
			else
				json_object_put(ann);
		}
		if (!r && json_object_array_add(e->index, d))
			r = -ENOMEM;
		if (r) {
			json_object_put(d);
			return r;
		}
	}
	return 0;
}

static int index_add_docker(struct exp *e, const struct export_item *it,
			    const struct image_digest *config, const struct blob_done *bl, size_t n)
{
	char dg[IMAGE_DIGEST_STRLEN], name[128];
	json_object *d = json_object_new_object(), *tags = json_object_new_array();
	json_object *layers = json_object_new_array();
	int r = d && tags && layers ? 0 : -ENOMEM;

	snprintf(name, sizeof(name), "%s.json", image_digest_format(config, dg) + 7);
	if (!r)
		r = set_str(d, "Config", name);
	for (size_t i = 0; !r && i < it->nnames; i++) {
		json_object *s = json_object_new_string(it->names[i]);

		if (!s || json_object_array_add(tags, s)) {
			json_object_put(s);
			r = -ENOMEM;
		}
	}
	for (size_t i = 0; !r && i < n; i++) {
		json_object *s;

		snprintf(name, sizeof(name), "%s.tar", image_digest_format(&bl[i].digest, dg) + 7);
		s = json_object_new_string(name);
		if (!s || json_object_array_add(layers, s)) {
			json_object_put(s);
			r = -ENOMEM;
		}
	}
	if (!r) {
		/* docker save writes null for an untagged image. */
		r = json_object_object_add(d, "RepoTags", it->nnames ? tags : NULL) ? -ENOMEM : 0;
		if (!r && !it->nnames)
			json_object_put(tags);
		tags = NULL;
	}
	if (!r) {
		r = json_object_object_add(d, "Layers", layers) ? -ENOMEM : 0;
		layers = NULL;
	}
	if (!r)
		r = json_object_array_add(e->index, d) ? -ENOMEM : 0;
	if (r)
		json_object_put(d);
	json_object_put(tags);
	json_object_put(layers);
	return r;
}

static int export_one(struct exp *e, const struct export_item *it, struct export_result *res)
{
	const struct catalog_image *img = it->img;
	char dg[IMAGE_DIGEST_STRLEN], name[256];
	struct blob_done *bl = NULL;
	void *cfg = NULL, *man = NULL;
	char *newman = NULL;
	size_t clen, mlen;
	bool same = true;
	int r;

	memset(res, 0, sizeof(*res));
	res->nlayers = img->nlayers;
	r = get_blob(e, &img->config, "config", &cfg, &clen);
	if (r)
		return r;
	if (is_docker(e))
		snprintf(name, sizeof(name), "%s.json", image_digest_format(&img->config, dg) + 7);
	else
		snprintf(name, sizeof(name), "blobs/sha256/%s",
			 image_digest_format(&img->config, dg) + 7);
	r = exp_out_file(e->out, name, cfg, clen);
	if (r)
		goto out;
	bl = calloc(img->nlayers ? img->nlayers : 1, sizeof(*bl));
	if (!bl) {
		r = -ENOMEM;
		goto out;
	}
	e->p.nlayers = img->nlayers;
	for (size_t i = 0; i < img->nlayers; i++) {
		const struct catalog_layer *cl = &img->layers[i];
		uint64_t before = e->p.total_bytes;

		e->p.layer = i;
		r = export_layer(e, cl, &bl[i]);
		if (r)
			goto out;
		res->tar_bytes += cl->tar_size;
		if (e->p.total_bytes != before)
			res->blob_bytes += bl[i].size;
		if (!image_digest_equal(&bl[i].digest, &cl->digest) ||
		    (int64_t)bl[i].size != cl->size)
			same = false;
	}
	if (is_docker(e)) {
		res->manifest = img->id;
		r = index_add_docker(e, it, &img->config, bl, img->nlayers);
		goto out;
	}
	r = get_blob(e, &img->id, "manifest", &man, &mlen);
	if (r)
		goto out;
	if (same && manifest_usable(img, man, mlen)) {
		res->manifest = img->id;
		res->manifest_kept = true;
		snprintf(name, sizeof(name), "blobs/sha256/%s", image_digest_format(&img->id, dg) + 7);
		r = exp_out_file(e->out, name, man, mlen);
		if (!r)
			r = index_add_oci(e, it,
					  img->manifest_media_type ? img->manifest_media_type
								   : MT_OCI_MANIFEST,
					  &img->id, mlen);
		goto out;
	}
	r = rewrite_manifest(e, img, man, mlen, bl, &newman, &mlen);
	if (r)
		goto out;
	image_sha256_buf(newman, mlen, &res->manifest);
	snprintf(name, sizeof(name), "blobs/sha256/%s",
		 image_digest_format(&res->manifest, dg) + 7);
	r = exp_out_file(e->out, name, newman, mlen);
	if (!r)
		r = index_add_oci(e, it, MT_OCI_MANIFEST, &res->manifest, mlen);
out:
	free(cfg);
	free(man);
	free(newman);
	free(bl);
	return r;
}

/* index.json or manifest.json. */
static int write_index(struct exp *e)
{
	json_object *top = e->index;
	const char *s;
	int r;

	if (is_docker(e)) {
		s = json_object_to_json_string_ext(top, JSON_FLAGS);
		return s ? exp_out_file(e->out, "manifest.json", s, strlen(s)) : -ENOMEM;
	}
	top = json_object_new_object();
	if (!top)
		return -ENOMEM;
	r = set_i64(top, "schemaVersion", 2);
	if (!r)
		r = set_str(top, "mediaType", MT_OCI_INDEX);
	if (!r) {
		r = json_object_object_add(top, "manifests", json_object_get(e->index)) ? -ENOMEM
											: 0;
	}
	s = r ? NULL : json_object_to_json_string_ext(top, JSON_FLAGS);
	if (!r)
		r = s ? exp_out_file(e->out, "index.json", s, strlen(s)) : -ENOMEM;
	json_object_put(top);
	return r;
}

int export_images(struct chunkstore *cs, const struct export_item *items, size_t n,
		  const char *target, const struct export_opts *o, struct export_result *res)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct export_result dummy;
	struct exp e = {
		.cs = cs,
		.s = chunkstore_store(cs),
		.o = o,
		.comp = o->comp,
	};
	int r;

	if (e.comp == IMAGE_COMP_AUTO)
		e.comp = o->format == EXPORT_DOCKER_ARCHIVE ? IMAGE_COMP_NONE : IMAGE_COMP_GZIP;
	if (o->format == EXPORT_DOCKER_ARCHIVE && e.comp != IMAGE_COMP_NONE) {
		log_err("docker-archive layers are uncompressed tars (no --compress)");
		return -EINVAL;
	}
	if (o->format < EXPORT_OCI_LAYOUT || o->format > EXPORT_DOCKER_ARCHIVE ||
	    e.comp < IMAGE_COMP_NONE || e.comp > IMAGE_COMP_ZSTD)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < items[i].nnames; j++) {
			const char *nm = items[i].names[j];

			if (!*nm || strlen(nm) > CATALOG_NAME_MAX || strpbrk(nm, " \t\n\"")) {
				log_err("'%s' is not a valid image name", nm);
				return -EINVAL;
			}
		}
	}
	e.index = json_object_new_array();
	r = e.index ? image_sha256_create(&e.diff_h) : -ENOMEM;
	if (r)
		goto out;
	r = exp_out_create(o->format, target, o->force, &e.out);
	if (r)
		goto out;
	if (o->format == EXPORT_OCI_ARCHIVE) {
		r = exp_out_dir(e.out, "blobs/");
		if (!r)
			r = exp_out_dir(e.out, "blobs/sha256/");
	}
	if (!r && o->format != EXPORT_DOCKER_ARCHIVE)
		r = exp_out_file(e.out, "oci-layout", layout, sizeof(layout) - 1);
	if (r)
		goto out;
	e.t0 = strata_now_ns();
	e.p.nimages = n;
	for (size_t i = 0; i < n; i++) {
		e.p.image = i;
		r = export_one(&e, &items[i], res ? &res[i] : &dummy);
		if (r)
			goto out;
	}
	r = write_index(&e);
	if (!r)
		r = exp_out_commit(e.out);
out:
	exp_out_destroy(e.out);
	exp_comp_destroy(e.z);
	image_sha256_destroy(e.diff_h);
	json_object_put(e.index);
	free(e.done);
	return r;
}
