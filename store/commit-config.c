// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The committed image's config and manifest, and the Dockerfile-syntax
 * changes (`--change`) applied to the config.  As with `docker commit
 * --change`: CMD and ENTRYPOINT take a JSON array of strings (exec form)
 * or anything else as a shell command (["/bin/sh", "-c", TEXT]);
 * ENTRYPOINT clears an inherited Cmd unless a CMD came before it; ENV and
 * LABEL take KEY=VALUE pairs (double or single quotes, backslash escapes)
 * or the legacy "KEY VALUE"; EXPOSE takes PORT[/PROTO] or a range
 * FROM-TO[/PROTO]; WORKDIR is joined to the previous one when relative.
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/commit-internal.h"
#include "strata/log.h"

#define MAX_WORDS 256

/* Split s into words: quotes removed, escapes applied.  Returns the count or -EINVAL. */
static int split_words(const char *s, char **words, size_t max, const char *change)
{
	size_t n = 0;

	while (*s) {
		char *w, *o;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		if (n == max) {
			log_err("--change '%s': too many words", change);
			goto err;
		}
		w = o = malloc(strlen(s) + 1);
		if (!w)
			goto err;
		words[n++] = w;
		while (*s && !isspace((unsigned char)*s)) {
			char q = *s;

			if (q == '"' || q == '\'') {
				s++;
				while (*s && *s != q) {
					if (q == '"' && *s == '\\' && s[1])
						s++;
					*o++ = *s++;
				}
				if (*s != q) {
					log_err("--change '%s': unterminated quote", change);
					goto err;
				}
				s++;
			} else if (q == '\\' && s[1]) {
				*o++ = s[1];
				s += 2;
			} else {
				*o++ = *s++;
			}
		}
		*o = '\0';
	}
	return (int)n;
err:
	while (n)
		free(words[--n]);
	return -EINVAL;
}

static void free_words(char **w, int n)
{
	while (n > 0)
		free(w[--n]);
}

static json_object *get_obj(json_object *parent, const char *key)
{
	json_object *o;

	if (json_object_object_get_ex(parent, key, &o) && json_object_is_type(o, json_type_object))
		return o;
	o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

/* CMD / ENTRYPOINT argument: exec form or shell form. */
static int parse_command(const char *arg, const char *change, json_object **out)
{
	json_object *a;

	if (!*arg) {
		log_err("--change '%s': needs a command", change);
		return -EINVAL;
	}
	if (*arg == '[') {
		enum json_tokener_error je;
		size_t n;

		a = json_tokener_parse_verbose(arg, &je);
		if (!a || !json_object_is_type(a, json_type_array)) {
			log_err("--change '%s': a value starting with '[' must be a JSON array of "
				"strings (%s)",
				change, a ? "not an array" : json_tokener_error_desc(je));
			json_object_put(a);
			return -EINVAL;
		}
		n = json_object_array_length(a);
		for (size_t i = 0; i < n; i++) {
			if (!json_object_is_type(json_object_array_get_idx(a, i),
						 json_type_string)) {
				log_err("--change '%s': element %zu is not a string", change, i);
				json_object_put(a);
				return -EINVAL;
			}
		}
		*out = a;
		return 0;
	}
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("/bin/sh"));
	json_object_array_add(a, json_object_new_string("-c"));
	json_object_array_add(a, json_object_new_string(arg));
	*out = a;
	return 0;
}

/* KEY=VALUE words, or the legacy "KEY VALUE" (rest of the line). */
typedef void (*pair_fn)(json_object *cfg, const char *key, const char *val);

