// SPDX-License-Identifier: GPL-2.0-or-later
/* fuse-overlayfs compatible options, so that podman's mount_program and
 * scripts written for fuse-overlayfs work unchanged.  No FUSE calls here:
 * the parser is unit-tested on its own. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/fs.h"
#include "strata/log.h"
#include "strata/util.h"

#define OVERFLOW_ID 65534

void fs_config_init(struct fs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fsync = true;
	cfg->passthrough = true;
	cfg->pt_lower = true;
	cfg->read_threads = 2;
	cfg->chunk_cache = FS_CHUNK_CACHE_DEFAULT;
	cfg->timeout = 86400;
	cfg->squash_uid = -1;
	cfg->squash_gid = -1;
}

void fs_config_release(struct fs_config *cfg)
{
	for (size_t i = 0; i < cfg->nlower; i++)
		free(cfg->lowerdirs[i]);
	cfg->nlower = 0;
	free(cfg->upperdir);
	free(cfg->workdir);
	free(cfg->mountpoint);
	free(cfg->fuse_opts);
	free(cfg->pidfile);
	free(cfg->logfile);
	cfg->upperdir = cfg->workdir = cfg->mountpoint = cfg->fuse_opts = NULL;
	cfg->pidfile = cfg->logfile = NULL;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_lowers(struct fs_config *cfg, const char *v)
{
	const char *p = v;

	for (size_t i = 0; i < cfg->nlower; i++)
		free(cfg->lowerdirs[i]);
	cfg->nlower = 0;
	while (*p) {
		const char *e = strchr(p, ':');
		size_t len;

		/* "store:PATH@sha256:HEX" holds colons of its own: it ends
		 * after the 64 hex digits of the DiffID. */
		if (!strncmp(p, "store:", 6)) {
			const char *d = strstr(p, "@sha256:");

			if (!d || strspn(d + 8, "0123456789abcdef") != 64) {
				log_err("lowerdir: expected store:PATH@sha256:DIFFID in '%s'",
					p);
				return -EINVAL;
			}
			e = d + 8 + 64;
			if (*e && *e != ':') {
				log_err("lowerdir: bad store layer '%s'", p);
				return -EINVAL;
			}
			if (!*e)
				e = NULL;
		}
		len = e ? (size_t)(e - p) : strlen(p);

		if (len) {
			if (cfg->nlower == FS_MAX_LAYERS) {
				log_err("lowerdir: more than %d layers",
					FS_MAX_LAYERS);
				return -EINVAL;
			}
			cfg->lowerdirs[cfg->nlower] = strndup(p, len);
			if (!cfg->lowerdirs[cfg->nlower])
				return -ENOMEM;
			cfg->nlower++;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	if (!cfg->nlower) {
		log_err("lowerdir: no directory given");
		return -EINVAL;
	}
	return 0;
}

static int parse_u32(const char *s, char **end, uint32_t *out)
{
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_idmap(const char *opt, const char *v, struct fs_idmap *map,
		       size_t *n)
{
	const char *p = v;

	*n = 0;
	while (*p) {
		uint32_t f[3];
		char *end;

		for (int i = 0; i < 3; i++) {
			if (parse_u32(p, &end, &f[i]) ||
			    (i < 2 && *end != ':') ||
			    (i == 2 && *end && *end != ':'))
				goto bad;
			p = *end ? end + 1 : end;
		}
		if (*n == 16 || !f[2])
			goto bad;
		map[*n] = (struct fs_idmap){ f[0], f[1], f[2] };
		(*n)++;
	}
	if (*n)
		return 0;
bad:
	log_err("%s: expected container:host:size[:...], got '%s'", opt, v);
	return -EINVAL;
}

/* 1, 0 or -1 (not a boolean); no value means 1. */
static int bool_value(const char *v)
{
	if (!v || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") ||
	    !strcmp(v, "on"))
		return 1;
	if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") ||
	    !strcmp(v, "off"))
		return 0;
	return -1;
}

static int parse_bool(const char *opt, const char *v, bool *out)
{
	int b = bool_value(v);

	if (b < 0) {
		log_err("%s: expected 0 or 1, got '%s'", opt, v);
		return -EINVAL;
	}
	*out = b;
	return 0;
}

