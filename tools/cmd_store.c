// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strata store init|info|set and strata fsck: create, describe, configure
 * and check a store.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "strata/catalog.h"
#include "strata/dedup.h"
#include "strata/log.h"
#include "strata/store.h"
#include "strata/util.h"
#include "tools/cmd.h"

/* Policy settings given on a command line; NULL: not given. */
struct policy_args {
	const char *compress, *chunk_size, *whole_max;
};

/*
 * Apply a to *p: compress, then chunk-size (which resets the whole-file
 * threshold to AVG), then whole-max; "default" unsets a setting.  Prints
 * the reason and returns 2 for a bad value, else 0.
 */
static int policy_apply(const char *what, const struct policy_args *a,
			struct dedup_store_policy *p)
{
	struct dedup_store_policy def;
	const char *why;
	uint32_t wm;

	dedup_store_policy_default(&def);
	if (a->compress && !strcmp(a->compress, "default")) {
		p->has_compress = false;
		p->compress = def.compress;
	} else if (a->compress) {
		if (dedup_compress_policy_parse(a->compress, &p->compress)) {
			cmd_err("%s: bad compress '%s' (none, zstd or zstd:LEVEL, level 1..22, "
				"negative for fast levels)",
				what, a->compress);
			return 2;
		}
		p->has_compress = true;
	}
	if (a->chunk_size && !strcmp(a->chunk_size, "default")) {
		p->has_chunking = false;
		p->chunking = def.chunking;
	} else if (a->chunk_size) {
		if (dedup_chunking_parse(a->chunk_size, &p->chunking, &why)) {
			cmd_err("%s: bad chunk size '%s': %s", what, a->chunk_size, why);
			return 2;
		}
		p->has_chunking = true;
	}
	if (a->whole_max) {
		if (!strcmp(a->whole_max, "default")) {
			wm = 0;
		} else if (dedup_whole_max_parse(a->whole_max, &wm, &why)) {
			cmd_err("%s: bad whole-max '%s': %s", what, a->whole_max, why);
			return 2;
		}
		p->chunking.whole_max = wm;
		p->has_chunking = p->has_chunking || wm;
		if (wm > p->chunking.max_size) {
			char b[2][32];

			cmd_err("%s: whole-max %s is above the maximum chunk size %s", what,
				strata_fmt_size(wm, b[0], 32),
				strata_fmt_size(p->chunking.max_size, b[1], 32));
			return 2;
		}
	}
	return 0;
}

static bool policy_given(const struct policy_args *a)
{
	return a->compress || a->chunk_size || a->whole_max;
}

/* "min 16.0 KiB, avg 64.0 KiB, max 256.0 KiB; whole files up to 64.0 KiB" into buf. */
static char *chunking_str(const struct dedup_chunker_params *c, char *buf, size_t len)
{
	char b[4][32];

	snprintf(buf, len, "min %s, avg %s, max %s; whole files up to %s",
		 strata_fmt_size(c->min_size, b[0], 32), strata_fmt_size(c->avg_size, b[1], 32),
		 strata_fmt_size(c->max_size, b[2], 32),
		 strata_fmt_size(c->whole_max ? c->whole_max : c->avg_size, b[3], 32));
	return buf;
}

/* Open path read-write under the exclusive catalog lock and save *p's changes. */
static int policy_store(const char *what, const char *path, const struct policy_args *a,
			struct dedup_store_policy *out)
{
	struct store_open_opts o = { .path = path, .direct = -1 };
	struct store *s = NULL;
	int fd = -1, r, ret = 1;

	r = catalog_lock(path, true, false, &fd);
	if (r == -EWOULDBLOCK) {
		fprintf(stderr, "strata: %s: waiting for another strata process using %s\n", what,
			path);
		r = catalog_lock(path, true, true, &fd);
	}
	if (r) {
		if (r == -ENOENT)
			cmd_err("%s: %s: no such store (create one with 'strata store init')", what,
				path);
		else
			cmd_err("%s: %s: cannot lock: %s", what, path, strerror(-r));
		return 1;
	}
	r = store_open(&o, &s);
	if (r) {
		cmd_err("%s: %s: cannot open the store: %s", what, path, strerror(-r));
		goto out;
	}
	r = dedup_store_policy_load(s, out);
	if (r && r != -EBADMSG) {
		cmd_err("%s: %s: cannot read the store policy: %s", what, path, strerror(-r));
		goto out;
	}
	if (r == -EBADMSG)
		fprintf(stderr, "strata: %s: %s: the store policy was unreadable; replacing it\n",
			what, path);
	ret = policy_apply(what, a, out);
	if (ret)
		goto out;
	ret = 1;
	r = dedup_store_policy_save(s, out);
	if (r) {
		cmd_err("%s: %s: cannot save the store policy: %s", what, path, strerror(-r));
		goto out;
	}
	ret = 0;
out:
	r = store_close(s);
	if (r && !ret) {
		cmd_err("%s: %s: closing the store: %s", what, path, strerror(-r));
		ret = 1;
	}
	catalog_unlock(fd);
	return ret;
}