static int parse_pairs(const char *arg, const char *change, json_object *cfg, pair_fn fn)
{
	char *w[MAX_WORDS];
	int n, r = 0;

	n = split_words(arg, w, MAX_WORDS, change);
	if (n < 0)
		return n;
	if (n == 0) {
		log_err("--change '%s': needs KEY=VALUE", change);
		return -EINVAL;
	}
	if (!strchr(w[0], '=')) {
		/* Legacy form: the value is the rest, unquoted. */
		char *vals[MAX_WORDS];
		const char *rest = arg;
		int nv;

		while (isspace((unsigned char)*rest))
			rest++;
		rest += strcspn(rest, " \t\n");
		nv = split_words(rest, vals, MAX_WORDS, change);
		if (n < 2) {
			log_err("--change '%s': needs KEY=VALUE or KEY VALUE", change);
			r = -EINVAL;
		} else {
			while (isspace((unsigned char)*rest))
				rest++;
			if (fn)
				fn(cfg, w[0], nv == 1 ? vals[0] : rest);
		}
		if (nv > 0)
			free_words(vals, nv);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char *eq = strchr(w[i], '=');

		if (!eq || eq == w[i]) {
			log_err("--change '%s': '%s' is not KEY=VALUE", change, w[i]);
			r = -EINVAL;
			goto out;
		}
	}
	for (int i = 0; fn && i < n; i++) {
		char *eq = strchr(w[i], '=');

		*eq = '\0';
		fn(cfg, w[i], eq + 1);
	}
out:
	free_words(w, n);
	return r;
}

static void set_env(json_object *cfg, const char *key, const char *val)
{
	json_object *env, *c = get_obj(cfg, "config");
	size_t klen = strlen(key), n;
	char *kv = malloc(klen + strlen(val) + 2);

	if (!kv)
		return;
	sprintf(kv, "%s=%s", key, val);
	if (!json_object_object_get_ex(c, "Env", &env) ||
	    !json_object_is_type(env, json_type_array)) {
		env = json_object_new_array();
		json_object_object_add(c, "Env", env);
	}
	n = json_object_array_length(env);
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(env, i));

		if (s && !strncmp(s, key, klen) && s[klen] == '=') {
			json_object_array_put_idx(env, i, json_object_new_string(kv));
			free(kv);
			return;
		}
	}
	json_object_array_add(env, json_object_new_string(kv));
	free(kv);
}

static void set_label(json_object *cfg, const char *key, const char *val)
{
	json_object_object_add(get_obj(get_obj(cfg, "config"), "Labels"), key,
			       json_object_new_string(val));
}

static int parse_port(const char *w, const char *change, json_object *cfg)
{
	char proto[16] = "tcp", key[48];
	const char *slash = strchr(w, '/');
	unsigned long lo, hi;
	char *end;

	if (slash) {
		size_t pl = strlen(slash + 1);

		if (pl == 0 || pl >= sizeof(proto))
			goto bad;
		for (size_t i = 0; i <= pl; i++)
			proto[i] = (char)tolower((unsigned char)slash[1 + i]);
		if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
			goto bad;
	}
	if (!isdigit((unsigned char)*w))
		goto bad;
	lo = strtoul(w, &end, 10);
	hi = lo;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			goto bad;
		hi = strtoul(end + 1, &end, 10);
	}
	if ((*end && end != slash) || lo < 1 || hi > 65535 || lo > hi || hi - lo > 1024)
		goto bad;
	for (unsigned long p = lo; cfg && p <= hi; p++) {
		snprintf(key, sizeof(key), "%lu/%s", p, proto);
		json_object_object_add(get_obj(get_obj(cfg, "config"), "ExposedPorts"), key,
				       json_object_new_object());
	}
	return 0;
bad:
	log_err("--change '%s': '%s' is not PORT[/tcp|udp|sctp] or FROM-TO[/PROTO] (1..65535)",
		change, w);
	return -EINVAL;
}

/*
 * Apply one change to cfg (NULL: only check it).  *cmd_set: a CMD came
 * earlier in this commit (ENTRYPOINT keeps the Cmd then).
 */
