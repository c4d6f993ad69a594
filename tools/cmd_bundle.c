// SPDX-License-Identifier: GPL-2.0-or-later
/* strata bundle: an image of the store as an OCI runtime bundle.  The
 * rootfs is a strata mount (a container, see tools/container.h) at
 * DIR/rootfs; DIR/config.json is derived from the image config
 * (tools/ocispec.c), so `runc run` starts the image's own command. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"
#include "tools/cmd_ps.h"
#include "tools/container.h"
#include "tools/ocispec.h"

static void usage_bundle(FILE *f)
{
	fprintf(f, "usage: strata bundle [--name CONTAINER] [--hostname NAME]\n"
		   "                     [--upper DIR --work DIR] [--upper-size LIMIT]\n"
		   "                     [--upper-inodes N] [--chunk-cache SIZE]\n"
		   "                     IMAGE DIR [COMMAND [ARG...]]\n"
		   "       strata bundle --rm DIR\n");
}

/* The image's ID and parsed config blob.  1 (printed) on failure. */
static int read_config(const char *ref, char *id, json_object **cfg)
{
	const struct catalog_image *img;
	struct json_tokener *tok;
	struct img_ctx c;
	size_t len = 0;
	void *buf = NULL;
	int r, ret = 1;

	*cfg = NULL;
	if (img_ctx_open(&c, "bundle", false, NULL))
		return 1;
	r = catalog_resolve(c.cat, ref, &img);
	if (r) {
		img_resolve_err("bundle", ref, r);
		goto out;
	}
	image_digest_format(&img->id, id);
	r = catalog_get_blob(c.s, &img->config, &buf, &len);
	if (r) {
		cmd_err("bundle: %s: the image config: %s", ref, strerror(-r));
		goto out;
	}
	tok = json_tokener_new();
	if (tok) {
		*cfg = json_tokener_parse_ex(tok, buf, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(*cfg);
			*cfg = NULL;
		}
		json_tokener_free(tok);
	}
	if (!*cfg) {
		cmd_err("bundle: %s: the image config is not JSON", ref);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	if (img_ctx_close(&c, "bundle") && !ret) {
		json_object_put(*cfg);
		*cfg = NULL;
		ret = 1;
	}
	return ret;
}

/* Undo a bundle that failed once strata mount ran: a container it
 * created is removed again (record, upper, mount); an existing one is
 * only unmounted. */
static void undo_mount(const char *name, bool existed, bool mounted, const char *rootfs)
{
	char *uargv[] = { "umount", (char *)rootfs, NULL };
	struct container ct;

	if (!existed && container_load(name, &ct) == 0) {
		ct_destroy(&ct, true, "bundle");
		container_free(&ct);
	} else if (mounted) {
		cmd_umount(2, uargv);
	}
}

static int bundle_rm(const char *dir)
{
	char rootfs[PATH_MAX], cfg[PATH_MAX];
	struct container ct;
	char *bdir = realpath(dir, NULL);
	int r, ret = 1;

	if (!bdir) {
		cmd_err("bundle: %s: %s", dir, strerror(errno));
		return 1;
	}
	if ((size_t)snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bdir) >= sizeof(rootfs) ||
	    (size_t)snprintf(cfg, sizeof(cfg), "%s/config.json", bdir) >= sizeof(cfg)) {
		cmd_err("bundle: %s: %s", dir, strerror(ENAMETOOLONG));
		goto out;
	}
	r = container_find(rootfs, &ct);
	if (r == 0) {
		r = ct_destroy(&ct, true, "bundle");
		container_free(&ct);
		if (r)
			goto out;
	} else if (r != -ENOENT) {
		cmd_err("bundle: %s: %s", rootfs, strerror(-r));
		goto out;
	} else if (container_is_mounted(rootfs)) {
		cmd_err("bundle: %s: mounted, but not by strata: left alone", rootfs);
		goto out;
	} else if (access(cfg, F_OK)) {
		cmd_err("bundle: %s: not a bundle (no container, no config.json)", bdir);
		goto out;
	}
	if (unlink(cfg) && errno != ENOENT) {
		cmd_err("bundle: %s: %s", cfg, strerror(errno));
		goto out;
	}
	if (rmdir(rootfs) && errno != ENOENT) {
		cmd_err("bundle: %s: %s", rootfs, strerror(errno));
		goto out;
	}
	if (rmdir(bdir) && errno != ENOENT)
		fprintf(stderr, "strata: bundle: left %s: %s\n", bdir, strerror(errno));
	ret = 0;
out:
	free(bdir);
	return ret;
}

