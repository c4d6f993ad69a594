// SPDX-License-Identifier: GPL-2.0-or-later
/* strata mount|umount: an image of the store as a container root, served by
 * strata-fuse with store-backed lowers ("store:PATH@DIFFID") and an upper
 * directory per container under the state directory. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "strata/layer.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/spawn.h"
#include "tools/cmd_image.h"
#include "tools/container.h"

/* Grow-as-needed string for the -o argument. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static int sb_add(struct sbuf *b, const char *s, bool escape)
{
	for (; *s; s++) {
		if (b->len + 3 > b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 1024;
			char *n = realloc(b->s, cap);

			if (!n)
				return -ENOMEM;
			b->s = n;
			b->cap = cap;
		}
		/* fs_config_parse_opts(): "\," is a comma inside a value. */
		if (escape && (*s == ',' || *s == '\\'))
			b->s[b->len++] = '\\';
		b->s[b->len++] = *s;
		b->s[b->len] = '\0';
	}
	return 0;
}

/* Append ",NAME=" and the escaped value dir + leaf (leaf may be ""). */
static int sb_opt(struct sbuf *b, const char *name, const char *dir, const char *leaf)
{
	int r = sb_add(b, ",", false);

	if (!r)
		r = sb_add(b, name, false);
	if (!r)
		r = sb_add(b, "=", false);
	if (!r)
		r = sb_add(b, dir, true);
	return r ? r : sb_add(b, leaf, true);
}

static void usage_mount(FILE *f)
{
	fprintf(f, "usage: strata mount [--upper DIR --work DIR] [--name CONTAINER]\n"
		   "                    [--upper-size LIMIT] [--upper-inodes N]\n"
		   "                    [--chunk-cache SIZE] IMAGE MOUNTPOINT\n");
}