static int apply_change(json_object *cfg, const char *change, bool *cmd_set)
{
	const char *p = change, *arg;
	char ins[16], *a;
	size_t len;
	json_object *v = NULL;
	int r = 0;

	while (isspace((unsigned char)*p))
		p++;
	len = strcspn(p, " \t\n");
	if (!len || len >= sizeof(ins))
		goto unknown;
	for (size_t i = 0; i < len; i++)
		ins[i] = (char)toupper((unsigned char)p[i]);
	ins[len] = '\0';
	arg = p + len;
	while (isspace((unsigned char)*arg))
		arg++;
	/* Trailing blanks are not part of the value. */
	a = strdup(arg);

	if (!a)
		return -ENOMEM;
	for (size_t n = strlen(a); n && isspace((unsigned char)a[n - 1]);)
		a[--n] = '\0';
	if (!strcmp(ins, "CMD") || !strcmp(ins, "ENTRYPOINT")) {
		bool is_cmd = ins[0] == 'C';

		r = parse_command(a, change, &v);
		if (r || !cfg) {
			json_object_put(v);
		} else {
			json_object *c = get_obj(cfg, "config");

			json_object_object_add(c, is_cmd ? "Cmd" : "Entrypoint", v);
			if (!is_cmd && !*cmd_set)
				json_object_object_del(c, "Cmd");
		}
		if (is_cmd)
			*cmd_set = true;
	} else if (!strcmp(ins, "ENV")) {
		r = parse_pairs(a, change, cfg, cfg ? set_env : NULL);
	} else if (!strcmp(ins, "LABEL")) {
		r = parse_pairs(a, change, cfg, cfg ? set_label : NULL);
	} else if (!strcmp(ins, "WORKDIR") || !strcmp(ins, "USER")) {
		bool wd = ins[0] == 'W';

		if (!*a) {
			log_err("--change '%s': needs a %s", change, wd ? "directory" : "user");
			r = -EINVAL;
		} else if (cfg) {
			json_object *c = get_obj(cfg, "config"), *old;
			char *val = strdup(a);

			if (val && wd && a[0] != '/') {
				const char *base = "/";
				char *j;

				if (json_object_object_get_ex(c, "WorkingDir", &old) &&
				    json_object_is_type(old, json_type_string) &&
				    json_object_get_string(old)[0] == '/')
					base = json_object_get_string(old);
				j = malloc(strlen(base) + strlen(a) + 2);
				if (j)
					sprintf(j, "%s%s%s", base,
						base[strlen(base) - 1] == '/' ? "" : "/", a);
				free(val);
				val = j;
			}
			if (!val)
				r = -ENOMEM;
			else
				json_object_object_add(c, wd ? "WorkingDir" : "User",
						       json_object_new_string(val));
			free(val);
		}
	} else if (!strcmp(ins, "EXPOSE")) {
		char *w[MAX_WORDS];
		int n = split_words(a, w, MAX_WORDS, change);

		if (n == 0) {
			log_err("--change '%s': needs a port", change);
			r = -EINVAL;
		}
		r = n < 0 ? n : r;
		for (int i = 0; !r && i < n; i++)
			r = parse_port(w[i], change, cfg);
		if (n > 0)
			free_words(w, n);
	} else {
		free(a);
		goto unknown;
	}
	free(a);
	return r;
unknown:
	log_err("--change '%s': unknown instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, "
		"WORKDIR)",
		change);
	return -EINVAL;
}

int commit_check_changes(const char *const *changes, size_t n)
{
	bool cmd_set = false;

	for (size_t i = 0; i < n; i++) {
		int r = apply_change(NULL, changes[i], &cmd_set);

		if (r)
			return r;
	}
	return 0;
}

static char *fmt_time(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;
	time_t t = ts->tv_sec;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts->tv_nsec)
		snprintf(buf, size, "%s.%09ldZ", s, ts->tv_nsec);
	else
		snprintf(buf, size, "%sZ", s);
	return buf;
}

static json_object *parse_obj(const void *buf, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;

	if (tok && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static int dump(json_object *o, char **out, size_t *outlen)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);

	*out = s ? strdup(s) : NULL;
	if (!*out)
		return -ENOMEM;
	*outlen = strlen(*out);
	return 0;
}

