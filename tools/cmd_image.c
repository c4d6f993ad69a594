// SPDX-License-Identifier: GPL-2.0-or-later
/* strata images|inspect|tag|rmi|df|verify: the image catalog. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"
#include "tools/container.h"

/* ---- shared ---- */

int img_ctx_open(struct img_ctx *c, const char *what, bool write,
		 const struct dedup_compress_policy *pol)
{
	struct store_open_opts o = { .read_only = !write, .direct = -1 };
	int r;

	memset(c, 0, sizeof(*c));
	c->lockfd = -1;
	c->path = cmd_store_path(NULL);
	o.path = c->path;
	r = catalog_lock(c->path, write, false, &c->lockfd);
	if (r == -EWOULDBLOCK) {
		fprintf(stderr, "strata: %s: waiting for another strata process using %s\n", what,
			c->path);
		r = catalog_lock(c->path, write, true, &c->lockfd);
	}
	if (r) {
		if (r == -ENOENT)
			cmd_err("%s: %s: no such store (create one with 'strata store init')", what,
				c->path);
		else
			cmd_err("%s: %s: cannot lock: %s", what, c->path, strerror(-r));
		return 1;
	}
	r = store_open(&o, &c->s);
	if (r) {
		cmd_err("%s: %s: cannot open the store: %s", what, c->path, strerror(-r));
		goto err;
	}
	r = chunkstore_create(c->s, pol, &c->cs);
	if (r) {
		cmd_err("%s: %s", what, strerror(-r));
		goto err;
	}
	r = catalog_open(c->s, &c->cat);
	if (r) {
		cmd_err("%s: %s: cannot read the image catalog: %s", what, c->path, strerror(-r));
		goto err;
	}
	return 0;
err:
	chunkstore_destroy(c->cs);
	store_close(c->s);
	catalog_unlock(c->lockfd);
	memset(c, 0, sizeof(*c));
	return 1;
}

int img_ctx_close(struct img_ctx *c, const char *what)
{
	int r;

	catalog_close(c->cat);
	chunkstore_destroy(c->cs);
	r = store_close(c->s);
	catalog_unlock(c->lockfd);
	if (r) {
		cmd_err("%s: %s: closing the store: %s", what, c->path, strerror(-r));
		return 1;
	}
	return 0;
}

void img_resolve_err(const char *what, const char *ref, int r)
{
	if (r == -ENOTUNIQ)
		cmd_err("%s: '%s' matches several images; give more of the ID", what, ref);
	else if (r == -EINVAL)
		cmd_err("%s: '%s' is neither an image ID nor a NAME[:TAG]", what, ref);
	else
		cmd_err("%s: %s: no such image", what, ref);
}

char *img_short_id(const struct image_digest *d, char *buf)
{
	char full[IMAGE_DIGEST_STRLEN];

	image_digest_format(d, full);
	memcpy(buf, full + 7, 12);
	buf[12] = 0;
	return buf;
}

static uint64_t image_logical(const struct catalog_image *im)
{
	uint64_t n = 0;

	for (size_t i = 0; i < im->nlayers; i++)
		n += im->layers[i].tar_size;
	return n;
}

/* Parse options that take only --format json / --json / -q. */
static int parse_simple(int argc, char **argv, bool *json, bool *quiet, bool *all)
{
	static const struct option lopts[] = {
		{ "format", required_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },	    { "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:qa", lopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "json") || !json) {
				cmd_err("%s: unknown --format '%s' (json)", argv[0], optarg);
				return 2;
			}
			*json = true;
			break;
		case 'j':
			if (!json)
				return 2;
			*json = true;
			break;
		case 'q':
			if (!quiet)
				return 2;
			*quiet = true;
			break;
		case 'a':
			if (!all)
				return 2;
			*all = true;
			break;
		default:
			return 2;
		}
	}
	return 0;
}

/* ---- images ---- */