/* passthrough=1|0|upper: upper limits passthrough to upper files, so
 * that no write-open ever has to wait for a reader of lower data
 * (fs/passthrough.c). */
static int parse_passthrough(struct fs_config *cfg, const char *opt,
			     const char *v)
{
	bool upper = v && !strcmp(v, "upper");
	int b = upper ? 1 : bool_value(v);

	if (b < 0) {
		log_err("%s: expected 1, 0 or upper, got '%s'", opt, v);
		return -EINVAL;
	}
	cfg->passthrough = b;
	cfg->pt_lower = !upper;
	return 0;
}

static int add_fuse_opt(struct fs_config *cfg, const char *o)
{
	size_t old = cfg->fuse_opts ? strlen(cfg->fuse_opts) : 0;
	char *s = realloc(cfg->fuse_opts, old + strlen(o) + 2);

	if (!s)
		return -ENOMEM;
	if (old)
		s[old++] = ',';
	strcpy(s + old, o);
	cfg->fuse_opts = s;
	return 0;
}

/* Options of fuse-overlayfs that have no meaning for strata. */
static const char *const ignored[] = {
	"redirect_dir", "index", "fast_ino", "writeback",
	"plugins", "xattr_permissions", "static_nlink", "volatile",
	"threaded", "userxattr", "xino", "nfs_export", "lazytime",
	"rw", NULL,
};

