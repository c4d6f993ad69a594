// SPDX-License-Identifier: GPL-2.0-or-later
/* The image catalog: image, tag and blob records (see strata/catalog.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store/catalog-internal.h"
#include "strata/catalog.h"
#include "strata/log.h"
#include "strata/util.h"

struct ctag {
	char *name;
	struct image_digest image;
	int64_t time; /* ns */
	struct store_key key;
};

struct catalog {
	struct catalog_image *imgs;
	size_t nimgs, capimgs;
	struct ctag *tags; /* every tag record, winners and losers */
	size_t ntags, captags;
};

/* ---- keys ---- */

static void derive_key(const char *tag, const void *a, size_t alen, const void *b, size_t blen,
		       struct store_key *key)
{
	struct image_sha256 *h;
	struct image_digest d;
	uint8_t buf[512];
	size_t tl = strlen(tag) + 1;

	if (tl + alen + blen <= sizeof(buf)) {
		memcpy(buf, tag, tl);
		memcpy(buf + tl, a, alen);
		if (blen)
			memcpy(buf + tl + alen, b, blen);
		image_sha256_buf(buf, tl + alen + blen, &d);
	} else if (image_sha256_create(&h) == 0) {
		image_sha256_update(h, tag, tl);
		image_sha256_update(h, a, alen);
		image_sha256_update(h, b, blen);
		image_sha256_final(h, &d);
		image_sha256_destroy(h);
	} else {
		abort(); /* names are at most 255 bytes: the stack buffer always fits */
	}
	memcpy(key->b, d.sha256, STORE_KEY_LEN);
}

static void image_key(const struct image_digest *id, struct store_key *key)
{
	derive_key("strata-image-v1", id->sha256, IMAGE_DIGEST_LEN, NULL, 0, key);
}

static void blob_key(const struct image_digest *d, struct store_key *key)
{
	derive_key("strata-blob-v1", d->sha256, IMAGE_DIGEST_LEN, NULL, 0, key);
}

static void tag_key(const char *name, const struct image_digest *id, struct store_key *key)
{
	derive_key("strata-tag-v1", name, strlen(name) + 1, id->sha256, IMAGE_DIGEST_LEN, key);
}

/* ---- lock ---- */

int catalog_lock(const char *store_path, bool exclusive, bool wait, int *fd)
{
	int f = open(store_path, O_RDONLY | O_CLOEXEC);
	int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);

	if (f < 0)
		return -errno;
	while (flock(f, op) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(f);
		return -e;
	}
	*fd = f;
	return 0;
}

void catalog_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

/* ---- names ---- */

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

int catalog_normalize_name(const char *ref, char *out)
{
	const char *slash, *colon;
	size_t len = strlen(ref);

	if (!len || len > CATALOG_NAME_MAX || !strncmp(ref, "sha256:", 7))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (ref[i] <= ' ' || ref[i] > '~' || ref[i] == '@')
			return -EINVAL;
	if (len == 64 && is_hex(ref, len))
		return -EINVAL;
	slash = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	if (colon && (!slash || colon > slash)) {
		if (colon == ref || !colon[1] || colon[-1] == '/')
			return -EINVAL;
		memcpy(out, ref, len + 1);
		return 0;
	}
	if (ref[len - 1] == '/' || len + 7 > CATALOG_NAME_MAX)
		return -EINVAL;
	snprintf(out, CATALOG_NAME_MAX + 1, "%s:latest", ref);
	return 0;
}

/* ---- records ---- */

