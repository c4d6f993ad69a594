// SPDX-License-Identifier: GPL-2.0-or-later
/* strata store init|info and strata fsck: create, describe and check a store. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "strata/log.h"
#include "strata/store.h"
#include "strata/util.h"
#include "tools/cmd.h"

static int store_init(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'L' },
		{ "segment-size", required_argument, NULL, 'g' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_create_opts o = { 0 };
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
		case 'h':
			printf("usage: strata store init [--device DEV | --file PATH --size N] "
			       "[--label L] [--segment-size N] [--force]\n");
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
	struct store *s;
	bool json = false;
	char uuid[37], b[6][32];
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
	if (json) {
		printf("{\"path\":\"%s\",\"uuid\":\"%s\",\"label\":\"%s\",\"version\":%u,"
		       "\"created\":%llu,\"block_device\":%s,\"direct_io\":%s,"
		       "\"block_size\":%u,\"logical_sector\":%u,\"physical_sector\":%u,"
		       "\"optimal_io\":%u,\"size\":%llu,\"capacity\":%llu,\"used\":%llu,"
		       "\"reclaimable\":%llu,\"free\":%llu,\"records\":%llu,"
		       "\"segment_size\":%u,\"segments\":%llu,\"free_segments\":%llu,"
		       "\"checkpoint_gen\":%llu}\n",
		       o.path, uuid, in.label, in.version, (unsigned long long)in.created,
		       in.is_block_device ? "true" : "false", in.direct_io ? "true" : "false",
		       in.block_size, in.logical_sector, in.physical_sector, in.optimal_io,
		       (unsigned long long)st.device_size, (unsigned long long)st.capacity,
		       (unsigned long long)st.used, (unsigned long long)st.reclaimable,
		       (unsigned long long)st.free, (unsigned long long)st.records,
		       st.segment_size, (unsigned long long)st.segments,
		       (unsigned long long)st.free_segments,
		       (unsigned long long)st.checkpoint_gen);
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
		       strata_fmt_size(st.device_size, b[0], 32),
		       strata_fmt_size(st.capacity, b[1], 32));
		printf("used:            %s in %llu records\n",
		       strata_fmt_size(st.used, b[2], 32), (unsigned long long)st.records);
		printf("reclaimable:     %s\n", strata_fmt_size(st.reclaimable, b[3], 32));
		printf("free:            %s\n", strata_fmt_size(st.free, b[4], 32));
		printf("segments:        %llu of %s, %llu free\n",
		       (unsigned long long)st.segments,
		       strata_fmt_size(st.segment_size, b[5], 32),
		       (unsigned long long)st.free_segments);
		printf("checkpoint:      generation %llu\n",
		       (unsigned long long)st.checkpoint_gen);
	}
	r = store_close(s);
	if (r < 0) {
		open_err("store info", o.path, r);
		return 1;
	}
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
		{ "info", store_info, "show a store's identity, geometry and space" },
		{ NULL, NULL, NULL },
	};

	return cmd_dispatch("store", cmds, argc - 1, argv + 1);
}