int cmd_images(int argc, char **argv)
{
	struct img_ctx ctx;
	bool json = false, quiet = false;
	json_object *arr = NULL;

	if (parse_simple(argc, argv, &json, &quiet, NULL))
		return 2;
	if (optind != argc) {
		cmd_err("images: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (img_ctx_open(&ctx, "images", false, NULL))
		return 1;
	if (json)
		arr = json_object_new_array();
	else if (!quiet)
		printf("%-40s %-12s %6s %10s  %s\n", "NAME:TAG", "IMAGE ID", "LAYERS", "SIZE",
		       "IMPORTED");
	for (size_t i = 0; i < catalog_count(ctx.cat); i++) {
		const struct catalog_image *im = catalog_image_at(ctx.cat, i);
		char id[16], sz[32], when[32], dg[IMAGE_DIGEST_STRLEN];
		time_t t = (time_t)im->imported;
		struct tm tm;

		img_short_id(&im->id, id);
		if (json) {
			json_object *o = json_object_new_object(), *tags = json_object_new_array();

			for (size_t k = 0; k < im->ntags; k++)
				json_object_array_add(tags, json_object_new_string(im->tags[k]));
			json_object_object_add(o, "id", json_object_new_string(
								image_digest_format(&im->id, dg)));
			json_object_object_add(o, "tags", tags);
			json_object_object_add(o, "layers", json_object_new_int64((int64_t)im->nlayers));
			json_object_object_add(o, "size",
					       json_object_new_int64((int64_t)image_logical(im)));
			json_object_object_add(o, "imported", json_object_new_int64(im->imported));
			json_object_array_add(arr, o);
			continue;
		}
		if (quiet) {
			printf("%s\n", image_digest_format(&im->id, dg));
			continue;
		}
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		strata_fmt_size(image_logical(im), sz, sizeof(sz));
		if (!im->ntags)
			printf("%-40s %-12s %6zu %10s  %s\n", "<none>", id, im->nlayers, sz, when);
		for (size_t k = 0; k < im->ntags; k++)
			printf("%-40s %-12s %6zu %10s  %s\n", im->tags[k], id, im->nlayers, sz, when);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
									   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	return img_ctx_close(&ctx, "images");
}

/* ---- inspect ---- */

static json_object *blob_json(struct store *s, const struct image_digest *d)
{
	json_tokener *tok;
	json_object *o;
	void *buf;
	size_t len;

	if (catalog_get_blob(s, d, &buf, &len))
		return NULL;
	tok = json_tokener_new();
	o = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
	json_tokener_free(tok);
	free(buf);
	return o;
}

static const char *jget(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	if (json_object_is_type(v, json_type_null))
		return NULL;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

int cmd_inspect(int argc, char **argv)
{
	const struct catalog_image *im;
	struct img_ctx ctx;
	bool json = false;
	json_object *man = NULL, *cfg = NULL;
	char dg[IMAGE_DIGEST_STRLEN], a[32], b[32];
	int r, ret = 0;

	if (parse_simple(argc, argv, &json, NULL, NULL))
		return 2;
	if (optind + 1 != argc) {
		cmd_err("inspect: usage: strata inspect IMAGE [--format json]");
		return 2;
	}
	if (img_ctx_open(&ctx, "inspect", false, NULL))
		return 1;
	r = catalog_resolve(ctx.cat, argv[optind], &im);
	if (r) {
		img_resolve_err("inspect", argv[optind], r);
		img_ctx_close(&ctx, "inspect");
		return 1;
	}
	man = blob_json(ctx.s, &im->id);
	cfg = blob_json(ctx.s, &im->config);
	if (!man || !cfg) {
		cmd_err("inspect: %s: manifest or config missing or damaged in the store",
			argv[optind]);
		ret = 1;
		goto out;
	}
	if (json) {
		json_object *o = json_object_new_object(), *tags = json_object_new_array();
		json_object *ls = json_object_new_array();

		json_object_object_add(o, "id", json_object_new_string(
							image_digest_format(&im->id, dg)));
		for (size_t k = 0; k < im->ntags; k++)
			json_object_array_add(tags, json_object_new_string(im->tags[k]));
		json_object_object_add(o, "tags", tags);
		json_object_object_add(o, "source", json_object_new_string(im->source));
		json_object_object_add(o, "imported", json_object_new_int64(im->imported));
		json_object_object_add(o, "synthetic_manifest",
				       json_object_new_boolean(im->synthetic));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)image_logical(im)));
		for (size_t i = 0; i < im->nlayers; i++) {
			json_object *l = json_object_new_object();

			json_object_object_add(l, "diff_id", json_object_new_string(image_digest_format(
								     &im->layers[i].diff_id, dg)));
			json_object_object_add(l, "digest", json_object_new_string(image_digest_format(
								    &im->layers[i].digest, dg)));
			json_object_object_add(l, "media_type",
					       json_object_new_string(im->layers[i].media_type));
			json_object_object_add(l, "size", json_object_new_int64(im->layers[i].size));
			json_object_object_add(l, "tar_size",
					       json_object_new_int64((int64_t)im->layers[i].tar_size));
			json_object_array_add(ls, l);
		}
		json_object_object_add(o, "layers", ls);
		json_object_object_add(o, "manifest", json_object_get(man));
		json_object_object_add(o, "config", json_object_get(cfg));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
									 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		goto out;
	}
	printf("id:           %s\n", image_digest_format(&im->id, dg));
	printf("tags:        ");
	for (size_t k = 0; k < im->ntags; k++)
		printf(" %s", im->tags[k]);
	printf("%s\n", im->ntags ? "" : " <none>");
	printf("manifest:     %s%s\n", im->manifest_media_type,
	       im->synthetic ? " (made at import: the source had none)" : "");
	printf("config:       %s\n", image_digest_format(&im->config, dg));
	printf("source:       %s\n", im->source);
	printf("platform:     %s/%s\n", jget(cfg, "os", NULL) ? jget(cfg, "os", NULL) : "?",
	       jget(cfg, "architecture", NULL) ? jget(cfg, "architecture", NULL) : "?");
	if (jget(cfg, "created", NULL))
		printf("created:      %s\n", jget(cfg, "created", NULL));
	if (jget(cfg, "config", "Entrypoint"))
		printf("entrypoint:   %s\n", jget(cfg, "config", "Entrypoint"));
	if (jget(cfg, "config", "Cmd"))
		printf("cmd:          %s\n", jget(cfg, "config", "Cmd"));
	if (jget(cfg, "config", "Env"))
		printf("env:          %s\n", jget(cfg, "config", "Env"));
	if (jget(cfg, "config", "WorkingDir"))
		printf("workdir:      %s\n", jget(cfg, "config", "WorkingDir"));
	printf("size:         %s (uncompressed layers)\n",
	       strata_fmt_size(image_logical(im), a, sizeof(a)));
	printf("layers:       %zu\n", im->nlayers);
	for (size_t i = 0; i < im->nlayers; i++) {
		const struct catalog_layer *l = &im->layers[i];

		printf("  %zu: diff_id %s\n", i, image_digest_format(&l->diff_id, dg));
		printf("     blob    %s %s, %s\n", image_digest_format(&l->digest, dg),
		       l->media_type, l->size >= 0 ? strata_fmt_size((uint64_t)l->size, a, sizeof(a))
						   : "?");
		printf("     tar     %s\n", strata_fmt_size(l->tar_size, b, sizeof(b)));
	}
out:
	if (man)
		json_object_put(man);
	if (cfg)
		json_object_put(cfg);
	if (img_ctx_close(&ctx, "inspect"))
		ret = 1;
	return ret;
}

/* ---- tag / rmi ---- */

int cmd_tag(int argc, char **argv)
{
	const struct catalog_image *im;
	struct img_ctx ctx;
	char nn[CATALOG_NAME_MAX + 1];
	int r, ret = 0;

	if (argc != 3) {
		cmd_err("tag: usage: strata tag IMAGE NAME[:TAG]");
		return 2;
	}
	if (catalog_normalize_name(argv[2], nn)) {
		cmd_err("tag: '%s' is not a valid name (NAME[:TAG])", argv[2]);
		return 2;
	}
	if (img_ctx_open(&ctx, "tag", true, NULL))
		return 1;
	r = catalog_resolve(ctx.cat, argv[1], &im);
	if (r) {
		img_resolve_err("tag", argv[1], r);
		ret = 1;
	} else {
		struct image_digest id = im->id;

		r = catalog_tag(ctx.s, ctx.cat, nn, &id);
		if (r) {
			cmd_err("tag: %s: %s", nn, strerror(-r));
			ret = 1;
		}
	}
	if (img_ctx_close(&ctx, "tag"))
		ret = 1;
	return ret;
}

/*
 * The container (name into who) whose record names image id in this store,
 * if any: its mount reads the image's layers, which gc would delete once
 * the image is gone.
 */
static bool image_in_use(const char *store_path, const struct image_digest *id, char *who,
			 size_t size)
{
	char dg[IMAGE_DIGEST_STRLEN], **names, *sp = realpath(store_path, NULL);
	bool used = false;
	size_t n;

	image_digest_format(id, dg);
	if (container_list(&names, &n)) {
		free(sp);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct container ct;

		if (!used && container_load(names[i], &ct) == 0) {
			if (!strcmp(ct.image, dg) && sp && !strcmp(ct.store, sp)) {
				snprintf(who, size, "%s", ct.name);
				used = true;
			}
			container_free(&ct);
		}
		free(names[i]);
	}
	free(names);
	free(sp);
	return used;
}

int cmd_rmi(int argc, char **argv)
{
	struct img_ctx ctx;
	bool force = false;
	int ret = 0, first = 1;

	if (argc > 1 && (!strcmp(argv[1], "--force") || !strcmp(argv[1], "-f"))) {
		force = true;
		first = 2;
	}
	if (argc <= first) {
		cmd_err("rmi: usage: strata rmi [--force] IMAGE...");
		return 2;
	}
	if (img_ctx_open(&ctx, "rmi", true, NULL))
		return 1;
	for (int i = first; i < argc; i++) {
		const struct catalog_image *im;
		char nn[CATALOG_NAME_MAX + 1], dg[IMAGE_DIGEST_STRLEN];
		struct image_digest id;
		bool by_name = false;
		int r = catalog_resolve(ctx.cat, argv[i], &im);

		if (r) {
			img_resolve_err("rmi", argv[i], r);
			ret = 1;
			continue;
		}
		id = im->id;
		/* A name of an image that has other names: only the name goes. */
		if (!catalog_normalize_name(argv[i], nn)) {
			for (size_t k = 0; k < im->ntags; k++)
				by_name |= !strcmp(im->tags[k], nn);
		}
		if (by_name && im->ntags > 1) {
			r = catalog_untag(ctx.s, ctx.cat, nn);
			if (!r)
				printf("untagged %s\n", nn);
		} else {
			char who[CONTAINER_NAME_MAX + 1];

			if (!force && image_in_use(ctx.path, &id, who, sizeof(who))) {
				cmd_err("rmi: %s: used by container %s (remove it with 'strata rm "
					"%s', or use --force: gc would then take the layers its "
					"mount reads)",
					argv[i], who, who);
				ret = 1;
				continue;
			}
			r = catalog_remove_image(ctx.s, ctx.cat, &id);
			if (!r)
				printf("deleted %s\n", image_digest_format(&id, dg));
		}
		if (r) {
			cmd_err("rmi: %s: %s", argv[i], strerror(-r));
			ret = 1;
		}
	}
	if (img_ctx_close(&ctx, "rmi"))
		ret = 1;
	return ret;
}

/* ---- df ---- */

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void df_line(const char *name, const struct catalog_usage *u, bool unique)
{
	char l[32], d[32], s[32], q[32];

	printf("%-40s %10s %10s %10s %10s %7.2fx %7.2fx\n", name,
	       strata_fmt_size(u->logical, l, sizeof(l)), strata_fmt_size(u->data, d, sizeof(d)),
	       strata_fmt_size(u->stored, s, sizeof(s)),
	       unique ? strata_fmt_size(u->unique, q, sizeof(q)) : "-", ratio(u->logical, u->data),
	       ratio(u->data, u->stored));
}

static json_object *usage_json(const struct catalog_usage *u)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "logical", json_object_new_int64((int64_t)u->logical));
	json_object_object_add(o, "data", json_object_new_int64((int64_t)u->data));
	json_object_object_add(o, "stored", json_object_new_int64((int64_t)u->stored));
	json_object_object_add(o, "unique", json_object_new_int64((int64_t)u->unique));
	json_object_object_add(o, "chunks", json_object_new_int64((int64_t)u->chunks));
	json_object_object_add(o, "dedup_ratio", json_object_new_double(ratio(u->logical, u->data)));
	json_object_object_add(o, "compression_ratio",
			       json_object_new_double(ratio(u->data, u->stored)));
	return o;
}