static void free_image(struct catalog_image *im)
{
	for (size_t i = 0; i < im->nlayers; i++)
		free(im->layers[i].media_type);
	free(im->layers);
	for (size_t i = 0; i < im->ntags; i++)
		free(im->tags[i]);
	free(im->tags);
	free(im->manifest_media_type);
	free(im->source);
	memset(im, 0, sizeof(*im));
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool jint(json_object *o, const char *k, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static json_object *image_to_json(const struct catalog_image *im)
{
	char dg[IMAGE_DIGEST_STRLEN];
	json_object *o = json_object_new_object(), *ls = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "manifest",
			       json_object_new_string(image_digest_format(&im->id, dg)));
	json_object_object_add(o, "manifest_media_type",
			       json_object_new_string(im->manifest_media_type ?
							      im->manifest_media_type : ""));
	json_object_object_add(o, "config",
			       json_object_new_string(image_digest_format(&im->config, dg)));
	json_object_object_add(o, "synthetic", json_object_new_boolean(im->synthetic));
	json_object_object_add(o, "source", json_object_new_string(im->source ? im->source : ""));
	json_object_object_add(o, "imported", json_object_new_int64(im->imported));
	for (size_t i = 0; i < im->nlayers; i++) {
		const struct catalog_layer *l = &im->layers[i];
		json_object *lo = json_object_new_object();

		json_object_object_add(lo, "diff_id",
				       json_object_new_string(image_digest_format(&l->diff_id, dg)));
		json_object_object_add(lo, "digest",
				       json_object_new_string(image_digest_format(&l->digest, dg)));
		json_object_object_add(lo, "media_type",
				       json_object_new_string(l->media_type ? l->media_type : ""));
		json_object_object_add(lo, "size", json_object_new_int64(l->size));
		json_object_object_add(lo, "tar_size", json_object_new_int64((int64_t)l->tar_size));
		json_object_array_add(ls, lo);
	}
	json_object_object_add(o, "layers", ls);
	return o;
}

static int image_from_json(const void *buf, size_t len, struct catalog_image *im)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *ls;
	const char *s;
	int64_t v;
	int r = -EBADMSG;

	memset(im, 0, sizeof(*im));
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	if (!(s = jstr(o, "manifest")) || image_digest_parse(s, &im->id) ||
	    !(s = jstr(o, "config")) || image_digest_parse(s, &im->config))
		goto out;
	im->manifest_media_type = strdup((s = jstr(o, "manifest_media_type")) ? s : "");
	im->source = strdup((s = jstr(o, "source")) ? s : "");
	if (!im->manifest_media_type || !im->source) {
		r = -ENOMEM;
		goto out;
	}
	if (jint(o, "imported", &v))
		im->imported = v;
	{
		json_object *b;

		if (json_object_object_get_ex(o, "synthetic", &b))
			im->synthetic = json_object_get_boolean(b);
	}
	if (!json_object_object_get_ex(o, "layers", &ls) ||
	    !json_object_is_type(ls, json_type_array))
		goto out;
	im->nlayers = json_object_array_length(ls);
	im->layers = calloc(im->nlayers ? im->nlayers : 1, sizeof(*im->layers));
	if (!im->layers) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < im->nlayers; i++) {
		json_object *lo = json_object_array_get_idx(ls, i);
		struct catalog_layer *l = &im->layers[i];

		if (!lo || !(s = jstr(lo, "diff_id")) || image_digest_parse(s, &l->diff_id) ||
		    !(s = jstr(lo, "digest")) || image_digest_parse(s, &l->digest))
			goto out;
		l->media_type = strdup((s = jstr(lo, "media_type")) ? s : "");
		if (!l->media_type) {
			r = -ENOMEM;
			goto out;
		}
		l->size = jint(lo, "size", &v) ? v : -1;
		l->tar_size = jint(lo, "tar_size", &v) && v >= 0 ? (uint64_t)v : 0;
	}
	r = 0;
out:
	if (o)
		json_object_put(o);
	json_tokener_free(tok);
	if (r)
		free_image(im);
	return r;
}

/* ---- loading ---- */

