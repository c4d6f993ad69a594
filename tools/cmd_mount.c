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
#include <sys/wait.h>
#include <unistd.h>

#include "strata/layer.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"

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

/* strata-fuse next to this program (a build tree, or bindir), else PATH. */
static void find_daemon(char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/strata-fuse", self) < size &&
			    access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, size, "strata-fuse");
}

static int run(char *const argv[], bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (quiet)
			freopen("/dev/null", "w", stderr);
		if (strchr(argv[0], '/'))
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "strata: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool is_mounted(const char *mnt)
{
	char line[PATH_MAX * 2], dev[256], dir[PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %4095s", dev, dir) == 2 && !strcmp(dir, mnt))
			found = true;
	fclose(f);
	return found;
}

static void usage_mount(FILE *f)
{
	fprintf(f, "usage: strata mount [--upper DIR --work DIR] [--name CONTAINER] IMAGE MOUNTPOINT\n");
}

int cmd_mount(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "upper", required_argument, NULL, 'u' },
		{ "work", required_argument, NULL, 'w' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char daemon[PATH_MAX], cdir[PATH_MAX - 16], up[PATH_MAX], wk[PATH_MAX];
	char name[64], digest[IMAGE_DIGEST_STRLEN], *store_path = NULL;
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
	if (cname && (!*cname || strchr(cname, '/') || !strcmp(cname, ".") ||
		      !strcmp(cname, "..") || strlen(cname) >= sizeof(name))) {
		cmd_err("mount: bad container name '%s'", cname);
		return 2;
	}
	mnt = realpath(argv[optind + 1], NULL);
	if (!mnt) {
		cmd_err("mount: %s: %s", argv[optind + 1], strerror(errno));
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
	if (!upper) {
		if ((size_t)snprintf(cdir, sizeof(cdir), "%s/containers/%s", strata_state_dir(),
				     cname) >= sizeof(cdir)) {
			cmd_err("mount: state directory path too long");
			goto out;
		}
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
	r = sb_add(&o, ",upperdir=", false);
	if (!r)
		r = sb_add(&o, upper, true);
	if (!r)
		r = sb_add(&o, ",workdir=", false);
	if (!r)
		r = sb_add(&o, work, true);
	if (r) {
		cmd_err("mount: %s", strerror(-r));
		goto out;
	}

	/* strata-fuse daemonizes itself once the mount is up: its exit
	 * status says whether it is. */
	find_daemon(daemon, sizeof(daemon));
	dargv[0] = daemon;
	dargv[1] = "-o";
	dargv[2] = o.s;
	dargv[3] = mnt;
	dargv[4] = NULL;
	fflush(stdout);
	r = run(dargv, false);
	if (r < 0) {
		cmd_err("mount: cannot run %s: %s", daemon, strerror(-r));
		goto out;
	}
	if (r != 0 || !is_mounted(mnt)) {
		cmd_err("mount: %s: strata-fuse failed (exit %d)", mnt, r);
		goto out;
	}
	printf("%s\n", mnt);
	ret = 0;
out:
	free(o.s);
	free(store_path);
	free(mnt);
	return ret;
}

int cmd_umount(int argc, char **argv)
{
	char *fargv[4] = { "fusermount3", "-u", NULL, NULL };
	const char *mnt;
	char *real;
	struct stat st;
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: strata umount MOUNTPOINT\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	/* A mount whose daemon died answers ENOTCONN: realpath() fails on
	 * it, so the name is taken as given. */
	real = realpath(argv[1], NULL);
	mnt = real ? real : argv[1];
	if (!is_mounted(mnt)) {
		cmd_err("umount: %s: not mounted", mnt);
		free(real);
		return 1;
	}
	if (stat(mnt, &st) < 0 && errno == ENOTCONN) {
		/* The daemon is gone: detach what is left. */
		if (umount2(mnt, MNT_DETACH) == 0) {
			free(real);
			return 0;
		}
		fargv[1] = "-uz";
	}
	fargv[2] = (char *)mnt;
	r = run(fargv, false);
	if (r != 0 && is_mounted(mnt)) {
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
