// SPDX-License-Identifier: GPL-2.0-or-later
/* strata export: images to an OCI layout, oci-archive or docker-archive (strata-export(1)). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/export.h"
#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"

#define MAX_NAMES 16

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

struct tty_progress {
	bool on, dirty;
};

static int show_progress(void *arg, const struct export_progress *p)
{
	struct tty_progress *t = arg;
	char a[32], b[32], dg[IMAGE_DIGEST_STRLEN];
	double secs = (double)p->elapsed_ns / 1e9;

	if (interrupted)
		return 1;
	if (!t->on)
		return 0;
	fprintf(stderr, "\r\033[Kimage %zu/%zu layer %zu/%zu %.19s %s %s, %s/s", p->image + 1,
		p->nimages, p->layer + 1, p->nlayers, image_digest_format(p->diff_id, dg),
		p->reused ? "written already" : p->done ? "done" : "",
		strata_fmt_size(p->bytes, a, sizeof(a)),
		strata_fmt_size(secs > 0 ? (uint64_t)((double)p->total_bytes / secs) : 0, b,
				sizeof(b)));
	t->dirty = true;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: strata export [--compress gzip|zstd|none] [--level N] [--force]\n"
		"                     [--name REF]... [--quiet]\n"
		"                     (--oci-layout DIR | --oci-archive FILE | --docker-archive FILE)\n"
		"                     IMAGE...\n"
		"IMAGE: NAME[:TAG] or an image ID (prefix).  Layers are gzip by default in OCI\n"
		"outputs and always uncompressed in a docker-archive.  See strata-export(1).\n");
}

static int parse_comp(const char *s, enum image_compression *c)
{
	if (!strcmp(s, "gzip"))
		*c = IMAGE_COMP_GZIP;
	else if (!strcmp(s, "zstd"))
		*c = IMAGE_COMP_ZSTD;
	else if (!strcmp(s, "none"))
		*c = IMAGE_COMP_NONE;
	else
		return -EINVAL;
	return 0;
}

static int set_target(struct export_opts *o, const char **target, enum export_format f,
		      const char *arg)
{
	if (*target) {
		cmd_err("export: give one of --oci-layout, --oci-archive, --docker-archive");
		return 2;
	}
	if (!*arg) {
		cmd_err("export: empty %s path", export_format_name(f));
		return 2;
	}
	o->format = f;
	*target = arg;
	return 0;
}

/*
 * Names an image gets in the output: the --name values, else the tag it
 * was asked for by, else (asked for by ID) every tag it has.
 */
static int item_names(const struct catalog_image *im, const char *ref, const char ***names,
		      size_t *n)
{
	char nn[CATALOG_NAME_MAX + 1];

	*names = NULL;
	*n = 0;
	if (!catalog_normalize_name(ref, nn)) {
		for (size_t i = 0; i < im->ntags; i++) {
			if (strcmp(im->tags[i], nn))
				continue;
			*names = malloc(sizeof(**names));
			if (!*names)
				return -ENOMEM;
			(*names)[0] = im->tags[i];
			*n = 1;
			return 0;
		}
	}
	if (!im->ntags)
		return 0;
	*names = malloc(im->ntags * sizeof(**names));
	if (!*names)
		return -ENOMEM;
	for (size_t i = 0; i < im->ntags; i++)
		(*names)[i] = im->tags[i];
	*n = im->ntags;
	return 0;
}

/* The target's directory must exist (ENOENT later would mean a missing blob). */
static int check_parent(const char *target)
{
	char *t = strdup(target), *p;
	struct stat st;
	int r = 0;

	if (!t) {
		cmd_err("export: %s", strerror(ENOMEM));
		return 1;
	}
	p = dirname(t);
	if (stat(p, &st)) {
		cmd_err("export: %s: %s", p, strerror(errno));
		r = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		cmd_err("export: %s: %s", p, strerror(ENOTDIR));
		r = 1;
	}
	free(t);
	return r;
}

static void explain(const char *target, int r)
{
	switch (r) {
	case -ECANCELED:
		cmd_err("export: interrupted; nothing was written to %s", target);
		break;
	case -EEXIST:
		cmd_err("export: %s: exists (use --force to replace it)", target);
		break;
	case -EBADMSG:
		cmd_err("export: %s: a stored layer or blob does not match its digest (see above; "
			"run 'strata verify'); nothing was written",
			target);
		break;
	case -ENOENT:
		cmd_err("export: %s: a layer, blob or chunk is missing (see above); nothing was "
			"written",
			target);
		break;
	default:
		cmd_err("export: %s: %s; nothing was written", target, strerror(-r));
	}
}