static int parse_one(struct fs_config *cfg, char *opt)
{
	char *v = strchr(opt, '=');
	int64_t id;
	char *end;

	if (v)
		*v++ = '\0';
	if (!strcmp(opt, "lowerdir"))
		return v ? parse_lowers(cfg, v) : -EINVAL;
	if (!strcmp(opt, "upperdir"))
		return v && *v ? set_str(&cfg->upperdir, v) : -EINVAL;
	if (!strcmp(opt, "workdir"))
		return v && *v ? set_str(&cfg->workdir, v) : -EINVAL;
	if (!strcmp(opt, "pidfile"))
		return v && *v == '/' ? set_str(&cfg->pidfile, v) : -EINVAL;
	if (!strcmp(opt, "log")) {
		if (!v || *v != '/') {
			log_err("log: expected an absolute path, got '%s'", v ? v : "");
			return -EINVAL;
		}
		return set_str(&cfg->logfile, v);
	}
	if (!strcmp(opt, "squash_to_root"))
		return parse_bool(opt, v, &cfg->squash_to_root);
	if (!strcmp(opt, "squash_to_uid") || !strcmp(opt, "squash_to_gid")) {
		if (!v || (id = strtoll(v, &end, 10), *end || id < 0 ||
						       id > UINT32_MAX)) {
			log_err("%s: expected a number", opt);
			return -EINVAL;
		}
		*(opt[10] == 'u' ? &cfg->squash_uid : &cfg->squash_gid) = id;
		return 0;
	}
	if (!strcmp(opt, "uidmapping"))
		return v ? parse_idmap(opt, v, cfg->uidmap, &cfg->nuidmap) :
			   -EINVAL;
	if (!strcmp(opt, "gidmapping"))
		return v ? parse_idmap(opt, v, cfg->gidmap, &cfg->ngidmap) :
			   -EINVAL;
	if (!strcmp(opt, "noacl"))
		return parse_bool(opt, v, &cfg->noacl);
	if (!strcmp(opt, "noxattrs"))
		return parse_bool(opt, v, &cfg->noxattrs);
	if (!strcmp(opt, "fsync"))
		return parse_bool(opt, v, &cfg->fsync);
	if (!strcmp(opt, "metacopy"))
		return parse_bool(opt, v, &cfg->metacopy);
	if (!strcmp(opt, "passthrough"))
		return parse_passthrough(cfg, opt, v);
	if (!strcmp(opt, "debug"))
		return parse_bool(opt, v, &cfg->debug);
	if (!strcmp(opt, "timeout")) {
		double t = v ? strtod(v, &end) : -1;

		if (!v || *end || t < 0) {
			log_err("timeout: expected seconds");
			return -EINVAL;
		}
		cfg->timeout = t;
		return 0;
	}
	if (!strcmp(opt, "upper_size")) {
		if (!v || strata_parse_size(v, &cfg->upper_size) ||
		    !cfg->upper_size) {
			log_err("upper_size: expected BYTES[K|M|G|T], got '%s'",
				v ? v : "");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(opt, "chunk_cache")) {
		if (!v || strata_parse_size(v, &cfg->chunk_cache)) {
			log_err("chunk_cache: expected BYTES[K|M|G|T], got '%s'",
				v ? v : "");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(opt, "upper_inodes")) {
		unsigned long long n = v && *v >= '0' && *v <= '9' ?
					       strtoull(v, &end, 10) : 0;

		if (!n || *end) {
			log_err("upper_inodes: expected a number > 0, got '%s'",
				v ? v : "");
			return -EINVAL;
		}
		cfg->upper_inodes = n;
		return 0;
	}
	if (!strcmp(opt, "read_threads")) {
		uint32_t t;

		if (!v || parse_u32(v, &end, &t) || *end || t > 64) {
			log_err("read_threads: expected 0..64");
			return -EINVAL;
		}
		cfg->read_threads = t;
		return 0;
	}
	if (!strcmp(opt, "max_threads")) {
		uint32_t t;

		if (!v || parse_u32(v, &end, &t) || *end || !t || t > 1024) {
			log_err("max_threads: expected 1..1024");
			return -EINVAL;
		}
		cfg->max_threads = t;
		return 0;
	}
	for (size_t i = 0; ignored[i]; i++) {
		if (!strcmp(opt, ignored[i])) {
			log_debug("option %s ignored", opt);
			return 0;
		}
	}
	if (v)
		v[-1] = '=';
	return add_fuse_opt(cfg, opt);
}

int fs_config_parse_opts(struct fs_config *cfg, const char *opts)
{
	size_t len = strlen(opts);
	char *buf = malloc(len + 1), *o = buf;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (const char *p = opts;; p++) {
		if (*p == '\\' && p[1]) {
			*o++ = *++p;
			continue;
		}
		if (*p == ',' || !*p) {
			*o = '\0';
			if (*buf)
				ret = parse_one(cfg, buf);
			o = buf;
			if (ret || !*p)
				break;
			continue;
		}
		*o++ = *p;
	}
	free(buf);
	return ret;
}

static int check_dir(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		log_err("%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s %s: not a directory", what, path);
		return -ENOTDIR;
	}
	return 0;
}

int fs_config_check(const struct fs_config *cfg)
{
	int ret;

	if (!cfg->nlower) {
		log_err("no lowerdir= given");
		return -EINVAL;
	}
	if (!cfg->mountpoint) {
		log_err("no mount point given");
		return -EINVAL;
	}
	if (!!cfg->upperdir != !!cfg->workdir) {
		log_err("upperdir= and workdir= go together");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nlower; i++) {
		/* Store layers are checked when the store is opened. */
		if (!strncmp(cfg->lowerdirs[i], "store:", 6))
			continue;
		ret = check_dir("lowerdir", cfg->lowerdirs[i]);
		if (ret)
			return ret;
	}
	if ((cfg->upper_size || cfg->upper_inodes) && !cfg->upperdir) {
		log_err("upper_size= and upper_inodes= need an upperdir=");
		return -EINVAL;
	}
	if (cfg->upperdir) {
		ret = check_dir("upperdir", cfg->upperdir);
		if (ret)
			return ret;
	}
	return check_dir("mount point", cfg->mountpoint);
}

static uint32_t map_id(const struct fs_idmap *map, size_t n, uint32_t id,
		       bool to_host)
{
	if (!n)
		return id;
	for (size_t i = 0; i < n; i++) {
		uint32_t from = to_host ? map[i].container : map[i].host;
		uint32_t to = to_host ? map[i].host : map[i].container;

		if (id >= from && id - from < map[i].size)
			return to + (id - from);
	}
	return OVERFLOW_ID;
}

uint32_t fs_id_to_container(const struct fs_idmap *map, size_t n, uint32_t id)
{
	return map_id(map, n, id, false);
}

uint32_t fs_id_to_host(const struct fs_idmap *map, size_t n, uint32_t id)
{
	return map_id(map, n, id, true);
}