static int grow_tags(struct catalog *c)
{
	if (c->ntags == c->captags) {
		size_t cap = c->captags ? 2 * c->captags : 16;
		struct ctag *t = realloc(c->tags, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		c->tags = t;
		c->captags = cap;
	}
	return 0;
}

static int grow_imgs(struct catalog *c)
{
	if (c->nimgs == c->capimgs) {
		size_t cap = c->capimgs ? 2 * c->capimgs : 16;
		struct catalog_image *t = realloc(c->imgs, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		c->imgs = t;
		c->capimgs = cap;
	}
	return 0;
}

struct collect {
	struct store_key *keys;
	uint32_t *kinds;
	uint32_t *lens;
	size_t n, cap;
};

static int collect_cb(void *arg, const struct store_key *key, const struct store_rec_info *info)
{
	struct collect *c = arg;

	if (info->type != STORE_REC_META ||
	    (info->user != CATALOG_KIND_IMAGE && info->user != CATALOG_KIND_TAG))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct store_key *k = realloc(c->keys, cap * sizeof(*k));
		uint32_t *kk, *ll;

		if (!k)
			return -ENOMEM;
		c->keys = k;
		kk = realloc(c->kinds, cap * sizeof(*kk));
		if (!kk)
			return -ENOMEM;
		c->kinds = kk;
		ll = realloc(c->lens, cap * sizeof(*ll));
		if (!ll)
			return -ENOMEM;
		c->lens = ll;
		c->cap = cap;
	}
	c->keys[c->n] = *key;
	c->kinds[c->n] = info->user;
	c->lens[c->n] = info->len;
	c->n++;
	return 0;
}

static int add_tag_rec(struct catalog *c, const void *buf, size_t len, const struct store_key *key)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	const char *name, *img;
	struct ctag t = { 0 };
	int r = -EBADMSG;

	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	json_tokener_free(tok);
	if (!o)
		return -EBADMSG;
	name = jstr(o, "name");
	img = jstr(o, "image");
	if (name && img && !image_digest_parse(img, &t.image) && jint(o, "time", &t.time)) {
		t.name = strdup(name);
		t.key = *key;
		r = -ENOMEM;
		if (t.name && !(r = grow_tags(c)))
			c->tags[c->ntags++] = t;
		else
			free(t.name);
	}
	json_object_put(o);
	return r;
}

static struct catalog_image *find_image(const struct catalog *c, const struct image_digest *id)
{
	for (size_t i = 0; i < c->nimgs; i++)
		if (image_digest_equal(&c->imgs[i].id, id))
			return &c->imgs[i];
	return NULL;
}

/* The winning record of tag name: newest time, then larger key; image must exist. */
static struct ctag *tag_winner(const struct catalog *c, const char *name)
{
	struct ctag *best = NULL;

