// SPDX-License-Identifier: GPL-2.0-or-later
/* store/: json-c helpers with validation and messages naming the document. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "store/image-internal.h"

static int parse_any(const void *buf, size_t len, const char *what, struct json_object **out,
		     enum json_type want)
{
	struct json_tokener *tok;
	struct json_object *o;
	const char *p = buf;
	size_t used;

	if (len > IMAGE_CONFIG_MAX || len > INT32_MAX) {
		log_err("%s: JSON document too large (%zu bytes)", what, len);
		return -EBADMSG;
	}
	/* json-c would stop at an embedded NUL and accept the prefix. */
	if (memchr(buf, 0, len)) {
		log_err("%s: JSON document contains a NUL byte", what);
		return -EBADMSG;
	}
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, p, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		log_err("%s: invalid JSON: %s", what,
			e == json_tokener_continue ? "unexpected end of document"
						   : json_tokener_error_desc(e));
		json_object_put(o);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; used < len; used++) {
		if (p[used] != ' ' && p[used] != '\t' && p[used] != '\n' && p[used] != '\r') {
			log_err("%s: trailing data after the JSON document", what);
			json_object_put(o);
			return -EBADMSG;
		}
	}
	if (!json_object_is_type(o, want)) {
		log_err("%s: top level is not a JSON %s", what,
			want == json_type_object ? "object" : "array");
		json_object_put(o);
		return -EBADMSG;
	}
	*out = o;
	return 0;
}

int sj_parse(const void *buf, size_t len, const char *what, struct json_object **out)
{
	return parse_any(buf, len, what, out, json_type_object);
}

int sj_parse_array(const void *buf, size_t len, const char *what, struct json_object **out)
{
	return parse_any(buf, len, what, out, json_type_array);
}

static int sj_get(struct json_object *o, const char *key, bool required, const char *what,
		  enum json_type type, const char *tname, struct json_object **v)
{
	if (!json_object_object_get_ex(o, key, v) || !*v) {
		/* JSON null is treated as absent: docker writes "Cmd": null. */
		if (required)
			log_err("%s: required field \"%s\" is missing", what, key);
		return -ENOENT;
	}
	if (!json_object_is_type(*v, type)) {
		log_err("%s: field \"%s\" is not %s", what, key, tname);
		return -EBADMSG;
	}
	return 0;
}

int sj_str(struct json_object *o, const char *key, bool required, const char *what,
	   const char **out)
{
	struct json_object *v;
	int r = sj_get(o, key, required, what, json_type_string, "a string", &v);

	if (r)
		return r;
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		log_err("%s: field \"%s\" contains a NUL character", what, key);
		return -EBADMSG;
	}
	*out = json_object_get_string(v);
	return 0;
}

int sj_int64(struct json_object *o, const char *key, bool required, const char *what, int64_t *out)
{
	struct json_object *v;
	int r = sj_get(o, key, required, what, json_type_int, "an integer", &v);

	if (r)
		return r;
	errno = 0;
	*out = json_object_get_int64(v);
	if (errno == ERANGE || (*out == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)) {
		log_err("%s: field \"%s\" is out of range", what, key);
		return -EBADMSG;
	}
	return 0;
}

int sj_obj(struct json_object *o, const char *key, bool required, const char *what,
	   struct json_object **out)
{
	return sj_get(o, key, required, what, json_type_object, "an object", out);
}

int sj_arr(struct json_object *o, const char *key, bool required, const char *what,
	   struct json_object **out)
{
	return sj_get(o, key, required, what, json_type_array, "an array", out);
}

int sj_strv(struct json_object *o, const char *key, const char *what, const char ***vec, size_t *n,
	    bool *present)
{
	struct json_object *a;
	const char **v;
	size_t len;
	int r;

	*vec = NULL;
	*n = 0;
	if (present)
		*present = false;
	r = sj_arr(o, key, false, what, &a);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	len = json_object_array_length(a);
	v = calloc(len + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (!e || !json_object_is_type(e, json_type_string)) {
			log_err("%s: \"%s\"[%zu] is not a string", what, key, i);
			free(v);
			return -EBADMSG;
		}
		v[i] = json_object_get_string(e);
	}
	*vec = v;
	*n = len;
	if (present)
		*present = true;
	return 0;
}

int sj_descriptor(struct json_object *o, const char *what, struct image_descriptor *d)
{
	const char *mt, *dg;
	int64_t size;
	int r;

	if (!json_object_is_type(o, json_type_object)) {
		log_err("%s: descriptor is not an object", what);
		return -EBADMSG;
	}
	if ((r = sj_str(o, "mediaType", true, what, &mt)) ||
	    (r = sj_str(o, "digest", true, what, &dg)) ||
	    (r = sj_int64(o, "size", true, what, &size)))
		return r == -ENOENT ? -EBADMSG : r;
	if (!*mt || strlen(mt) > 255) {
		log_err("%s: invalid mediaType \"%.64s\"", what, mt);
		return -EBADMSG;
	}
	r = image_digest_parse(dg, &d->digest);
	if (r == -ENOTSUP) {
		log_err("%s: unsupported digest algorithm in \"%.80s\" (only sha256)", what, dg);
		return r;
	}
	if (r) {
		log_err("%s: malformed digest \"%.80s\" (want sha256:<64 lowercase hex>)", what,
			dg);
		return -EBADMSG;
	}
	if (size < 0) {
		log_err("%s: negative size %lld", what, (long long)size);
		return -EBADMSG;
	}
	d->media_type = mt;
	d->digest_known = true;
	d->size = size;
	return 0;
}