static int store_init(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'L' },
		{ "segment-size", required_argument, NULL, 'g' },
		{ "force", no_argument, NULL, 'F' },
		{ "compress", required_argument, NULL, 'c' },
		{ "chunk-size", required_argument, NULL, 'C' },
		{ "whole-max", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_create_opts o = { 0 };
	struct policy_args pa = { 0 };
	struct dedup_store_policy pol;
	const char *dev = NULL, *file = NULL;
	uint64_t v;
	char sz[32];
	int c, r;

	while ((c = getopt_long(argc, argv, "d:f:s:L:F", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 's':
			if (strata_parse_size(optarg, &o.size) || o.size == 0) {
				cmd_err("store init: bad --size '%s' (e.g. 4G, 512M)", optarg);
				return 2;
			}
			break;
		case 'L':
			o.label = optarg;
			break;
		case 'g':
			if (strata_parse_size(optarg, &v) || v > UINT32_MAX) {
				cmd_err("store init: bad --segment-size '%s'", optarg);
				return 2;
			}
			o.segment_size = (uint32_t)v;
			break;
		case 'F':
			o.force = true;
			break;
		case 'c':
			pa.compress = optarg;
			break;
		case 'C':
			pa.chunk_size = optarg;
			break;
		case 'W':
			pa.whole_max = optarg;
			break;
		case 'h':
			printf("usage: strata store init [--device DEV | --file PATH --size N] "
			       "[--label L] [--segment-size N] [--force]\n"
			       "                         [--compress none|zstd[:LEVEL]] "
			       "[--chunk-size MIN:AVG:MAX] [--whole-max SIZE]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		cmd_err("store init: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (dev && file) {
		cmd_err("store init: --device and --file exclude each other");
		return 2;
	}
	if (dev) {
		struct stat st;

		if (o.size) {
			cmd_err("store init: --size applies to --file only (a device is used whole)");
			return 2;
		}
		if (stat(dev, &st) < 0) {
			cmd_err("store init: %s: %s", dev, strerror(errno));
			return 1;
		}
		if (!S_ISBLK(st.st_mode)) {
			cmd_err("store init: %s: not a block device (use --file for a regular file)",
				dev);
			return 1;
		}
		o.path = dev;
	} else {
		o.path = file ? file : cmd_store_path(NULL);
		if (!o.size) {
			struct stat st;

			if (stat(o.path, &st) < 0 || st.st_size == 0)
				o.size = 4ull << 30; /* sparse: costs nothing until written */
		}
		if (!file) {
			char dir[4096];

			snprintf(dir, sizeof(dir), "%s", o.path);
			if (strata_mkdir_p(dirname(dir), 0700) < 0) {
				cmd_err("store init: cannot create %s: %s", dir, strerror(errno));
				return 1;
			}
		}
	}
	if (o.label && strlen(o.label) >= STORE_LABEL_MAX) {
		cmd_err("store init: label longer than %d bytes", STORE_LABEL_MAX - 1);
		return 2;
	}
	/* Check the policy before anything is written. */
	dedup_store_policy_default(&pol);
	if ((r = policy_apply("store init", &pa, &pol)))
		return r;

	r = store_create(&o);
	switch (r) {
	case 0:
		break;
	case -EEXIST:
		cmd_err("store init: %s is in use; nothing written (--force overwrites it)",
			o.path);
		return 1;
	case -ENOSPC:
		cmd_err("store init: %s: too small (a store needs at least %s)", o.path,
			strata_fmt_size(STORE_MIN_SIZE, sz, sizeof(sz)));
		return 1;
	default:
		cmd_err("store init: %s: %s", o.path, strerror(-r));
		return 1;
	}
	printf("created store %s\n", o.path);
	if (policy_given(&pa) && policy_store("store init", o.path, &pa, &pol)) {
		cmd_err("store init: %s: created, but without its policy (retry with "
			"'strata store set')",
			o.path);
		return 1;
	}
	return 0;
}

static int parse_store_only(const char *what, int argc, char **argv, const char **path,
			    bool *json)
{
	static const struct option lopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *opt = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "S:", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			opt = optarg;
			break;
		case 'j':
			if (!json)
				return 2;
			*json = true;
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		opt = argv[optind++];
	if (optind != argc) {
		cmd_err("%s: unexpected argument '%s'", what, argv[optind]);
		return 2;
	}
	*path = cmd_store_path(opt);
	return 0;
}

/* Explain a store_open()/store_fsck() error in words a user can act on. */
static void open_err(const char *what, const char *path, int r)
{
	switch (r) {
	case -ENOENT:
		cmd_err("%s: %s: no such store (create one with 'strata store init')", what,
			path);
		break;
	case -EINVAL:
	case -EUCLEAN:
		cmd_err("%s: %s: not a strata store, or its superblock is damaged", what, path);
		break;
	case -EPROTONOSUPPORT:
		cmd_err("%s: %s: made by a newer strata (format version > %d); upgrade strata",
			what, path, STORE_FORMAT_VERSION);
		break;
	case -EBUSY:
	case -EAGAIN:
		cmd_err("%s: %s: in use by another process", what, path);
		break;
	default:
		cmd_err("%s: %s: %s", what, path, strerror(-r));
	}
}

static int store_info(int argc, char **argv)
{
	struct store_open_opts o = { .read_only = true, .direct = -1 };
	struct store_stats st;
	struct store_info in;
	struct dedup_store_policy pol;
	struct store *s;
	bool json = false, pol_bad;
	char uuid[37], b[6][128], comp[32];
	uint32_t wm;
	int r;

	if ((r = parse_store_only("store info", argc, argv, &o.path, &json)))
		return r;
	r = store_open(&o, &s);
	if (r < 0) {
		open_err("store info", o.path, r);
		return 1;
	}
	store_get_stats(s, &st);
	store_get_info(s, &in);
	store_uuid_str(in.uuid, uuid);
	r = dedup_store_policy_load(s, &pol);
	if (r && r != -EBADMSG) {
		cmd_err("store info: %s: cannot read the store policy: %s", o.path, strerror(-r));
		store_close(s);
		return 1;
	}
	pol_bad = r == -EBADMSG;
	dedup_compress_policy_format(&pol.compress, comp, sizeof(comp));
	wm = pol.chunking.whole_max ? pol.chunking.whole_max : pol.chunking.avg_size;
	if (json) {
		printf("{\"path\":\"%s\",\"uuid\":\"%s\",\"label\":\"%s\",\"version\":%u,"
		       "\"created\":%llu,\"block_device\":%s,\"direct_io\":%s,"
		       "\"block_size\":%u,\"logical_sector\":%u,\"physical_sector\":%u,"
		       "\"optimal_io\":%u,\"size\":%llu,\"capacity\":%llu,\"used\":%llu,"
		       "\"reclaimable\":%llu,\"free\":%llu,\"records\":%llu,"
		       "\"segment_size\":%u,\"segments\":%llu,\"free_segments\":%llu,"
		       "\"checkpoint_gen\":%llu",
		       o.path, uuid, in.label, in.version, (unsigned long long)in.created,
		       in.is_block_device ? "true" : "false", in.direct_io ? "true" : "false",
		       in.block_size, in.logical_sector, in.physical_sector, in.optimal_io,
		       (unsigned long long)st.device_size, (unsigned long long)st.capacity,
		       (unsigned long long)st.used, (unsigned long long)st.reclaimable,
		       (unsigned long long)st.free, (unsigned long long)st.records,
		       st.segment_size, (unsigned long long)st.segments,
		       (unsigned long long)st.free_segments,
		       (unsigned long long)st.checkpoint_gen);
		printf(",\"compress\":\"%s\",\"compress_set\":%s,\"chunk_min\":%u,"
		       "\"chunk_avg\":%u,\"chunk_max\":%u,\"whole_max\":%u,\"chunking_set\":%s,"
		       "\"policy_generation\":%llu,\"policy_ok\":%s}\n",
		       comp, pol.has_compress ? "true" : "false", pol.chunking.min_size,
		       pol.chunking.avg_size, pol.chunking.max_size, wm,
		       pol.has_chunking ? "true" : "false", (unsigned long long)pol.generation,
		       pol_bad ? "false" : "true");
	} else {
		time_t t = (time_t)in.created;
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime(&t));
		printf("store:           %s (%s)\n", o.path,
		       in.is_block_device ? "block device" : "file");
		printf("uuid:            %s\n", uuid);
		printf("label:           %s\n", in.label[0] ? in.label : "(none)");
		printf("format version:  %u\n", in.version);
		printf("created:         %s\n", when);
		printf("sectors:         logical %u, physical %u, optimal I/O %u\n",
		       in.logical_sector, in.physical_sector, in.optimal_io);
		printf("I/O:             block %u, %s\n", in.block_size,
		       in.direct_io ? "O_DIRECT" : "buffered");
		printf("size:            %s (capacity %s)\n",
		       strata_fmt_size(st.device_size, b[0], 128),
		       strata_fmt_size(st.capacity, b[1], 128));
		printf("used:            %s in %llu records\n",
		       strata_fmt_size(st.used, b[2], 128), (unsigned long long)st.records);
		printf("reclaimable:     %s\n", strata_fmt_size(st.reclaimable, b[3], 128));
		printf("free:            %s\n", strata_fmt_size(st.free, b[4], 128));
		printf("segments:        %llu of %s, %llu free\n",
		       (unsigned long long)st.segments,
		       strata_fmt_size(st.segment_size, b[5], 128),
		       (unsigned long long)st.free_segments);
		printf("checkpoint:      generation %llu\n",
		       (unsigned long long)st.checkpoint_gen);
		printf("compress:        %s (%s)\n", comp,
		       pol_bad ? "policy unreadable: default" :
		       pol.has_compress ? "store policy" : "default");
		printf("chunking:        %s (%s)\n", chunking_str(&pol.chunking, b[0], 128),
		       pol_bad ? "policy unreadable: default" :
		       pol.has_chunking ? "store policy" : "default");
	}
	r = store_close(s);
	if (r < 0) {
		open_err("store info", o.path, r);
		return 1;
	}
	return 0;
}

static void set_usage(FILE *f)
{
	fprintf(f, "usage: strata store set [--store PATH] KEY=VALUE...\n"
		   "keys: compress=none|zstd[:LEVEL]|default\n"
		   "      chunk-size=MIN:AVG:MAX|default   (e.g. 16K:64K:256K)\n"
		   "      whole-max=SIZE|default            (files up to SIZE are one object)\n");
}

static int store_set(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dedup_store_policy pol;
	struct policy_args pa = { 0 };
	const char *opt = NULL, *path;
	char comp[32], ch[160];
	int c;

	while ((c = getopt_long(argc, argv, "S:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			opt = optarg;
			break;
		case 'h':
			set_usage(stdout);
			return 0;
		default:
			set_usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		set_usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t kl = eq ? (size_t)(eq - argv[i]) : 0;

		if (eq && kl == 8 && !strncmp(argv[i], "compress", kl)) {
			pa.compress = eq + 1;
		} else if (eq && kl == 10 && !strncmp(argv[i], "chunk-size", kl)) {
			pa.chunk_size = eq + 1;
		} else if (eq && kl == 9 && !strncmp(argv[i], "whole-max", kl)) {
			pa.whole_max = eq + 1;
		} else {
			cmd_err("store set: '%s': expected compress=, chunk-size= or whole-max=",
				argv[i]);
			return 2;
		}
	}
	path = cmd_store_path(opt);
	c = policy_store("store set", path, &pa, &pol);
	if (c)
		return c;
	printf("compress:        %s%s\n", dedup_compress_policy_format(&pol.compress, comp, 32),
	       pol.has_compress ? "" : " (default)");
	printf("chunking:        %s%s\n", chunking_str(&pol.chunking, ch, sizeof(ch)),
	       pol.has_chunking ? "" : " (default)");
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "repair", no_argument, NULL, 'r' },
		{ "no-data", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_fsck_opts o = { .verify_data = true };
	struct store_fsck_report rep = { 0 };
	const char *opt = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "S:rn", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			opt = optarg;
			break;
		case 'r':
			o.repair = true;
			break;
		case 'n':
			o.verify_data = false;
			break;
		case 'h':
			printf("usage: strata fsck [--repair] [--no-data] [STORE]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		opt = argv[optind++];
	if (optind != argc) {
		cmd_err("fsck: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	o.path = cmd_store_path(opt);
	r = store_fsck(&o, &rep);
	if (r < 0 && r != -EUCLEAN) {
		open_err("fsck", o.path, r);
		return 1;
	}
	if (r == -EUCLEAN && !rep.superblock_ok) {
		open_err("fsck", o.path, -EUCLEAN);
		return 1;
	}
	printf("%s: %llu records, %llu bad, %llu torn bytes dropped, %llu replayed, "
	       "checkpoint generation %llu%s%s\n",
	       o.path, (unsigned long long)rep.records, (unsigned long long)rep.bad_records,
	       (unsigned long long)rep.torn_bytes, (unsigned long long)rep.replayed,
	       (unsigned long long)rep.checkpoint_gen,
	       rep.checkpoint_ok ? "" : ", checkpoint unreadable (log scanned)",
	       rep.accounting_ok ? "" : ", space accounting mismatch");
	if (r == -EUCLEAN) {
		cmd_err("fsck: %s: damage found (details above)", o.path);
		return 1;
	}
	printf("%s: clean\n", o.path);
	return 0;
}

int cmd_store(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "init", store_init, "create a store on a file or block device" },
		{ "info", store_info, "show a store's identity, geometry, space and policy" },
		{ "set", store_set, "set the store's compression and chunking policy" },
		{ NULL, NULL, NULL },
	};

	return cmd_dispatch("store", cmds, argc - 1, argv + 1);
}