int cmd_export(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, 'l' },
		{ "force", no_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "oci-layout", required_argument, NULL, 'O' },
		{ "oci-archive", required_argument, NULL, 'A' },
		{ "docker-archive", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct export_opts o = { .comp = IMAGE_COMP_AUTO };
	struct export_item *items = NULL;
	struct export_result *res = NULL;
	struct tty_progress tp = { 0 };
	const char *names[MAX_NAMES], *target = NULL;
	size_t nnames = 0, nitems = 0;
	bool quiet = false;
	struct img_ctx ctx;
	uint64_t t0;
	char *end;
	int c, r, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:l:fn:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_comp(optarg, &o.comp)) {
				cmd_err("export: bad --compress '%s' (gzip, zstd, none)", optarg);
				return 2;
			}
			break;
		case 'l':
			errno = 0;
			o.level = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || o.level < 1 || o.level > 22) {
				cmd_err("export: bad --level '%s' (gzip 1-9, zstd 1-22)", optarg);
				return 2;
			}
			break;
		case 'f':
			o.force = true;
			break;
		case 'n':
			if (nnames == MAX_NAMES) {
				cmd_err("export: at most %d names", MAX_NAMES);
				return 2;
			}
			names[nnames++] = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'O':
			if (set_target(&o, &target, EXPORT_OCI_LAYOUT, optarg))
				return 2;
			break;
		case 'A':
			if (set_target(&o, &target, EXPORT_OCI_ARCHIVE, optarg))
				return 2;
			break;
		case 'D':
			if (set_target(&o, &target, EXPORT_DOCKER_ARCHIVE, optarg))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!target) {
		cmd_err("export: say where: --oci-layout DIR, --oci-archive FILE or "
			"--docker-archive FILE");
		usage(stderr);
		return 2;
	}
	if (optind == argc) {
		cmd_err("export: name at least one IMAGE");
		usage(stderr);
		return 2;
	}
	if (nnames && argc - optind > 1) {
		cmd_err("export: --name applies to one IMAGE, %d given", argc - optind);
		return 2;
	}
	if (o.format == EXPORT_DOCKER_ARCHIVE && o.comp != IMAGE_COMP_AUTO &&
	    o.comp != IMAGE_COMP_NONE) {
		cmd_err("export: docker-archive layers are uncompressed tars (as docker save "
			"writes them): drop --compress");
		return 2;
	}
	if (o.level && (o.comp == IMAGE_COMP_NONE ||
			(o.comp == IMAGE_COMP_AUTO && o.format == EXPORT_DOCKER_ARCHIVE))) {
		cmd_err("export: --level needs --compress gzip or zstd");
		return 2;
	}
	if (o.level > 9 && o.comp != IMAGE_COMP_ZSTD) {
		cmd_err("export: gzip levels are 1-9");
		return 2;
	}
	/* docker RepoTags are NAME:TAG; OCI ref names are written as given. */
	for (size_t i = 0; i < nnames; i++) {
		char nn[CATALOG_NAME_MAX + 1];

		if (catalog_normalize_name(names[i], nn)) {
			cmd_err("export: '%s' is not a valid name (NAME[:TAG])", names[i]);
			return 2;
		}
		if (o.format == EXPORT_DOCKER_ARCHIVE && !strchr(names[i], ':')) {
			cmd_err("export: '%s': docker-archive names are NAME:TAG", names[i]);
			return 2;
		}
	}
	if (check_parent(target))
		return 1;
	items = calloc((size_t)(argc - optind), sizeof(*items));
	res = calloc((size_t)(argc - optind), sizeof(*res));
	if (!items || !res) {
		cmd_err("export: %s", strerror(ENOMEM));
		goto out_free;
	}
	tp.on = !quiet && isatty(STDERR_FILENO);
	o.progress = show_progress;
	o.progress_arg = &tp;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Shared lock: imports wait, gc cannot remove what is being read. */
	if (img_ctx_open(&ctx, "export", false, NULL))
		goto out_free;
	for (int a = optind; a < argc; a++) {
		const struct catalog_image *im;
		size_t k;

		r = catalog_resolve(ctx.cat, argv[a], &im);
		if (r) {
			img_resolve_err("export", argv[a], r);
			goto out;
		}
		for (k = 0; k < nitems && items[k].img != im; k++)
			;
		if (k < nitems) {
			cmd_err("export: %s: the same image as '%s'", argv[a],
				argv[optind + (int)k]);
			ret = 2;
			goto out;
		}
		items[nitems].img = im;
		if (nnames) {
			items[nitems].names = names;
			items[nitems].nnames = nnames;
		} else if (item_names(im, argv[a], (const char ***)&items[nitems].names,
				      &items[nitems].nnames)) {
			cmd_err("export: %s", strerror(ENOMEM));
			goto out;
		}
		nitems++;
	}
	t0 = strata_now_ns();
	r = export_images(ctx.cs, items, nitems, target, &o, res);
	if (tp.dirty)
		fprintf(stderr, "\r\033[K");
	if (r) {
		explain(target, r);
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		char id[IMAGE_DIGEST_STRLEN], md[IMAGE_DIGEST_STRLEN], a[32], b[32];
		const struct catalog_image *im = items[i].img;

		image_digest_format(&im->id, id);
		image_digest_format(&res[i].manifest, md);
		if (quiet) {
			printf("%s\n", o.format == EXPORT_DOCKER_ARCHIVE ? id : md);
			continue;
		}
		printf("exported %s (", id);
		for (size_t j = 0; j < items[i].nnames; j++)
			printf("%s%s", j ? ", " : "", items[i].names[j]);
		printf("%s): %zu layer%s, %s, %s written", items[i].nnames ? "" : "untagged",
		       res[i].nlayers, res[i].nlayers == 1 ? "" : "s",
		       strata_fmt_size(res[i].tar_bytes, a, sizeof(a)),
		       strata_fmt_size(res[i].blob_bytes, b, sizeof(b)));
		if (o.format != EXPORT_DOCKER_ARCHIVE)
			printf(", manifest %s%s", md, res[i].manifest_kept ? " (unchanged)" : "");
		putchar('\n');
	}
	if (!quiet)
		printf("wrote %s %s in %.2f s\n", export_format_name(o.format), target,
		       (double)(strata_now_ns() - t0) / 1e9);
	ret = 0;
out:
	if (img_ctx_close(&ctx, "export"))
		ret = 1;
out_free:
	for (size_t i = 0; items && i < nitems; i++)
		if (items[i].names != names)
			free((void *)items[i].names);
	free(items);
	free(res);
	return ret;
}