int cmd_bundle(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "upper", required_argument, NULL, 'u' },
		{ "work", required_argument, NULL, 'w' },
		{ "rm", no_argument, NULL, 'r' },
		{ "upper-size", required_argument, NULL, 'S' },
		{ "upper-inodes", required_argument, NULL, 'I' },
		{ "chunk-cache", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cname = NULL, *host = NULL, *upper = NULL, *work = NULL, *ref, *dir;
	const char *qsize = NULL, *qinodes = NULL, *ccache = NULL; /* checked by strata mount */
	char name[CONTAINER_NAME_MAX + 1], id[IMAGE_DIGEST_STRLEN], why[512];
	char rootfs[PATH_MAX], cfgpath[PATH_MAX], *bdir = NULL, *margv[16];
	bool rm = false, existed = false, made_dir = false, made_rootfs = false;
	bool tried_mount = false, mounted = false;
	json_object *icfg = NULL, *spec = NULL;
	struct ocispec_in in = { .rootfs_fd = -1 };
	struct container ct;
	struct stat st;
	int ch, r, margc = 0, ret = 1;

	optind = 1;
	/* "+": options end at IMAGE, so a COMMAND's own options stay its own. */
	while ((ch = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			cname = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'u':
			upper = optarg;
			break;
		case 'w':
			work = optarg;
			break;
		case 'r':
			rm = true;
			break;
		case 'S':
			qsize = optarg;
			break;
		case 'I':
			qinodes = optarg;
			break;
		case 'C':
			ccache = optarg;
			break;
		case 'h':
			usage_bundle(stdout);
			return 0;
		default:
			usage_bundle(stderr);
			return 2;
		}
	}
	if (rm) {
		if (argc - optind != 1 || cname || host || upper || work || qsize || qinodes) {
			usage_bundle(stderr);
			return 2;
		}
		return bundle_rm(argv[optind]);
	}
	if (argc - optind < 2 || !!upper != !!work) {
		if (!!upper != !!work)
			cmd_err("bundle: --upper and --work go together");
		usage_bundle(stderr);
		return 2;
	}
	ref = argv[optind];
	dir = argv[optind + 1];
	in.cmd = argv + optind + 2;
	in.ncmd = (size_t)(argc - optind - 2);
	if (cname && !container_name_ok(cname)) {
		cmd_err("bundle: bad container name '%s' (1 to %d of A-Z a-z 0-9 _ . -)", cname,
			CONTAINER_NAME_MAX);
		return 2;
	}
	if (host && (!*host || strlen(host) > 64)) {
		cmd_err("bundle: bad hostname '%s' (1 to 64 bytes)", host);
		return 2;
	}
	if (!cname) {
		uint8_t rnd[6];

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			cmd_err("bundle: getrandom: %s", strerror(errno));
			return 1;
		}
		strata_hex(rnd, sizeof(rnd), name);
		cname = name;
	}
	in.hostname = host ? host : cname;

	/* The image first: a bad reference leaves nothing behind. */
	if (read_config(ref, id, &icfg))
		return 1;
	in.image_config = icfg;

	if (stat(dir, &st)) {
		r = errno == ENOENT ? strata_mkdir_p(dir, 0755) : -errno;
		if (r) {
			cmd_err("bundle: %s: %s", dir, strerror(-r));
			goto out;
		}
		made_dir = true;
	} else if (!S_ISDIR(st.st_mode)) {
		cmd_err("bundle: %s: not a directory", dir);
		goto out;
	}
	bdir = realpath(dir, NULL);
	if (!bdir) {
		cmd_err("bundle: %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((size_t)snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bdir) >= sizeof(rootfs) ||
	    (size_t)snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", bdir) >= sizeof(cfgpath)) {
		cmd_err("bundle: %s: %s", dir, strerror(ENAMETOOLONG));
		goto out;
	}
	r = lstat(cfgpath, &st) == 0 ? -EEXIST : errno == ENOENT ? 0 : -errno;
	if (r) {
		cmd_err("bundle: %s: %s (remove the old bundle with 'strata bundle --rm %s')",
			cfgpath, strerror(-r), dir);
		goto out;
	}
	if (mkdir(rootfs, 0755) == 0) {
		made_rootfs = true;
	} else if (errno != EEXIST) {
		cmd_err("bundle: %s: %s", rootfs, strerror(errno));
		goto out;
	}

	existed = container_load(cname, &ct) == 0;
	if (existed)
		container_free(&ct);
	margv[margc++] = "mount";
	margv[margc++] = "--name";
	margv[margc++] = (char *)cname;
	if (upper) {
		margv[margc++] = "--upper";
		margv[margc++] = (char *)upper;
		margv[margc++] = "--work";
		margv[margc++] = (char *)work;
	}
	if (qsize) {
		margv[margc++] = "--upper-size";
		margv[margc++] = (char *)qsize;
	}
	if (qinodes) {
		margv[margc++] = "--upper-inodes";
		margv[margc++] = (char *)qinodes;
	}
	if (ccache) {
		margv[margc++] = "--chunk-cache";
		margv[margc++] = (char *)ccache;
	}
	margv[margc++] = (char *)ref;
	margv[margc++] = rootfs;
	margv[margc] = NULL;
	tried_mount = true;
	if (cmd_mount_ex(margc, margv, false))
		goto out;
	mounted = true;
	/* The config read above must be the mounted image's (a tag may have
	 * moved in between). */
	r = container_load(cname, &ct);
	if (r || strcmp(ct.image, id)) {
		cmd_err("bundle: %s: %s", ref,
			r ? strerror(-r) : "the image changed while mounting it");
		if (!r)
			container_free(&ct);
		goto out;
	}
	container_free(&ct);

	in.rootfs_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (in.rootfs_fd < 0) {
		cmd_err("bundle: %s: %s", rootfs, strerror(errno));
		goto out;
	}
	r = ocispec_build(&in, &spec, why, sizeof(why));
	if (r) {
		cmd_err("bundle: %s: %s", ref, why);
		goto out;
	}
	r = ocispec_write(spec, cfgpath);
	if (r) {
		cmd_err("bundle: %s: %s", cfgpath, strerror(-r));
		goto out;
	}
	printf("%s\n", bdir);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "strata: bundle: container %s\n", cname);
	ret = 0;
out:
	if (in.rootfs_fd >= 0)
		close(in.rootfs_fd);
	if (ret && tried_mount)
		undo_mount(cname, existed, mounted, rootfs);
	if (ret && made_rootfs)
		rmdir(rootfs);
	if (ret && made_dir)
		rmdir(bdir ? bdir : dir);
	json_object_put(spec);
	json_object_put(icfg);
	free(bdir);
	return ret;
}
