// SPDX-License-Identifier: GPL-2.0-or-later
/* strata which: the layer (or the upper) a path of a strata mount comes
 * from.  strata-fuse answers the virtual xattr user.strata.origin (and
 * trusted.strata.origin on symlinks and special files, where the kernel
 * refuses user.* names) with "layer N ID", "upper metacopy layer N ID" or
 * "upper" (fs/origin.c); the container record, when one mounted the path,
 * adds the image's layer digest. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "tools/cmd.h"
#include "tools/cmd_image.h"
#include "tools/container.h"

struct origin {
	bool upper, metacopy;
	bool layer_known;	/* layer and id below are set */
	unsigned layer;		/* from the bottom, 0-based */
	char id[PATH_MAX];	/* sha256:<DiffID> or a host directory */
	/* from the container record and the catalog */
	struct container ct;
	bool have_ct;
	size_t nlayers;		/* 0: unknown */
	char digest[IMAGE_DIGEST_STRLEN];
	bool diff_mismatch;
};

static int parse_origin(const char *v, struct origin *o)
{
	int n = 0;

	if (!strcmp(v, "upper")) {
		o->upper = true;
		return 0;
	}
	if (!strncmp(v, "upper metacopy ", 15)) {
		o->upper = o->metacopy = true;
		v += 15;
	}
	if (sscanf(v, "layer %u %n", &o->layer, &n) != 1 || !n || !v[n] ||
	    strlen(v + n) >= sizeof(o->id))
		return -EBADMSG;
	snprintf(o->id, sizeof(o->id), "%s", v + n);
	o->layer_known = true;
	return 0;
}

/* The absolute path of p without following its last component. */
static char *abs_path(const char *p)
{
	char *d = strdup(p), *b = strdup(p), *rd = NULL, *out = NULL;
	const char *base;

	if (!d || !b)
		goto out;
	base = basename(b);
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		out = realpath(p, NULL);
		goto out;
	}
	rd = realpath(dirname(d), NULL);
	if (rd && asprintf(&out, "%s%s%s", rd, strcmp(rd, "/") ? "/" : "", base) < 0)
		out = NULL;
out:
	free(d);
	free(b);
	free(rd);
	return out;
}