int cmd_df(int argc, char **argv)
{
	struct catalog_df df;
	struct img_ctx ctx;
	bool json = false;
	char a[32], b[32], c[32], d[32];
	int r, ret = 0;

	if (parse_simple(argc, argv, &json, NULL, NULL))
		return 2;
	if (optind != argc) {
		cmd_err("df: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (img_ctx_open(&ctx, "df", false, NULL))
		return 1;
	r = catalog_df(ctx.cs, ctx.cat, &df);
	if (r) {
		cmd_err("df: %s: %s", ctx.path, strerror(-r));
		img_ctx_close(&ctx, "df");
		return 1;
	}
	if (json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();
		char dg[IMAGE_DIGEST_STRLEN];

		for (size_t i = 0; i < df.nimages; i++) {
			const struct catalog_image *im = catalog_image_at(ctx.cat, i);
			json_object *u = usage_json(&df.images[i]);

			json_object_object_add(u, "id", json_object_new_string(
								image_digest_format(&im->id, dg)));
			json_object_object_add(u, "name", json_object_new_string(
								  im->ntags ? im->tags[0] : ""));
			json_object_array_add(arr, u);
		}
		json_object_object_add(o, "images", arr);
		json_object_object_add(o, "total", usage_json(&df.total));
		json_object_object_add(o, "garbage", json_object_new_int64((int64_t)df.garbage_bytes));
		json_object_object_add(o, "store_used", json_object_new_int64((int64_t)df.store.used));
		json_object_object_add(o, "store_free", json_object_new_int64((int64_t)df.store.free));
		json_object_object_add(o, "store_reclaimable",
				       json_object_new_int64((int64_t)df.store.reclaimable));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
									 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%-40s %10s %10s %10s %10s %8s %8s\n", "IMAGE", "LOGICAL", "DATA", "STORED",
		       "UNIQUE", "DEDUP", "COMPRESS");
		for (size_t i = 0; i < df.nimages; i++) {
			const struct catalog_image *im = catalog_image_at(ctx.cat, i);
			char id[16];

			df_line(im->ntags ? im->tags[0] : img_short_id(&im->id, id), &df.images[i],
				true);
		}
		df_line("total", &df.total, false);
		printf("\nLOGICAL: uncompressed layer tars; DATA: after dedup; STORED: after "
		       "compression, with layer indexes;\nUNIQUE: freed by removing only that "
		       "image; DEDUP = LOGICAL/DATA; COMPRESS = DATA/STORED.\n");
		printf("garbage (gc reclaims): %s in %" PRIu64 " records; store: %s used, %s "
		       "reclaimable, %s free\n",
		       strata_fmt_size(df.garbage_bytes, a, sizeof(a)), df.garbage_records,
		       strata_fmt_size(df.store.used, b, sizeof(b)),
		       strata_fmt_size(df.store.reclaimable, c, sizeof(c)),
		       strata_fmt_size(df.store.free, d, sizeof(d)));
	}
	catalog_df_free(&df);
	if (img_ctx_close(&ctx, "df"))
		ret = 1;
	return ret;
}

/* ---- verify ---- */

static int hash_out(void *arg, const void *buf, size_t len)
{
	image_sha256_update(arg, buf, len);
	return 0;
}

static int verify_layer(struct img_ctx *ctx, const struct image_digest *diff)
{
	char dg[IMAGE_DIGEST_STRLEN], dg2[IMAGE_DIGEST_STRLEN];
	struct image_sha256 *h;
	struct image_digest got;
	struct layer *l;
	int r;

	r = layer_open(ctx->cs, diff, &l);
	if (r)
		return r;
	r = image_sha256_create(&h);
	if (r) {
		layer_close(l);
		return r;
	}
	r = layer_rebuild_tar(l, hash_out, h);
	image_sha256_final(h, &got);
	image_sha256_destroy(h);
	layer_close(l);
	if (r)
		return r;
	if (!image_digest_equal(&got, diff)) {
		cmd_err("verify: layer %s: rebuilt tar hashes to %s",
			image_digest_format(diff, dg), image_digest_format(&got, dg2));
		return -EBADMSG;
	}
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	struct img_ctx ctx;
	bool all = false;
	int ret = 0;

	if (parse_simple(argc, argv, NULL, NULL, &all))
		return 2;
	if ((optind == argc) != all) {
		cmd_err("verify: usage: strata verify IMAGE... | --all");
		return 2;
	}
	if (img_ctx_open(&ctx, "verify", false, NULL))
		return 1;
	for (size_t i = 0; i < (all ? catalog_count(ctx.cat) : (size_t)(argc - optind)); i++) {
		const struct catalog_image *im;
		char dg[IMAGE_DIGEST_STRLEN];
		int r;

		if (all) {
			im = catalog_image_at(ctx.cat, i);
		} else if ((r = catalog_resolve(ctx.cat, argv[optind + (int)i], &im))) {
			img_resolve_err("verify", argv[optind + (int)i], r);
			ret = 1;
			continue;
		}
		for (size_t k = 0; k < im->nlayers; k++) {
			r = verify_layer(&ctx, &im->layers[k].diff_id);
			if (r) {
				cmd_err("verify: %s: layer %zu (%s): %s",
					image_digest_format(&im->id, dg), k,
					image_digest_format(&im->layers[k].diff_id, dg),
					r == -EBADMSG ? "does not match its DiffID" : strerror(-r));
				ret = 1;
			} else {
				char id[16];

				printf("ok %s layer %zu %s\n", img_short_id(&im->id, id), k,
				       image_digest_format(&im->layers[k].diff_id, dg));
			}
		}
	}
	if (img_ctx_close(&ctx, "verify"))
		ret = 1;
	return ret;
}
