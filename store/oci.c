// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: OCI image layout (index.json, nested indexes, platform
 * selection), manifest and config validation, and the public image and
 * source API.  Archives are extracted by archive.c into a layout-like
 * directory and then read through the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/image-internal.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define REF_ANNOTATION "org.opencontainers.image.ref.name"
/* Nested indexes deeper than this are refused (a loop cannot be built with
 * content addressing, but a long chain could still be abused). */
#define INDEX_DEPTH_MAX 8

static bool is_manifest_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

enum image_compression oci_layer_compression(const char *mt, bool *known)
{
	static const char *const oci[] = {
	    "application/vnd.oci.image.layer.v1.tar",
	    "application/vnd.oci.image.layer.nondistributable.v1.tar",
	};

	*known = true;
	for (size_t i = 0; i < ARRAY_SIZE(oci); i++) {
		size_t n = strlen(oci[i]);

		if (strncmp(mt, oci[i], n))
			continue;
		if (!mt[n])
			return IMAGE_COMP_NONE;
		if (!strcmp(mt + n, "+gzip"))
			return IMAGE_COMP_GZIP;
		if (!strcmp(mt + n, "+zstd"))
			return IMAGE_COMP_ZSTD;
	}
	/* Docker's types say gzip but tools also label plain tars with them:
	 * go by magic. */
	if (!strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip") ||
	    !strcmp(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") ||
	    !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return IMAGE_COMP_AUTO;
	*known = false;
	return IMAGE_COMP_AUTO;
}

static char *blob_rel(const struct image_digest *d, char *buf, size_t len)
{
	char hex[2 * IMAGE_DIGEST_LEN + 1];

	strata_hex(d->sha256, IMAGE_DIGEST_LEN, hex);
	snprintf(buf, len, "blobs/sha256/%s", hex);
	return buf;
}

int oci_read_file(const char *root, const char *rel, size_t max, const struct image_descriptor *d,
		  const char *what, void **bufp, size_t *lenp)
{
	char path[4096], want[IMAGE_DIGEST_STRLEN], got[IMAGE_DIGEST_STRLEN];
	struct image_digest dg;
	struct stat st;
	uint8_t *buf;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_err("%s: cannot open %s: %s", what, rel, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s: %s is not a regular file", what, rel);
		close(fd);
		return -EBADMSG;
	}
	if (d && d->size >= 0 && st.st_size != d->size) {
		log_err("%s: size mismatch for %s: descriptor says %lld bytes, blob has %lld", what,
			image_digest_format(&d->digest, want), (long long)d->size,
			(long long)st.st_size);
		close(fd);
		return -EBADMSG;
	}
	if ((uint64_t)st.st_size > max) {
		log_err("%s: %s is too large (%lld bytes, limit %zu)", what, rel,
			(long long)st.st_size, max);
		close(fd);
		return -EBADMSG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	r = strata_pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (r) {
		log_err("%s: cannot read %s: %s", what, rel, strerror(-r));
		free(buf);
		return r;
	}
	buf[st.st_size] = 0;
	if (d && d->digest_known) {
		image_sha256_buf(buf, (size_t)st.st_size, &dg);
		if (!image_digest_equal(&dg, &d->digest)) {
			log_err("%s: digest mismatch for blob %s: content hashes to %s", what,
				image_digest_format(&d->digest, want),
				image_digest_format(&dg, got));
			free(buf);
			return -EBADMSG;
		}
	}
	*bufp = buf;
	*lenp = (size_t)st.st_size;
	return 0;
}

static int read_blob_json(struct image_source *src, const struct image_descriptor *d, size_t max,
			  const char *what, void **buf, size_t *len, struct json_object **json)
{
	char rel[128];
	int r;

	r = oci_read_file(src->root, blob_rel(&d->digest, rel, sizeof(rel)), max, d, what, buf,
			  len);
	if (r)
		return r;
	r = sj_parse(*buf, *len, what, json);
	if (r) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

int oci_source_add(struct image_source *src, struct src_item *it)
{
	if (src->n == src->cap) {
		size_t cap = src->cap ? src->cap * 2 : 4;
		struct src_item *n = realloc(src->items, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		src->items = n;
		src->cap = cap;
	}
	src->items[src->n++] = *it;
	return 0;
}

/* 1 when the descriptor's platform (absent: matches) is the wanted one. */
static int platform_match(struct image_source *src, struct json_object *desc, const char *what)
{
	struct json_object *p;
	const char *os = NULL, *arch = NULL, *variant = NULL;
	int r = sj_obj(desc, "platform", false, what, &p);

	if (r == -ENOENT)
		return 1;
	if (r)
		return r;
	if ((r = sj_str(p, "os", true, what, &os)) ||
	    (r = sj_str(p, "architecture", true, what, &arch)))
		return r == -ENOENT ? -EBADMSG : r;
	r = sj_str(p, "variant", false, what, &variant);
	if (r && r != -ENOENT)
		return r;
	if (strcmp(os, src->os ? src->os : "linux") ||
	    strcmp(arch, src->arch ? src->arch : "amd64"))
		return 0;
	if (src->variant && (!variant || strcmp(variant, src->variant)))
		return 0;
	return 1;
}

/*
 * The head shared by an index and a manifest: schemaVersion 2 and, when
 * present, a mediaType of the expected kind.  Returns 0 with *mt set,
 * -ENOENT when there is no mediaType, or the error to report.
 */
static int check_head(struct json_object *o, const char *what, bool (*type_ok)(const char *),
		      const char *kind, const char **mt)
{
	int64_t sv;
	int r;

	if ((r = sj_int64(o, "schemaVersion", true, what, &sv)))
		return r == -ENOENT ? -EBADMSG : r;
	if (sv != 2) {
		log_err("%s: schemaVersion %lld is not supported (want 2)", what, (long long)sv);
		return -ENOTSUP;
	}
	r = sj_str(o, "mediaType", false, what, mt);
	if (!r && !type_ok(*mt)) {
		log_err("%s: mediaType \"%s\" is not %s", what, *mt, kind);
		return -EBADMSG;
	}
	return r;
}

static int validate_index(struct json_object *o, const char *what, struct json_object **mans)
{
	const char *mt;
	int r;

	r = check_head(o, what, is_index_type, "an image index", &mt);
	if (r && r != -ENOENT)
		return r;
	r = sj_arr(o, "manifests", true, what, mans);
	return r == -ENOENT ? -EBADMSG : r;
}

static int walk_index(struct image_source *src, struct json_object *idx, const char *what,
		      const char *outer_ref, int depth, bool first_only, bool *found)
{
	struct json_object *mans;
	size_t n;
	int r = validate_index(idx, what, &mans);

	if (r)
		return r;
	n = json_object_array_length(mans);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(mans, i), *ann;
		struct image_descriptor d = {0};
		const char *ref = outer_ref;
		char ewhat[160];
		int m;

		snprintf(ewhat, sizeof(ewhat), "%s manifests[%zu]", what, i);
		if (!e)
			return -EBADMSG;
		if ((r = sj_descriptor(e, ewhat, &d)))
			return r;
		if (!outer_ref) {
			r = sj_obj(e, "annotations", false, ewhat, &ann);
			if (!r)
				r = sj_str(ann, REF_ANNOTATION, false, ewhat, &ref);
			if (r && r != -ENOENT)
				return r;
			if (r)
				ref = NULL;
		}
		m = platform_match(src, e, ewhat);
		if (m < 0)
			return m;
		if (!m)
			continue;
		if (is_index_type(d.media_type)) {
			struct json_object *sub;
			void *buf;
			size_t len;

			if (depth >= INDEX_DEPTH_MAX) {
				log_err("%s: image indexes nested deeper than %d", ewhat,
					INDEX_DEPTH_MAX);
				return -EBADMSG;
			}
			r = read_blob_json(src, &d, IMAGE_JSON_MAX, ewhat, &buf, &len, &sub);
			if (r)
				return r;
			bool sub_found = false;

			r = walk_index(src, sub, ewhat, ref, depth + 1, true, &sub_found);
			json_object_put(sub);
			free(buf);
			if (r)
				return r;
			if (!sub_found)
				log_debug("%s: no manifest for the wanted platform", ewhat);
			*found |= sub_found;
		} else if (is_manifest_type(d.media_type)) {
			struct src_item it = {0};

			it.desc = d;
			it.media_type = strdup(d.media_type);
			it.ref = ref ? strdup(ref) : NULL;
			if (!it.media_type || (ref && !it.ref)) {
				free(it.media_type);
				free(it.ref);
				return -ENOMEM;
			}
			it.desc.media_type = it.media_type;
			if ((r = oci_source_add(src, &it))) {
				free(it.media_type);
				free(it.ref);
				return r;
			}
			*found = true;
		} else {
			/* Artifacts (signatures, SBOMs) share indexes with images. */
			log_debug("%s: skipping non-image mediaType %s", ewhat, d.media_type);
			continue;
		}
		if (first_only && *found)
			return 0;
	}
	return 0;
}

int oci_layout_open(struct image_source *src)
{
	struct json_object *lay = NULL, *idx = NULL;
	const char *ver;
	void *buf = NULL;
	size_t len;
	bool found = false;
	int r;

	r = oci_read_file(src->root, "oci-layout", 4096, NULL, src->path, &buf, &len);
	if (r)
		return r == -ENOENT ? -ENOENT : r;
	r = sj_parse(buf, len, "oci-layout", &lay);
	free(buf);
	if (r)
		return r;
	r = sj_str(lay, "imageLayoutVersion", true, "oci-layout", &ver);
	if (!r && strncmp(ver, "1.", 2)) {
		log_err("%s: unsupported imageLayoutVersion \"%s\"", src->path, ver);
		r = -ENOTSUP;
	}
	json_object_put(lay);
	if (r)
		return r == -ENOENT ? -EBADMSG : r;

	r = oci_read_file(src->root, "index.json", IMAGE_JSON_MAX, NULL, src->path, &buf, &len);
	if (r)
		return r;
	r = sj_parse(buf, len, "index.json", &idx);
	if (!r)
		r = walk_index(src, idx, "index.json", NULL, 0, false, &found);
	json_object_put(idx);
	free(buf);
	if (r)
		return r;
	if (!src->n) {
		log_err("%s: no image for platform %s/%s in index.json", src->path,
			src->os ? src->os : "linux", src->arch ? src->arch : "amd64");
		return -ENOENT;
	}
	return 0;
}

static int validate_manifest(struct image *img, const char *what)
{
	struct json_object *o = img->mjson, *cfg, *layers;
	const char *mt;
	int r;

	r = check_head(o, what, is_manifest_type, "an image manifest", &mt);
	if (r && r != -ENOENT)
		return r;
	if (!r && img->mdesc.media_type && strcmp(mt, img->mdesc.media_type)) {
		log_err("%s: mediaType \"%s\" differs from its descriptor's \"%s\"", what, mt,
			img->mdesc.media_type);
		return -EBADMSG;
	}
	if ((r = sj_obj(o, "config", true, what, &cfg)) ||
	    (r = sj_arr(o, "layers", true, what, &layers)))
		return r == -ENOENT ? -EBADMSG : r;
	char cwhat[160];

	snprintf(cwhat, sizeof(cwhat), "%s config", what);
	if ((r = sj_descriptor(cfg, cwhat, &img->cdesc)))
		return r;
	if (strcmp(img->cdesc.media_type, MT_OCI_CONFIG) &&
	    strcmp(img->cdesc.media_type, MT_DOCKER_CONFIG)) {
		log_err("%s: config mediaType \"%s\" is not an image config (an artifact?)", what,
			img->cdesc.media_type);
		return -ENOTSUP;
	}
	img->nlayers = json_object_array_length(layers);
	img->layers = calloc(img->nlayers + 1, sizeof(*img->layers));
	if (!img->layers)
		return -ENOMEM;
	for (size_t i = 0; i < img->nlayers; i++) {
		struct json_object *l = json_object_array_get_idx(layers, i);
		char lwhat[160];
		bool known;

		snprintf(lwhat, sizeof(lwhat), "%s layers[%zu]", what, i);
		if (!l)
			return -EBADMSG;
		if ((r = sj_descriptor(l, lwhat, &img->layers[i])))
			return r;
		oci_layer_compression(img->layers[i].media_type, &known);
		if (!known) {
			log_err("%s: unsupported layer mediaType \"%s\"", lwhat,
				img->layers[i].media_type);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int parse_str_map(struct json_object *o, const char *key, const char *what,
			 const char ***keys, const char ***vals, size_t *n, bool values)
{
	struct json_object *m;
	size_t i = 0, cnt;
	int r = sj_obj(o, key, false, what, &m);

	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	cnt = (size_t)json_object_object_length(m);
	*keys = calloc(cnt + 1, sizeof(char *));
	if (values)
		*vals = calloc(cnt + 1, sizeof(char *));
	if (!*keys || (values && !*vals))
		return -ENOMEM;
	json_object_object_foreach(m, k, v)
	{
		if (values) {
			if (!v || !json_object_is_type(v, json_type_string)) {
				log_err("%s: %s[\"%s\"] is not a string", what, key, k);
				return -EBADMSG;
			}
			(*vals)[i] = json_object_get_string(v);
		}
		(*keys)[i++] = k;
	}
	*n = i;
	return 0;
}

int oci_parse_config(struct image *img, const char *what)
{
	struct image_config_info *ci = &img->info;
	struct json_object *o = img->cjson, *rootfs, *ids, *cfg, *hist;
	const char *type;
	struct image_digest *d;
	size_t n;
	int r;

	if ((r = sj_str(o, "architecture", true, what, &ci->architecture)) ||
	    (r = sj_str(o, "os", true, what, &ci->os)))
		return r == -ENOENT ? -EBADMSG : r;
	if ((r = sj_str(o, "variant", false, what, &ci->variant)) && r != -ENOENT)
		return r;
	if ((r = sj_str(o, "created", false, what, &ci->created)) && r != -ENOENT)
		return r;
	if ((r = sj_obj(o, "rootfs", true, what, &rootfs)) ||
	    (r = sj_str(rootfs, "type", true, what, &type)) ||
	    (r = sj_arr(rootfs, "diff_ids", true, what, &ids)))
		return r == -ENOENT ? -EBADMSG : r;
	if (strcmp(type, "layers")) {
		log_err("%s: rootfs.type \"%s\" is not \"layers\"", what, type);
		return -EBADMSG;
	}
	n = json_object_array_length(ids);
	d = calloc(n + 1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	ci->diff_ids = d;
	ci->ndiff_ids = n;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ids, i);

		if (!e || !json_object_is_type(e, json_type_string) ||
		    image_digest_parse(json_object_get_string(e), &d[i])) {
			log_err("%s: rootfs.diff_ids[%zu] is not a sha256 digest", what, i);
			return -EBADMSG;
		}
	}
	r = sj_obj(o, "config", false, what, &cfg);
	if (r && r != -ENOENT)
		return r;
	if (!r) {
		if ((r = sj_str(cfg, "User", false, what, &ci->user)) && r != -ENOENT)
			return r;
		if ((r = sj_str(cfg, "WorkingDir", false, what, &ci->working_dir)) && r != -ENOENT)
			return r;
		if ((r = sj_strv(cfg, "Cmd", what, (const char ***)&ci->cmd, &ci->ncmd,
				 &ci->has_cmd)) ||
		    (r = sj_strv(cfg, "Entrypoint", what, (const char ***)&ci->entrypoint,
				 &ci->nentrypoint, &ci->has_entrypoint)) ||
		    (r = sj_strv(cfg, "Env", what, (const char ***)&ci->env, &ci->nenv, NULL)))
			return r;
		if ((r = parse_str_map(cfg, "ExposedPorts", what,
				       (const char ***)&ci->exposed_ports, NULL,
				       &ci->nexposed_ports, false)) ||
		    (r = parse_str_map(cfg, "Labels", what, (const char ***)&ci->label_keys,
				       (const char ***)&ci->label_values, &ci->nlabels, true)))
			return r;
	}
	r = sj_arr(o, "history", false, what, &hist);
	if (r && r != -ENOENT)
		return r;
	if (!r) {
		ci->nhistory = json_object_array_length(hist);
		for (size_t i = 0; i < ci->nhistory; i++) {
			struct json_object *h = json_object_array_get_idx(hist, i), *el;

			if (!h || !json_object_is_type(h, json_type_object)) {
				log_err("%s: history[%zu] is not an object", what, i);
				return -EBADMSG;
			}
			if (json_object_object_get_ex(h, "empty_layer", &el) && el) {
				if (!json_object_is_type(el, json_type_boolean)) {
					log_err("%s: history[%zu].empty_layer is not a boolean",
						what, i);
					return -EBADMSG;
				}
				ci->nhistory_empty += json_object_get_boolean(el);
			}
		}
		if (ci->nhistory - ci->nhistory_empty != n)
			log_warn("%s: history has %zu non-empty entries for %zu layers", what,
				 ci->nhistory - ci->nhistory_empty, n);
	}
	return 0;
}

int oci_load_image(struct image_source *src, size_t i, struct image *img)
{
	struct src_item *it = &src->items[i];
	char what[IMAGE_DIGEST_STRLEN + 32], dg[IMAGE_DIGEST_STRLEN];
	int r;

	img->mdesc = it->desc;
	snprintf(what, sizeof(what), "manifest %s", image_digest_format(&it->desc.digest, dg));
	r = read_blob_json(src, &it->desc, IMAGE_JSON_MAX, what, &img->manifest_raw,
			   &img->manifest_len, &img->mjson);
	if (r)
		return r;
	if ((r = validate_manifest(img, what)))
		return r;
	snprintf(what, sizeof(what), "config %s", image_digest_format(&img->cdesc.digest, dg));
	r = read_blob_json(src, &img->cdesc, IMAGE_CONFIG_MAX, what, &img->config_raw,
			   &img->config_len, &img->cjson);
	if (r)
		return r;
	if ((r = oci_parse_config(img, what)))
		return r;
	if (img->info.ndiff_ids != img->nlayers) {
		log_err("%s: %zu rootfs.diff_ids for %zu manifest layers", what,
			img->info.ndiff_ids, img->nlayers);
		return -EBADMSG;
	}
	return 0;
}

/* ---- public API ---- */

int image_source_open(const char *path, const struct image_source_opts *opts,
		      struct image_source **out)
{
	struct image_source *src;
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(-r));
		return r;
	}
	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	src->kind = opts ? opts->kind : IMAGE_SRC_AUTO;
	src->path = strdup(path);
	if (opts) {
		src->os = opts->os ? strdup(opts->os) : NULL;
		src->arch = opts->arch ? strdup(opts->arch) : NULL;
		src->variant = opts->variant ? strdup(opts->variant) : NULL;
	}
	if (!src->path) {
		r = -ENOMEM;
		goto err;
	}
	if (S_ISDIR(st.st_mode)) {
		if (src->kind != IMAGE_SRC_AUTO && src->kind != IMAGE_SRC_OCI_LAYOUT) {
			log_err("%s: is a directory, not an archive", path);
			r = -EISDIR;
			goto err;
		}
		src->kind = IMAGE_SRC_OCI_LAYOUT;
		src->root = strdup(path);
		r = src->root ? oci_layout_open(src) : -ENOMEM;
	} else if (S_ISREG(st.st_mode)) {
		if (src->kind == IMAGE_SRC_OCI_LAYOUT) {
			log_err("%s: is not a directory", path);
			r = -ENOTDIR;
			goto err;
		}
		/* extract() creates its directory below src->root when set. */
		if (opts && opts->tmpdir && !(src->root = strdup(opts->tmpdir))) {
			r = -ENOMEM;
			goto err;
		}
		r = archive_source_open(src);
		if (!r && src->kind == IMAGE_SRC_OCI_ARCHIVE)
			r = oci_layout_open(src);
	} else {
		log_err("%s: neither a directory nor a regular file", path);
		r = -EINVAL;
	}
	if (r)
		goto err;
	*out = src;
	return 0;
err:
	image_source_destroy(src);
	return r;
}

void image_source_destroy(struct image_source *src)
{
	if (!src)
		return;
	archive_source_cleanup(src);
	for (size_t i = 0; i < src->n; i++) {
		struct src_item *it = &src->items[i];

		free(it->ref);
		free(it->media_type);
		free(it->config_path);
		for (size_t j = 0; j < it->nlayers; j++)
			free(it->layer_paths[j]);
		free(it->layer_paths);
		for (size_t j = 0; j < it->ntags; j++)
			free(it->tags[j]);
		free(it->tags);
	}
	free(src->items);
	free(src->path);
	free(src->root);
	free(src->os);
	free(src->arch);
	free(src->variant);
	free(src);
}

enum image_source_kind image_source_kind(const struct image_source *src)
{
	return src->kind;
}

const char *image_source_kind_name(enum image_source_kind kind)
{
	switch (kind) {
	case IMAGE_SRC_OCI_LAYOUT:
		return "oci-layout";
	case IMAGE_SRC_OCI_ARCHIVE:
		return "oci-archive";
	case IMAGE_SRC_DOCKER_ARCHIVE:
		return "docker-archive";
	case IMAGE_SRC_ROOTFS_TAR:
		return "rootfs-tar";
	default:
		return "auto";
	}
}

size_t image_source_count(const struct image_source *src)
{
	return src->n;
}

const char *image_source_ref(const struct image_source *src, size_t i)
{
	return i < src->n ? src->items[i].ref : NULL;
}

int image_source_load(struct image_source *src, size_t i, struct image **out)
{
	struct image *img;
	int r;

	if (i >= src->n)
		return -ENOENT;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->src = src;
	img->ref = src->items[i].ref;
	if (src->kind == IMAGE_SRC_DOCKER_ARCHIVE || src->kind == IMAGE_SRC_ROOTFS_TAR)
		r = docker_load_image(src, i, img);
	else
		r = oci_load_image(src, i, img);
	if (r) {
		image_destroy(img);
		return r;
	}
	*out = img;
	return 0;
}

int image_source_find(struct image_source *src, const char *ref, struct image **out)
{
	if (!ref) {
		if (src->n != 1) {
			log_err("%s: holds %zu images; name one", src->path, src->n);
			return -EINVAL;
		}
		return image_source_load(src, 0, out);
	}
	for (size_t i = 0; i < src->n; i++) {
		struct src_item *it = &src->items[i];

		if (it->ref && !strcmp(it->ref, ref))
			return image_source_load(src, i, out);
		for (size_t j = 0; j < it->ntags; j++)
			if (!strcmp(it->tags[j], ref))
				return image_source_load(src, i, out);
	}
	log_err("%s: no image named \"%s\"", src->path, ref);
	return -ENOENT;
}

void image_destroy(struct image *img)
{
	struct image_config_info *ci;

	if (!img)
		return;
	ci = &img->info;
	free((void *)ci->cmd);
	free((void *)ci->entrypoint);
	free((void *)ci->env);
	free((void *)ci->exposed_ports);
	free((void *)ci->label_keys);
	free((void *)ci->label_values);
	free((void *)ci->diff_ids);
	json_object_put(img->mjson);
	json_object_put(img->cjson);
	free(img->manifest_raw);
	free(img->config_raw);
	free(img->layers);
	if (img->layer_paths) {
		for (size_t i = 0; i < img->nlayers; i++)
			free(img->layer_paths[i]);
		free(img->layer_paths);
	}
	free(img);
}

const char *image_ref(const struct image *img)
{
	return img->ref;
}

const void *image_manifest_raw(const struct image *img, size_t *len)
{
	*len = img->manifest_len;
	return img->manifest_raw;
}

const struct image_descriptor *image_manifest_desc(const struct image *img)
{
	return img->manifest_raw ? &img->mdesc : NULL;
}

const void *image_config_raw(const struct image *img, size_t *len)
{
	*len = img->config_len;
	return img->config_raw;
}

const struct image_descriptor *image_config_desc(const struct image *img)
{
	return img->config_raw ? &img->cdesc : NULL;
}

const struct image_config_info *image_config(const struct image *img)
{
	return &img->info;
}

size_t image_layer_count(const struct image *img)
{
	return img->nlayers;
}

const struct image_descriptor *image_layer_desc(const struct image *img, size_t i)
{
	return i < img->nlayers ? &img->layers[i] : NULL;
}

int image_layer_walk(struct image *img, size_t i, bool no_skeleton, struct image_tarwalk **out)
{
	struct image_tarwalk_opts o = {0};
	const struct image_descriptor *d;
	char path[4096], rel[128], name[256];
	int fd, r;

	if (i >= img->nlayers)
		return -ENOENT;
	d = &img->layers[i];
	if (img->layer_paths)
		snprintf(rel, sizeof(rel), "%s", img->layer_paths[i]);
	else
		blob_rel(&d->digest, rel, sizeof(rel));
	if (img->src->kind == IMAGE_SRC_ROOTFS_TAR)
		snprintf(path, sizeof(path), "%s", img->src->path);
	else
		snprintf(path, sizeof(path), "%s/%s", img->src->root, rel);
	if (d->digest_known)
		image_digest_format(&d->digest, name);
	else
		snprintf(name, sizeof(name), "layer %zu (%s)", i, rel);
	/* Members of an extracted archive are never symlinks; the user's own
	 * rootfs tarball path may be one. */
	fd = open(path,
		  O_RDONLY | O_CLOEXEC | (img->src->kind == IMAGE_SRC_ROOTFS_TAR ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		r = -errno;
		log_err("layer %s: cannot open %s: %s", name, rel, strerror(-r));
		return r;
	}
	bool known;

	o.comp = d->media_type ? oci_layer_compression(d->media_type, &known) : IMAGE_COMP_AUTO;
	o.name = name;
	o.expect_blob_digest = d->digest_known ? &d->digest : NULL;
	o.expect_blob_size = d->size;
	o.expect_diff_id = i < img->info.ndiff_ids ? &img->info.diff_ids[i] : NULL;
	o.no_skeleton = no_skeleton;
	r = image_tarwalk_create(&o, image_fd_read, (void *)(intptr_t)fd, out);
	if (r) {
		close(fd);
		return r;
	}
	tarwalk_own_fd(*out, fd);
	return 0;
}

int image_json_validate(const char *kind, const void *buf, size_t len)
{
	struct image img = {0};
	struct image_source src = {0};
	struct json_object *mans;
	int r;

	if (!strcmp(kind, "index")) {
		r = sj_parse(buf, len, "index", &img.mjson);
		if (!r) {
			r = validate_index(img.mjson, "index", &mans);
			for (size_t i = 0; !r && i < json_object_array_length(mans); i++) {
				struct image_descriptor d;
				struct json_object *e = json_object_array_get_idx(mans, i);

				r = e ? sj_descriptor(e, "index", &d) : -EBADMSG;
				if (!r) {
					r = platform_match(&src, e, "index");
					r = r < 0 ? r : 0;
				}
			}
		}
	} else if (!strcmp(kind, "manifest")) {
		r = sj_parse(buf, len, "manifest", &img.mjson);
		if (!r)
			r = validate_manifest(&img, "manifest");
	} else if (!strcmp(kind, "config")) {
		r = sj_parse(buf, len, "config", &img.cjson);
		if (!r)
			r = oci_parse_config(&img, "config");
	} else {
		return -EINVAL;
	}
	json_object_put(img.mjson);
	img.mjson = NULL;
	{
		struct image *p = calloc(1, sizeof(*p));

		if (p) {
			*p = img;
			image_destroy(p);
		} else {
			json_object_put(img.cjson);
		}
	}
	return r;
}