/* The container whose mountpoint holds path (the deepest one). */
static bool find_container(const char *path, struct container *ct)
{
	char **names;
	size_t n, best = 0;
	bool found = false;

	if (container_list(&names, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct container c;
		size_t l;

		if (container_load(names[i], &c) == 0) {
			l = strlen(c.mountpoint);
			if (l > best && !strncmp(path, c.mountpoint, l) &&
			    (path[l] == '/' || !path[l]) && container_is_mounted(c.mountpoint)) {
				if (found)
					container_free(ct);
				*ct = c;
				best = l;
				found = true;
			} else {
				container_free(&c);
			}
		}
		free(names[i]);
	}
	free(names);
	return found;
}

/* Layer count and digest from the image the container mounted. */
static void from_catalog(struct origin *o)
{
	const struct catalog_image *img;
	const char *old = getenv("STRATA_STORE");
	char *saved = old ? strdup(old) : NULL, dg[IMAGE_DIGEST_STRLEN];
	struct img_ctx c;

	setenv("STRATA_STORE", o->ct.store, 1);
	if (img_ctx_open(&c, "which", false, NULL) == 0) {
		if (catalog_resolve(c.cat, o->ct.image, &img) == 0) {
			o->nlayers = img->nlayers;
			if (o->layer_known && o->layer < img->nlayers) {
				const struct catalog_layer *l = &img->layers[o->layer];

				image_digest_format(&l->digest, o->digest);
				image_digest_format(&l->diff_id, dg);
				/* Only a store layer carries a DiffID. */
				o->diff_mismatch =
					!strncmp(o->id, "sha256:", 7) && strcmp(dg, o->id);
			}
		}
		img_ctx_close(&c, "which");
	}
	if (saved)
		setenv("STRATA_STORE", saved, 1);
	else
		unsetenv("STRATA_STORE");
	free(saved);
}

static json_object *to_json(const char *path, const char *rel, const struct origin *o)
{
	json_object *j = json_object_new_object();
	char up[PATH_MAX * 2];

	if (!j)
		return NULL;
	json_object_object_add(j, "path", json_object_new_string(path));
	json_object_object_add(j, "origin", json_object_new_string(o->upper ? "upper" : "layer"));
	json_object_object_add(j, "metacopy", json_object_new_boolean(o->metacopy));
	if (o->layer_known) {
		json_object_object_add(j, o->metacopy ? "data_layer" : "layer",
				       json_object_new_int((int)o->layer));
		json_object_object_add(j, !strncmp(o->id, "sha256:", 7) ? "diff_id" : "directory",
				       json_object_new_string(o->id));
	}
	json_object_object_add(j, "layers",
			       o->nlayers ? json_object_new_int64((int64_t)o->nlayers) : NULL);
	json_object_object_add(j, "digest",
			       o->digest[0] ? json_object_new_string(o->digest) : NULL);
	if (o->have_ct) {
		json_object_object_add(j, "container", json_object_new_string(o->ct.name));
		json_object_object_add(j, "image", json_object_new_string(o->ct.image));
		json_object_object_add(j, "ref",
				       o->ct.ref ? json_object_new_string(o->ct.ref) : NULL);
		if (o->upper) {
			snprintf(up, sizeof(up), "%s%s%s", o->ct.upper, strcmp(rel, ".") ? "/" : "",
				 strcmp(rel, ".") ? rel : "");
			json_object_object_add(j, "upper_path", json_object_new_string(up));
		}
	}
	return j;
}

static void print_text(const char *path, const char *rel, const struct origin *o)
{
	char of[48] = "";

	if (o->nlayers)
		snprintf(of, sizeof(of), " of %zu", o->nlayers);
	printf("path:      %s\n", path);
	if (o->upper && !o->metacopy)
		printf("origin:    upper\n");
	else if (o->metacopy)
		printf("origin:    upper (metadata only; data from layer %u%s, 0 = bottom)\n",
		       o->layer, of);
	else
		printf("origin:    layer %u%s (0 = bottom, as in the manifest)\n", o->layer, of);
	if (o->layer_known)
		printf("%-10s %s\n", !strncmp(o->id, "sha256:", 7) ? "diff_id:" : "directory:",
		       o->id);
	if (o->digest[0])
		printf("digest:    %s\n", o->digest);
	if (o->have_ct) {
		printf("container: %s\n", o->ct.name);
		printf("image:     %s%s%s%s\n", o->ct.ref ? o->ct.ref : "", o->ct.ref ? " (" : "",
		       o->ct.image, o->ct.ref ? ")" : "");
		if (o->upper)
			printf("upper:     %s%s%s\n", o->ct.upper, strcmp(rel, ".") ? "/" : "",
			       strcmp(rel, ".") ? rel : "");
	}
}

/* getxattr of the origin: user.* first, trusted.* where the kernel
 * refuses user.* (symlinks, devices). */
static ssize_t read_origin(const char *path, char *v, size_t size)
{
	ssize_t n = lgetxattr(path, "user.strata.origin", v, size - 1);

	if (n < 0 && (errno == ENODATA || errno == EPERM || errno == ENOTSUP))
		n = lgetxattr(path, "trusted.strata.origin", v, size - 1);
	if (n >= 0)
		v[n] = '\0';
	return n;
}

static void usage_which(FILE *f)
{
	fprintf(f, "usage: strata which [--format text|json] PATH...\n");
}

int cmd_which(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *arr = NULL;
	bool json = false;
	int ch, ret = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (!strcmp(optarg, "json")) {
				json = true;
			} else if (strcmp(optarg, "text")) {
				cmd_err("which: unknown format '%s' (text or json)", optarg);
				return 2;
			}
			break;
		case 'h':
			usage_which(stdout);
			return 0;
		default:
			usage_which(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage_which(stderr);
		return 2;
	}
	if (json && argc - optind > 1 && !(arr = json_object_new_array())) {
		cmd_err("which: %s", strerror(ENOMEM));
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		const char *p = argv[i], *rel;
		struct origin o = { 0 };
		char v[PATH_MAX + 64], *abs;
		ssize_t n = read_origin(p, v, sizeof(v));

		if (n < 0) {
			if (errno == ENODATA || errno == ENOTSUP || errno == EPERM)
				cmd_err("which: %s: not in a strata mount", p);
			else
				cmd_err("which: %s: %s", p, strerror(errno));
			ret = 1;
			continue;
		}
		if (parse_origin(v, &o)) {
			cmd_err("which: %s: unexpected origin '%s'", p, v);
			ret = 1;
			continue;
		}
		abs = abs_path(p);
		if (abs && find_container(abs, &o.ct)) {
			o.have_ct = true;
			from_catalog(&o);
		}
		rel = abs ? abs : p;
		if (o.have_ct) {
			rel += strlen(o.ct.mountpoint);
			rel += *rel == '/';
			if (!*rel)
				rel = ".";
		}
		if (o.diff_mismatch)
			fprintf(stderr, "strata: which: %s: warning: mounted layer %s is not "
					"the image's layer %u\n", p, o.id, o.layer);
		if (json) {
			json_object *j = to_json(abs ? abs : p, rel, &o);

			if (!j) {
				cmd_err("which: %s", strerror(ENOMEM));
				ret = 1;
			} else if (arr) {
				json_object_array_add(arr, j);
			} else {
				printf("%s\n", json_object_to_json_string_ext(
						       j, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
				json_object_put(j);
			}
		} else {
			if (i > optind)
				putchar('\n');
			print_text(abs ? abs : p, rel, &o);
		}
		if (o.have_ct)
			container_free(&o.ct);
		free(abs);
	}
	if (arr) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	return ret;
}