	for (size_t i = 0; i < c->ntags; i++) {
		struct ctag *t = &c->tags[i];

		if (strcmp(t->name, name) || !find_image(c, &t->image))
			continue;
		if (!best || t->time > best->time ||
		    (t->time == best->time && memcmp(t->key.b, best->key.b, STORE_KEY_LEN) > 0))
			best = t;
	}
	return best;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_img(const void *a, const void *b)
{
	const struct catalog_image *x = a, *y = b;

	if (x->imported != y->imported)
		return x->imported > y->imported ? -1 : 1;
	return memcmp(x->id.sha256, y->id.sha256, IMAGE_DIGEST_LEN);
}

/* Recompute every image's tag list from the tag records. */
static int assign_tags(struct catalog *c)
{
	for (size_t i = 0; i < c->nimgs; i++) {
		for (size_t k = 0; k < c->imgs[i].ntags; k++)
			free(c->imgs[i].tags[k]);
		free(c->imgs[i].tags);
		c->imgs[i].tags = NULL;
		c->imgs[i].ntags = 0;
	}
	for (size_t i = 0; i < c->ntags; i++) {
		struct ctag *t = &c->tags[i], *w = tag_winner(c, t->name);
		struct catalog_image *im;
		char **v;

		if (w != t)
			continue;
		im = find_image(c, &t->image);
		v = realloc(im->tags, (im->ntags + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		im->tags = v;
		if (!(v[im->ntags] = strdup(t->name)))
			return -ENOMEM;
		im->ntags++;
	}
	for (size_t i = 0; i < c->nimgs; i++)
		if (c->imgs[i].ntags > 1)
			qsort(c->imgs[i].tags, c->imgs[i].ntags, sizeof(char *), cmp_str);
	if (c->nimgs) /* qsort's base must not be NULL, even for 0 items */
		qsort(c->imgs, c->nimgs, sizeof(*c->imgs), cmp_img);
	return 0;
}

int catalog_open(struct store *s, struct catalog **out)
{
	struct collect col = { 0 };
	struct store_get_req *reqs = NULL;
	struct catalog *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = store_iterate(s, collect_cb, &col);
	if (r)
		goto out;
	if (col.n) {
		reqs = calloc(col.n, sizeof(*reqs));
		if (!reqs) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < col.n; i++) {
			reqs[i].key = col.keys[i];
			reqs[i].bufsize = col.lens[i] ? col.lens[i] : 1;
			reqs[i].buf = malloc(reqs[i].bufsize);
			if (!reqs[i].buf) {
				r = -ENOMEM;
				goto out;
			}
		}
		/* Records deleted since the walk come back -ENOENT: skipped below. */
		store_get_batch(s, reqs, (unsigned)col.n);
	}
	for (size_t i = 0; i < col.n; i++) {
		char kh[2 * STORE_KEY_LEN + 1];

		if (reqs[i].res == -ENOENT)
			continue;
		r = reqs[i].res;
		if (!r && col.kinds[i] == CATALOG_KIND_IMAGE) {
			r = grow_imgs(c);
			if (!r) {
				r = image_from_json(reqs[i].buf, reqs[i].len, &c->imgs[c->nimgs]);
				if (!r) {
					struct store_key k;

					/* The key must be the one its content names. */
					image_key(&c->imgs[c->nimgs].id, &k);
					if (memcmp(k.b, reqs[i].key.b, STORE_KEY_LEN)) {
						free_image(&c->imgs[c->nimgs]);
						r = -EBADMSG;
					} else {
						c->nimgs++;
					}
				}
			}
		} else if (!r) {
			r = add_tag_rec(c, reqs[i].buf, reqs[i].len, &reqs[i].key);
		}
		if (r) {
			strata_hex(reqs[i].key.b, STORE_KEY_LEN, kh);
			log_err("catalog record %s: %s", kh,
				r == -EBADMSG ? "does not parse" : strerror(-r));
			goto out;
		}
	}
	r = assign_tags(c);
out:
	for (size_t i = 0; reqs && i < col.n; i++)
		free(reqs[i].buf);
	free(reqs);
	free(col.keys);
	free(col.kinds);
	free(col.lens);
	if (r) {
		catalog_close(c);
		return r;
	}
	*out = c;
	return 0;
}

void catalog_close(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nimgs; i++)
		free_image(&c->imgs[i]);
	for (size_t i = 0; i < c->ntags; i++)
		free(c->tags[i].name);
	free(c->imgs);
	free(c->tags);
	free(c);
}

size_t catalog_count(const struct catalog *c)
{
	return c->nimgs;
}

const struct catalog_image *catalog_image_at(const struct catalog *c, size_t i)
{
	return i < c->nimgs ? &c->imgs[i] : NULL;
}

int catalog_resolve(const struct catalog *c, const char *ref, const struct catalog_image **out)
{
	char name[CATALOG_NAME_MAX + 1];
	const struct catalog_image *hit = NULL;
	const char *hex = ref;
	size_t n;

	if (!strncmp(ref, "sha256:", 7))
		hex = ref + 7;
	n = strlen(hex);
	if (hex != ref || (n >= 4 && n <= 64 && is_hex(hex, n))) {
		if (n < 4 || n > 64 || !is_hex(hex, n))
			return -EINVAL;
		for (size_t i = 0; i < c->nimgs; i++) {
			char full[IMAGE_DIGEST_STRLEN];

			image_digest_format(&c->imgs[i].id, full);
			if (strncmp(full + 7, hex, n))
				continue;
			if (hit)
				return -ENOTUNIQ;
			hit = &c->imgs[i];
		}
		if (hit) {
			*out = hit;
			return 0;
		}
		/* "cafe" may also be a name: fall through when no ID matched. */
		if (hex != ref)
			return -ENOENT;
	}
	if (catalog_normalize_name(ref, name))
		return -EINVAL;
	{
		struct ctag *t = tag_winner(c, name);

		if (!t)
			return -ENOENT;
		*out = find_image(c, &t->image);
	}
	return 0;
}

/* ---- blobs ---- */

int catalog_put_blob(struct store *s, const struct image_digest *digest, const void *buf,
		     size_t len)
{
	struct image_digest got;
	struct store_key key;
	int r;

	image_sha256_buf(buf, len, &got);
	if (!image_digest_equal(&got, digest))
		return -EBADMSG;
	if (len > store_max_record(s))
		return -EFBIG;
	blob_key(digest, &key);
	r = store_put(s, STORE_REC_META, &key, buf, len, 0, CATALOG_KIND_BLOB);
	return r == -EEXIST ? 0 : r;
}

int catalog_get_blob(struct store *s, const struct image_digest *digest, void **buf,
		     size_t *len)
{
	struct store_rec_info info;
	struct image_digest got;
	struct store_key key;
	void *b;
	int r;

	blob_key(digest, &key);
	r = store_lookup(s, &key, &info);
	if (r)
		return r;
	b = malloc(info.len ? info.len : 1);
	if (!b)
		return -ENOMEM;
	r = store_get(s, &key, b, info.len ? info.len : 1, len, &info);
	if (!r) {
		image_sha256_buf(b, *len, &got);
		if (!image_digest_equal(&got, digest)) {
			char dg[IMAGE_DIGEST_STRLEN];

			log_err("blob %s: stored bytes do not match the digest",
				image_digest_format(digest, dg));
			r = -EBADMSG;
		}
	}
	if (r) {
		free(b);
		return r;
	}
	*buf = b;
	return 0;
}

/* ---- changes ---- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write a tag record name -> id, newer than every record of that name. */
static int put_tag(struct store *s, struct catalog *c, const char *name,
		   const struct image_digest *id)
{
	char dg[IMAGE_DIGEST_STRLEN];
	struct store_key key;
	struct ctag t = { 0 };
	json_object *o;
	const char *js;
	int r;

	t.time = now_ns();
	for (size_t i = 0; i < c->ntags; i++)
		if (!strcmp(c->tags[i].name, name) && c->tags[i].time >= t.time)
			t.time = c->tags[i].time + 1;
	tag_key(name, id, &key);
	/* The same name -> image again: replace so its time moves forward. */
	for (size_t i = 0; i < c->ntags; i++) {
		if (!memcmp(c->tags[i].key.b, key.b, STORE_KEY_LEN)) {
			r = store_delete(s, &key);
			if (r && r != -ENOENT)
				return r;
			free(c->tags[i].name);
			c->tags[i] = c->tags[--c->ntags];
			break;
		}
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "image", json_object_new_string(image_digest_format(id, dg)));
	json_object_object_add(o, "time", json_object_new_int64(t.time));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = store_put(s, STORE_REC_META, &key, js, strlen(js), 0, CATALOG_KIND_TAG);
	if (r == -EEXIST) {
		r = store_delete(s, &key);
		if (!r)
			r = store_put(s, STORE_REC_META, &key, js, strlen(js), 0, CATALOG_KIND_TAG);
	}
	json_object_put(o);
	if (r)
		return r;
	t.name = strdup(name);
	t.image = *id;
	t.key = key;
	if (!t.name || grow_tags(c)) {
		free(t.name);
		return -ENOMEM;
	}
	c->tags[c->ntags++] = t;
	return 0;
}

/* Delete every record of name except keep (may be NULL). */
static int drop_tags(struct store *s, struct catalog *c, const char *name,
		     const struct store_key *keep)
{
	for (size_t i = 0; i < c->ntags;) {
		struct ctag *t = &c->tags[i];
		int r;

		if (strcmp(t->name, name) || (keep && !memcmp(t->key.b, keep->b, STORE_KEY_LEN))) {
			i++;
			continue;
		}
		r = store_delete(s, &t->key);
		if (r && r != -ENOENT)
			return r;
		free(t->name);
		*t = c->tags[--c->ntags];
	}
	return 0;
}

static int dup_image(const struct catalog_image *in, struct catalog_image *out)
{
	memset(out, 0, sizeof(*out));
	out->id = in->id;
	out->config = in->config;
	out->synthetic = in->synthetic;
	out->imported = in->imported;
	out->manifest_media_type = strdup(in->manifest_media_type ? in->manifest_media_type : "");
	out->source = strdup(in->source ? in->source : "");
	out->nlayers = in->nlayers;
	out->layers = calloc(in->nlayers ? in->nlayers : 1, sizeof(*out->layers));
	if (!out->manifest_media_type || !out->source || !out->layers)
		goto err;
	for (size_t i = 0; i < in->nlayers; i++) {
		out->layers[i] = in->layers[i];
		out->layers[i].media_type =
			strdup(in->layers[i].media_type ? in->layers[i].media_type : "");
		if (!out->layers[i].media_type)
			goto err;
	}
	return 0;
err:
	free_image(out);
	return -ENOMEM;
}

int catalog_add_image(struct store *s, struct catalog *c, const struct catalog_image *img,
		      const char *const *names, size_t nnames)
{
	char norm[CATALOG_NAME_MAX + 1];
	struct store_key key;
	json_object *o;
	const char *js;
	int r;

	for (size_t i = 0; i < nnames; i++) {
		if (catalog_normalize_name(names[i], norm))
			return -EINVAL;
		r = put_tag(s, c, norm, &img->id);
		if (r)
			return r;
	}
	r = store_sync(s);
	if (r)
		return r;
	o = image_to_json(img);
	if (!o)
		return -ENOMEM;
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	image_key(&img->id, &key);
	r = store_put(s, STORE_REC_META, &key, js, strlen(js), 0, CATALOG_KIND_IMAGE);
	json_object_put(o);
	if (r && r != -EEXIST)
		return r;
	r = store_sync(s); /* the commit point */
	if (r)
		return r;
	if (!find_image(c, &img->id)) {
		if (grow_imgs(c) || dup_image(img, &c->imgs[c->nimgs]))
			return -ENOMEM;
		c->nimgs++;
	}
	/* Older records of the names are now superseded: remove them. */
	for (size_t i = 0; i < nnames; i++) {
		struct store_key k;

		catalog_normalize_name(names[i], norm);
		tag_key(norm, &img->id, &k);
		r = drop_tags(s, c, norm, &k);
		if (r)
			return r;
	}
	r = store_sync(s);
	if (r)
		return r;
	return assign_tags(c);
}

int catalog_tag(struct store *s, struct catalog *c, const char *name,
		const struct image_digest *id)
{
	char norm[CATALOG_NAME_MAX + 1];
	struct store_key k;
	int r;

	if (catalog_normalize_name(name, norm))
		return -EINVAL;
	if (!find_image(c, id))
		return -ENOENT;
	r = put_tag(s, c, norm, id);
	if (!r)
		r = store_sync(s);
	if (r)
		return r;
	tag_key(norm, id, &k);
	r = drop_tags(s, c, norm, &k);
	if (!r)
		r = store_sync(s);
	if (!r)
		r = assign_tags(c);
	return r;
}

int catalog_untag(struct store *s, struct catalog *c, const char *name)
{
	char norm[CATALOG_NAME_MAX + 1];
	int r;

	if (catalog_normalize_name(name, norm))
		return -EINVAL;
	if (!tag_winner(c, norm))
		return -ENOENT;
	r = drop_tags(s, c, norm, NULL);
	if (!r)
		r = store_sync(s);
	if (!r)
		r = assign_tags(c);
	return r;
}

int catalog_remove_image(struct store *s, struct catalog *c, const struct image_digest *id)
{
	struct catalog_image *im = find_image(c, id);
	struct store_key key;
	int r;

	if (!im)
		return -ENOENT;
	image_key(id, &key);
	r = store_delete(s, &key);
	if (r && r != -ENOENT)
		return r;
	r = store_sync(s);
	if (r)
		return r;
	free_image(im);
	*im = c->imgs[--c->nimgs];
	/* Its tags now name a missing image: delete them too. */
	for (size_t i = 0; i < c->ntags;) {
		struct ctag *t = &c->tags[i];

		if (!image_digest_equal(&t->image, id)) {
			i++;
			continue;
		}
		r = store_delete(s, &t->key);
		if (r && r != -ENOENT)
			return r;
		free(t->name);
		*t = c->tags[--c->ntags];
	}
	r = store_sync(s);
	if (!r)
		r = assign_tags(c);
	return r;
}

bool catalog_key_live(const struct catalog *c, uint32_t kind, const struct store_key *key)
{
	struct store_key k;

	for (size_t i = 0; i < c->nimgs; i++) {
		const struct catalog_image *im = &c->imgs[i];

		if (kind == CATALOG_KIND_IMAGE) {
			image_key(&im->id, &k);
			if (!memcmp(k.b, key->b, STORE_KEY_LEN))
				return true;
		} else if (kind == CATALOG_KIND_BLOB) {
			blob_key(&im->id, &k);
			if (!memcmp(k.b, key->b, STORE_KEY_LEN))
				return true;
			blob_key(&im->config, &k);
			if (!memcmp(k.b, key->b, STORE_KEY_LEN))
				return true;
		}
	}
	if (kind == CATALOG_KIND_TAG) {
		for (size_t i = 0; i < c->ntags; i++)
			if (!memcmp(c->tags[i].key.b, key->b, STORE_KEY_LEN))
				return tag_winner(c, c->tags[i].name) == &c->tags[i];
	}
	return false;
}