int cmd_mount_ex(int argc, char **argv, bool print)
{
	static const struct option lo[] = {
		{ "upper", required_argument, NULL, 'u' },
		{ "work", required_argument, NULL, 'w' },
		{ "name", required_argument, NULL, 'n' },
		{ "upper-size", required_argument, NULL, 'S' },
		{ "upper-inodes", required_argument, NULL, 'I' },
		{ "chunk-cache", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t qsize = 0, qinodes = 0; /* strata-fuse upper_size=, upper_inodes= */
	uint64_t ccache = UINT64_MAX;	 /* chunk_cache=, UINT64_MAX: its default */
	char qopt[64], *qend;
	char daemon[PATH_MAX], cdir[PATH_MAX - 16], up[PATH_MAX], wk[PATH_MAX];
	char name[CONTAINER_NAME_MAX + 1], digest[IMAGE_DIGEST_STRLEN], *store_path = NULL;
	char image_id[IMAGE_DIGEST_STRLEN];
	struct container ct = { 0 }, old;
	const char *upper = NULL, *work = NULL, *cname = NULL;
	const struct catalog_image *img;
	char *mnt = NULL, *dargv[5];
	struct sbuf o = { 0 };
	struct img_ctx c;
	int ch, r, ret = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'u':
			upper = optarg;
			break;
		case 'w':
			work = optarg;
			break;
		case 'n':
			cname = optarg;
			break;
		case 'S':
			if (strata_parse_size(optarg, &qsize) || !qsize) {
				cmd_err("mount: invalid --upper-size '%s' (expected BYTES[K|M|G|T] > 0)",
					optarg);
				return 2;
			}
			break;
		case 'I':
			errno = 0;
			qinodes = strtoull(optarg, &qend, 10);
			if (errno || *qend || !qinodes || optarg[0] == '-') {
				cmd_err("mount: invalid --upper-inodes '%s' (expected a number > 0)",
					optarg);
				return 2;
			}
			break;
		case 'C':
			if (strata_parse_size(optarg, &ccache) || ccache == UINT64_MAX) {
				cmd_err("mount: invalid --chunk-cache '%s' (expected BYTES[K|M|G|T], 0 for none)",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage_mount(stdout);
			return 0;
		default:
			usage_mount(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || !!upper != !!work) {
		if (!!upper != !!work)
			cmd_err("mount: --upper and --work go together");
		usage_mount(stderr);
		return 2;
	}
	if (cname && !container_name_ok(cname)) {
		cmd_err("mount: bad container name '%s' (1 to %d of A-Z a-z 0-9 _ . -)", cname,
			CONTAINER_NAME_MAX);
		return 2;
	}
	mnt = realpath(argv[optind + 1], NULL);
	if (!mnt) {
		cmd_err("mount: %s: %s", argv[optind + 1], strerror(errno));
		return 1;
	}
	if (container_is_mounted(mnt)) {
		cmd_err("mount: %s: already a mountpoint", mnt);
		free(mnt);
		return 1;
	}
	store_path = realpath(cmd_store_path(NULL), NULL);
	if (!store_path) {
		cmd_err("mount: %s: %s", cmd_store_path(NULL), strerror(errno));
		goto out;
	}

	/* The catalog lock is held only while the layers are looked up:
	 * the daemon opens the store read-only on its own. */
	if (img_ctx_open(&c, "mount", false, NULL))
		goto out;
	r = catalog_resolve(c.cat, argv[optind], &img);
	if (r) {
		img_resolve_err("mount", argv[optind], r);
		img_ctx_close(&c, "mount");
		goto out;
	}
	image_digest_format(&img->id, image_id);
	if (!img->nlayers || img->nlayers > 63) {
		cmd_err("mount: %s: %zu layers (1 to 63 can be mounted)", argv[optind],
			img->nlayers);
		img_ctx_close(&c, "mount");
		goto out;
	}
	r = sb_add(&o, "lowerdir=", false);
	/* Top layer first: the last layer of the manifest is the top. */
	for (size_t i = img->nlayers; i-- > 0 && !r;) {
		image_digest_format(&img->layers[i].diff_id, digest);
		r = sb_add(&o, "store:", false);
		if (!r)
			r = sb_add(&o, store_path, true);
		if (!r)
			r = sb_add(&o, "@", false);
		if (!r)
			r = sb_add(&o, digest, false);
		if (!r && i)
			r = sb_add(&o, ":", false);
	}
	if (img_ctx_close(&c, "mount"))
		goto out;
	if (r) {
		cmd_err("mount: %s", strerror(-r));
		goto out;
	}

	if (!cname) {
		uint8_t rnd[6];

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			cmd_err("mount: getrandom: %s", strerror(errno));
			goto out;
		}
		strata_hex(rnd, sizeof(rnd), name);
		cname = name;
	}
	/* An existing container is mounted again with its upper (the image
	 * must be the same), unless it is mounted already. */
	r = container_load(cname, &old);
	if (r == 0) {
		bool busy = container_daemon_pid(&old) || container_is_mounted(old.mountpoint);

		if (busy || strcmp(old.image, image_id)) {
			if (busy)
				cmd_err("mount: container %s is mounted at %s", cname,
					old.mountpoint);
			else
				cmd_err("mount: container %s holds image %s, not %s", cname,
					old.image, image_id);
			container_free(&old);
			goto out;
		}
		if (!upper) {
			snprintf(up, sizeof(up), "%s", old.upper);
			snprintf(wk, sizeof(wk), "%s", old.work);
			upper = up;
			work = wk;
		}
		container_free(&old);
	} else if (r != -ENOENT) {
		cmd_err("mount: container %s: %s", cname, strerror(-r));
		goto out;
	}
	if (container_dir(cname, cdir, sizeof(cdir))) {
		cmd_err("mount: state directory path too long");
		goto out;
	}
	if (!upper) {
		snprintf(up, sizeof(up), "%s/upper", cdir);
		snprintf(wk, sizeof(wk), "%s/work", cdir);
		upper = up;
		work = wk;
	}
	r = strata_mkdir_p(upper, 0755);
	if (!r)
		r = strata_mkdir_p(work, 0700);
	if (r) {
		cmd_err("mount: creating %s and %s: %s", upper, work, strerror(-r));
		goto out;
	}
	{
		char *ru = realpath(upper, NULL), *rw = realpath(work, NULL);

		snprintf(ct.name, sizeof(ct.name), "%s", cname);
		ct.image = image_id;
		ct.ref = argv[optind];
		ct.store = store_path;
		ct.mountpoint = mnt;
		ct.upper = ru ? ru : (char *)upper;
		ct.work = rw ? rw : (char *)work;
		ct.created = (int64_t)time(NULL);
		r = container_save(&ct);
		free(ru);
		free(rw);
		if (r) {
			cmd_err("mount: saving container %s: %s", cname, strerror(-r));
			goto out;
		}
	}
	r = sb_opt(&o, "pidfile", cdir, "/daemon.pid");
	if (!r)
		r = sb_opt(&o, "log", cdir, "/daemon.log");
	if (!r)
		r = sb_opt(&o, "upperdir", upper, "");
	if (!r)
		r = sb_opt(&o, "workdir", work, "");
	snprintf(qopt, sizeof(qopt), ",upper_size=%llu", (unsigned long long)qsize);
	if (!r && qsize)
		r = sb_add(&o, qopt, false);
	snprintf(qopt, sizeof(qopt), ",upper_inodes=%llu", (unsigned long long)qinodes);
	if (!r && qinodes)
		r = sb_add(&o, qopt, false);
	snprintf(qopt, sizeof(qopt), ",chunk_cache=%llu", (unsigned long long)ccache);
	if (!r && ccache != UINT64_MAX)
		r = sb_add(&o, qopt, false);
	if (r) {
		cmd_err("mount: %s", strerror(-r));
		goto out;
	}

	/* strata-fuse daemonizes itself once the mount is up: its exit
	 * status says whether it is. */
	spawn_find_daemon(daemon, sizeof(daemon));
	dargv[0] = daemon;
	dargv[1] = "-o";
	dargv[2] = o.s;
	dargv[3] = mnt;
	dargv[4] = NULL;
	r = spawn_run(dargv, false);
	if (r < 0) {
		cmd_err("mount: cannot run %s: %s", daemon, strerror(-r));
		goto out;
	}
	if (r != 0 || !container_is_mounted(mnt)) {
		cmd_err("mount: %s: strata-fuse failed (exit %d)", mnt, r);
		goto out;
	}
	if (print) {
		printf("%s\n", mnt);
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "strata: mount: container %s\n", cname);
	}
	ret = 0;
out:
	free(o.s);
	free(store_path);
	free(mnt);
	return ret;
}

int cmd_mount(int argc, char **argv)
{
	return cmd_mount_ex(argc, argv, true);
}

int cmd_umount(int argc, char **argv)
{
	char *fargv[4] = { "fusermount3", "-u", NULL, NULL };
	struct container ct;
	const char *mnt;
	char *real;
	struct statfs sfs;
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: strata umount MOUNTPOINT|CONTAINER\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	/* A container name (not a path) means its mountpoint.  A mount
	 * whose daemon died answers ENOTCONN: realpath() fails on it, so
	 * the name is taken as given. */
	if (!strchr(argv[1], '/') && access(argv[1], F_OK) && errno == ENOENT &&
	    container_load(argv[1], &ct) == 0) {
		real = strdup(ct.mountpoint);
		container_free(&ct);
		if (!real) {
			cmd_err("umount: %s", strerror(ENOMEM));
			return 1;
		}
	} else {
		real = realpath(argv[1], NULL);
	}
	mnt = real ? real : argv[1];
	if (!container_is_mounted(mnt)) {
		cmd_err("umount: %s: not mounted", mnt);
		free(real);
		return 1;
	}
	/* statfs, unlike stat, is never answered from the kernel's cache. */
	if (statfs(mnt, &sfs) < 0 && errno == ENOTCONN) {
		/* The daemon is gone: detach what is left. */
		if (umount2(mnt, MNT_DETACH) == 0) {
			free(real);
			return 0;
		}
		fargv[1] = "-uz";
	}
	fargv[2] = (char *)mnt;
	r = spawn_run(fargv, false);
	if (r != 0 && container_is_mounted(mnt)) {
		if (umount2(mnt, MNT_DETACH) == 0)
			r = 0;
		else
			cmd_err("umount: %s: %s", mnt,
				r < 0 ? strerror(-r) : "fusermount3 -u failed");
	} else {
		r = 0;
	}
	free(real);
	return r ? 1 : 0;
}