int commit_make_config(const void *parent, size_t len, const struct commit_opts *o,
		       const struct image_digest *diff_id, char **out, size_t *outlen)
{
	json_object *cfg = parse_obj(parent, len), *rootfs, *ids, *hist, *h;
	char when[48], dg[IMAGE_DIGEST_STRLEN];
	bool cmd_set = false;
	size_t nonempty = 0;
	int r = 0;

	if (!cfg) {
		log_err("parent image config: not a JSON object");
		return -EBADMSG;
	}
	for (size_t i = 0; i < o->nchanges && !r; i++)
		r = apply_change(cfg, o->changes[i], &cmd_set);
	if (r)
		goto out;
	fmt_time(&o->created, when, sizeof(when));
	json_object_object_add(cfg, "created", json_object_new_string(when));
	if (o->author)
		json_object_object_add(cfg, "author", json_object_new_string(o->author));
	rootfs = get_obj(cfg, "rootfs");
	if (!json_object_object_get_ex(rootfs, "type", NULL))
		json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	if (!json_object_object_get_ex(rootfs, "diff_ids", &ids) ||
	    !json_object_is_type(ids, json_type_array)) {
		ids = json_object_new_array();
		json_object_object_add(rootfs, "diff_ids", ids);
	}
	if (!json_object_object_get_ex(cfg, "history", &hist) ||
	    !json_object_is_type(hist, json_type_array)) {
		hist = json_object_new_array();
		json_object_object_add(cfg, "history", hist);
	}
	/* Keep one non-empty history entry per layer, even for parents without. */
	for (size_t i = 0; i < json_object_array_length(hist); i++) {
		json_object *el;

		h = json_object_array_get_idx(hist, i);
		if (!json_object_object_get_ex(h, "empty_layer", &el) ||
		    !json_object_get_boolean(el))
			nonempty++;
	}
	for (; nonempty < json_object_array_length(ids); nonempty++) {
		h = json_object_new_object();
		json_object_object_add(h, "created_by",
				       json_object_new_string("(layer without history)"));
		json_object_array_add(hist, h);
	}
	json_object_array_add(ids, json_object_new_string(image_digest_format(diff_id, dg)));
	h = json_object_new_object();
	json_object_object_add(h, "created", json_object_new_string(when));
	json_object_object_add(h, "created_by", json_object_new_string("strata commit"));
	if (o->author)
		json_object_object_add(h, "author", json_object_new_string(o->author));
	if (o->message)
		json_object_object_add(h, "comment", json_object_new_string(o->message));
	json_object_array_add(hist, h);
	r = dump(cfg, out, outlen);
out:
	json_object_put(cfg);
	return r;
}

/* Docker schema 2 media types and their OCI equivalents. */
const char *commit_oci_media_type(const char *mt)
{
	static const char *const map[][2] = {
	    {"application/vnd.docker.image.rootfs.diff.tar.gzip",
	     "application/vnd.oci.image.layer.v1.tar+gzip"},
	    {"application/vnd.docker.image.rootfs.diff.tar.zstd",
	     "application/vnd.oci.image.layer.v1.tar+zstd"},
	    {"application/vnd.docker.image.rootfs.diff.tar", COMMIT_MT_LAYER_TAR},
	    {"application/vnd.docker.container.image.v1+json", COMMIT_MT_CONFIG},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(mt, map[i][0]))
			return map[i][1];
	return mt;
}

static json_object *descriptor(const char *mt, const struct image_digest *d, int64_t size)
{
	json_object *o = json_object_new_object();
	char dg[IMAGE_DIGEST_STRLEN];

	json_object_object_add(o, "mediaType", json_object_new_string(mt));
	json_object_object_add(o, "digest", json_object_new_string(image_digest_format(d, dg)));
	json_object_object_add(o, "size", json_object_new_int64(size));
	return o;
}

int commit_make_manifest(const void *parent, size_t len, const struct image_digest *parent_id,
			 const struct image_digest *config, size_t config_len,
			 const struct image_digest *diff_id, uint64_t tar_size, char **out,
			 size_t *outlen)
{
	json_object *m = parse_obj(parent, len), *layers, *ann;
	char dg[IMAGE_DIGEST_STRLEN];
	int r;

	if (!m || !json_object_object_get_ex(m, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array)) {
		log_err("parent image manifest %s: not a manifest with layers",
			image_digest_format(parent_id, dg));
		json_object_put(m);
		return -EBADMSG;
	}
	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(COMMIT_MT_MANIFEST));
	json_object_object_add(m, "config",
			       descriptor(COMMIT_MT_CONFIG, config, (int64_t)config_len));
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		json_object *l = json_object_array_get_idx(layers, i), *mt;

		if (json_object_object_get_ex(l, "mediaType", &mt) &&
		    json_object_is_type(mt, json_type_string))
			json_object_object_add(l, "mediaType",
					       json_object_new_string(commit_oci_media_type(
						   json_object_get_string(mt))));
	}
	json_object_array_add(layers, descriptor(COMMIT_MT_LAYER_TAR, diff_id, (int64_t)tar_size));
	ann = get_obj(m, "annotations");
	json_object_object_add(ann, "org.opencontainers.image.base.digest",
			       json_object_new_string(image_digest_format(parent_id, dg)));
	r = dump(m, out, outlen);
	json_object_put(m);
	return r;
}
