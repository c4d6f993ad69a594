// SPDX-License-Identifier: GPL-2.0-or-later
/* strata import: bring images into the store (see strata(1), IMAGES). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/import.h"
#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

struct tty_progress {
	bool on;
	bool dirty;
};

static int show_progress(void *arg, const struct import_progress *p)
{
	struct tty_progress *t = arg;
	char a[32], b[32], dg[IMAGE_DIGEST_STRLEN] = "";
	double secs = (double)p->elapsed_ns / 1e9;

	if (interrupted)
		return 1;
	if (!t->on)
		return 0;
	if (p->diff_id)
		image_digest_format(p->diff_id, dg);
	fprintf(stderr, "\r\033[Kimage %zu/%zu layer %zu/%zu %.19s %s %s, %s/s", p->image + 1,
		p->nimages, p->layer + 1, p->nlayers, dg[0] ? dg : "sha256:?",
		p->skipped ? "already stored" : p->done ? "done" : "",
		strata_fmt_size(p->bytes, a, sizeof(a)),
		strata_fmt_size(secs > 0 ? (uint64_t)((double)p->total_bytes / secs) : 0, b,
				sizeof(b)));
	t->dirty = true;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: strata import [--tar] [--name NAME:TAG]... [--ref REF | --all] [--quiet]\n"
		   "                     [--compress none|zstd[:LEVEL]] [--chunk-size MIN:AVG:MAX]\n"
		   "                     [--whole-max SIZE] SOURCE\n"
		   "SOURCE: an OCI layout directory, an oci-archive, a docker-archive, or with\n"
		   "--tar a rootfs tarball (plain, gzip or zstd).  Compression and chunking\n"
		   "default to the store's policy (strata store info, strata store set).\n");
}

int cmd_import(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "tar", no_argument, NULL, 't' },	  { "name", required_argument, NULL, 'n' },
		{ "ref", required_argument, NULL, 'r' },  { "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },	  { "compress", required_argument, NULL, 'c' },
		{ "chunk-size", required_argument, NULL, 'C' },
		{ "whole-max", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	struct dedup_compress_policy pol = { DEDUP_COMPRESS_ZSTD, 0 };
	struct dedup_chunker_params chunk_opt;
	struct dedup_store_policy sp;
	bool pol_given = false, chunk_given = false, whole_given = false;
	uint32_t whole_opt = 0;
	const char *why;
	struct import_opts o = { 0 };
	struct tty_progress tp = { 0 };
	struct import_result *res = NULL;
	struct img_ctx ctx;
	const char *names[16];
	const char *env = getenv("STRATA_COMPRESS");
	size_t nres = 0;
	bool quiet = false;
	uint64_t t0;
	int c, r, ret = 0;

	if (env && *env) {
		if (dedup_compress_policy_parse(env, &pol)) {
			cmd_err("import: bad STRATA_COMPRESS '%s' (none, zstd, zstd:N)", env);
			return 2;
		}
		pol_given = true;
	}
	while ((c = getopt_long(argc, argv, "tn:r:aqc:h", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.kind = IMAGE_SRC_ROOTFS_TAR;
			break;
		case 'n':
			if (o.nnames == ARRAY_SIZE(names)) {
				cmd_err("import: at most %zu names", ARRAY_SIZE(names));
				return 2;
			}
			names[o.nnames++] = optarg;
			break;
		case 'r':
			o.ref = optarg;
			break;
		case 'a':
			o.all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'c':
			if (dedup_compress_policy_parse(optarg, &pol)) {
				cmd_err("import: bad --compress '%s' (none, zstd, zstd:N)", optarg);
				return 2;
			}
			pol_given = true;
			break;
		case 'C':
			if (dedup_chunking_parse(optarg, &chunk_opt, &why)) {
				cmd_err("import: bad --chunk-size '%s': %s", optarg, why);
				return 2;
			}
			chunk_given = true;
			break;
		case 'W':
			if (dedup_whole_max_parse(optarg, &whole_opt, &why)) {
				cmd_err("import: bad --whole-max '%s': %s", optarg, why);
				return 2;
			}
			whole_given = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (o.all && o.ref) {
		cmd_err("import: --ref and --all exclude each other");
		return 2;
	}
	if (o.nnames) {
		char nn[CATALOG_NAME_MAX + 1];

		for (size_t i = 0; i < o.nnames; i++) {
			if (catalog_normalize_name(names[i], nn)) {
				cmd_err("import: '%s' is not a valid name (NAME[:TAG])", names[i]);
				return 2;
			}
		}
		o.names = names;
	}
	tp.on = !quiet && isatty(STDERR_FILENO);
	o.progress = show_progress;
	o.progress_arg = &tp;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (img_ctx_open(&ctx, "import", true, NULL))
		return 1;
	/* Built-in default < store policy < STRATA_COMPRESS < options. */
	r = dedup_store_policy_load(ctx.s, &sp);
	if (r == -EBADMSG) {
		fprintf(stderr, "strata: import: %s: the store policy is unreadable; using the "
				"defaults (fix it with 'strata store set')\n",
			ctx.path);
	} else if (r) {
		cmd_err("import: %s: cannot read the store policy: %s", ctx.path, strerror(-r));
		img_ctx_close(&ctx, "import");
		return 1;
	}
	if (!pol_given)
		pol = sp.compress;
	if (chunk_given)
		sp.chunking = chunk_opt;
	if (whole_given)
		sp.chunking.whole_max = whole_opt;
	if ((why = dedup_chunker_params_why(&sp.chunking))) {
		cmd_err("import: chunking %u:%u:%u with whole-max %u: %s", sp.chunking.min_size,
			sp.chunking.avg_size, sp.chunking.max_size, sp.chunking.whole_max, why);
		img_ctx_close(&ctx, "import");
		return 2;
	}
	o.chunking = &sp.chunking;
	chunkstore_destroy(ctx.cs);
	r = chunkstore_create(ctx.s, &pol, &ctx.cs);
	if (r) {
		char pb[32];

		ctx.cs = NULL;
		cmd_err("import: compression %s: %s",
			dedup_compress_policy_format(&pol, pb, sizeof(pb)), strerror(-r));
		img_ctx_close(&ctx, "import");
		return 1;
	}
	t0 = strata_now_ns();
	r = import_source(ctx.cs, ctx.cat, argv[optind], &o, &res, &nres);
	if (tp.dirty)
		fprintf(stderr, "\r\033[K");
	if (r) {
		switch (r) {
		case -ECANCELED:
			cmd_err("import: %s: interrupted; no image was added", argv[optind]);
			break;
		case -ENOENT:
			cmd_err("import: %s: not found (no such file, image or blob; see above)",
				argv[optind]);
			break;
		case -EBADMSG:
			cmd_err("import: %s: malformed or unsafe input, or a digest mismatch "
				"(see above); no image was added",
				argv[optind]);
			break;
		case -ENOTSUP:
			cmd_err("import: %s: unsupported image format", argv[optind]);
			break;
		default:
			cmd_err("import: %s: %s; no image was added", argv[optind], strerror(-r));
		}
		ret = 1;
	}
	for (size_t i = 0; i < nres; i++) {
		char dg[IMAGE_DIGEST_STRLEN], a[32], b[32];
		double secs = (double)(strata_now_ns() - t0) / 1e9;

		image_digest_format(&res[i].id, dg);
		if (quiet) {
			printf("%s\n", dg);
			continue;
		}
		printf("imported %s%s%s%s: %zu layer%s (%zu new), %s, %s new stored, %.2f s\n", dg,
		       res[i].names[0] ? " (" : "", res[i].names, res[i].names[0] ? ")" : "",
		       res[i].nlayers, res[i].nlayers == 1 ? "" : "s", res[i].layers_new,
		       strata_fmt_size(res[i].logical, a, sizeof(a)),
		       strata_fmt_size(res[i].stored_bytes, b, sizeof(b)), secs);
	}
	import_results_free(res, nres);
	if (img_ctx_close(&ctx, "import"))
		ret = 1;
	return ret;
}
