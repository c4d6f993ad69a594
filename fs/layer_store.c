// SPDX-License-Identifier: GPL-2.0-or-later
/* A layer of the block store as a read-only lower: the layer index
 * (strata/layer.h) answers lookups, listings, links and xattrs, file data
 * comes from its chunks.  There is no host fd, so reads go through
 * layer_read() and copy-up through ops->read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "fs/fs-internal.h"
#include "strata/chunkcache.h"
#include "strata/chunkstore.h"
#include "strata/layer.h"
#include "strata/store.h"

struct store_layer {
	struct layer *l;
	char diff_id[IMAGE_DIGEST_STRLEN];
};

struct store_file {
	uint64_t ino;
	char path[]; /* for log lines */
};

static struct layer *sl(struct fs_layer *l)
{
	return ((struct store_layer *)l->priv)->l;
}

bool fs_lower_is_store(const char *spec)
{
	return !strncmp(spec, FS_STORE_PREFIX, strlen(FS_STORE_PREFIX));
}

/* Walk path ("." or "a/b/c") from the root.  -ENOENT/-ENOTDIR when some
 * component is missing or not a directory. */
static int walk(struct fs_layer *l, const char *path, uint64_t *ino)
{
	uint64_t cur = LAYER_ROOT_INO;
	const char *p = path;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int ret;

		if (len && !(len == 1 && *p == '.')) {
			ret = layer_lookup(sl(l), cur, p, len, &cur);
			if (ret)
				return ret;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	*ino = cur;
	return 0;
}

static void attr_to_stat(struct fs_layer *l, const struct layer_attr *a,
			 struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = l->dev;
	st->st_ino = (ino_t)a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink ? a->nlink : 1;
	st->st_uid = (uid_t)a->uid;
	st->st_gid = (gid_t)a->gid;
	st->st_rdev = makedev(a->rdev_major, a->rdev_minor);
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

static int st_lookup(struct fs_layer *l, const char *path, struct stat *st,
		     enum fs_layer_kind *kind)
{
	struct layer_attr a;
	uint64_t ino;
	int ret = walk(l, path, &ino);

	if (ret == -ENOENT || ret == -ENOTDIR) {
		*kind = LAYER_ABSENT;
		return 0;
	}
	if (!ret)
		ret = layer_getattr(sl(l), ino, &a);
	if (ret)
		return ret;
	attr_to_stat(l, &a, st);
	*kind = a.flags & LAYER_F_WHITEOUT ? LAYER_WHITEOUT : LAYER_ENTRY;
	return 0;
}

static int st_is_opaque(struct fs_layer *l, const char *path)
{
	struct layer_attr a;
	uint64_t ino;
	int ret = walk(l, path, &ino);

	if (ret == -ENOENT || ret == -ENOTDIR)
		return 0;
	if (!ret)
		ret = layer_getattr(sl(l), ino, &a);
	if (ret)
		return ret;
	return S_ISDIR(a.mode) && (a.flags & LAYER_F_OPAQUE) ? 1 : 0;
}

struct rd_ctx {
	struct fs_layer *l;
	fs_layer_dirent_fn fn;
	void *arg;
	int err;
};

static int rd_cb(void *arg, const char *name, size_t namelen, uint64_t ino,
		 uint32_t mode, uint64_t next_cookie)
{
	struct rd_ctx *c = arg;
	enum fs_layer_kind kind = LAYER_ENTRY;
	char buf[NAME_MAX + 1];

	(void)next_cookie;
	if (namelen > NAME_MAX)
		return 0; /* cannot be named through the VFS anyway */
	memcpy(buf, name, namelen);
	buf[namelen] = '\0';
	if (S_ISCHR(mode)) {
		struct layer_attr a;
		int ret = layer_getattr(sl(c->l), ino, &a);

		if (ret) {
			c->err = ret;
			return 1;
		}
		if (a.flags & LAYER_F_WHITEOUT)
			kind = LAYER_WHITEOUT;
	}
	return c->fn(c->arg, buf, (ino_t)ino, (unsigned char)IFTODT(mode),
		     kind) ? 1 : 0;
}

static int st_readdir(struct fs_layer *l, const char *path,
		      fs_layer_dirent_fn fn, void *arg)
{
	struct rd_ctx c = { .l = l, .fn = fn, .arg = arg };
	uint64_t ino;
	int ret = walk(l, path, &ino);

	if (ret)
		return ret;
	ret = layer_readdir(sl(l), ino, 0, rd_cb, &c);
	if (c.err)
		return c.err;
	return ret < 0 ? ret : 0;
}

static int st_open(struct fs_layer *l, const char *path, int flags,
		   struct fs_layer_file **out)
{
	struct fs_layer_file *f;
	struct store_file *sf;
	struct layer_attr a;
	uint64_t ino;
	int ret;

	if (flags & (O_ACCMODE | O_TRUNC | O_APPEND))
		return -EROFS; /* lowers are immutable, even for root */
	ret = walk(l, path, &ino);
	if (!ret)
		ret = layer_getattr(sl(l), ino, &a);
	if (ret)
		return ret;
	if (a.flags & LAYER_F_WHITEOUT)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	sf = malloc(sizeof(*sf) + strlen(path) + 1);
	if (!f || !sf) {
		free(f);
		free(sf);
		return -ENOMEM;
	}
	sf->ino = ino;
	strcpy(sf->path, path);
	f->layer = l;
	f->fd = -1;
	f->priv = sf;
	*out = f;
	return 0;
}

static ssize_t st_read(struct fs_layer_file *f, void *buf, size_t size,
		       off_t off)
{
	struct store_file *sf = f->priv;
	struct store_layer *s = f->layer->priv;
	ssize_t n;

	if (off < 0)
		return -EINVAL;
	n = layer_read(s->l, sf->ino, buf, size, (uint64_t)off);
	if (n < 0) {
		log_err("store layer %s: %s: read at %lld: %s", s->diff_id,
			sf->path, (long long)off, strerror((int)-n));
		/* A broken chunk is an I/O error on this file, whatever the
		 * decoder called it. */
		if (n == -EBADMSG || n == -ENOENT)
			n = -EIO;
	}
	return n;
}

static void st_close(struct fs_layer_file *f)
{
	if (!f)
		return;
	free(f->priv);
	free(f);
}

static ssize_t st_readlink(struct fs_layer *l, const char *path, char *buf,
			   size_t size)
{
	uint64_t ino;
	size_t len;
	int ret = walk(l, path, &ino);
	char *tmp;

	if (ret)
		return ret;
	ret = layer_readlink(sl(l), ino, buf, size, &len);
	if (ret != -ERANGE)
		return ret ? ret : (ssize_t)len;
	/* readlink(2) truncates instead of failing. */
	tmp = malloc(len);
	if (!tmp)
		return -ENOMEM;
	ret = layer_readlink(sl(l), ino, tmp, len, &len);
	if (!ret)
		memcpy(buf, tmp, size);
	free(tmp);
	return ret ? ret : (ssize_t)size;
}

static ssize_t st_listxattr(struct fs_layer *l, const char *path, char *buf,
			    size_t size)
{
	uint64_t ino;
	size_t len = 0;
	int ret = walk(l, path, &ino);

	if (!ret)
		ret = layer_listxattr(sl(l), ino, buf, size, &len);
	return ret ? ret : (ssize_t)len;
}

static ssize_t st_getxattr(struct fs_layer *l, const char *path,
			   const char *name, void *buf, size_t size)
{
	uint64_t ino;
	size_t len = 0;
	int ret = walk(l, path, &ino);

	if (!ret)
		ret = layer_getxattr(sl(l), ino, name, buf, size, &len);
	return ret ? ret : (ssize_t)len;
}

static int st_statfs(struct fs_layer *l, struct statvfs *st)
{
	struct layer_info info;

	layer_get_info(sl(l), &info);
	memset(st, 0, sizeof(*st));
	st->f_bsize = st->f_frsize = 4096;
	st->f_blocks = (info.file_bytes + 4095) / 4096;
	st->f_files = info.ninodes;
	st->f_namemax = NAME_MAX;
	st->f_flag = ST_RDONLY;
	return 0;
}

static void st_destroy(struct fs_layer *l)
{
	struct store_layer *s = l->priv;

	if (s) {
		layer_close(s->l);
		free(s);
	}
	free(l->path);
	free(l);
}

static const struct fs_layer_ops layer_store_ops = {
	.name = "store",
	.lookup = st_lookup,
	.is_opaque = st_is_opaque,
	.readdir = st_readdir,
	.open = st_open,
	.read = st_read,
	.close = st_close,
	.readlink = st_readlink,
	.listxattr = st_listxattr,
	.getxattr = st_getxattr,
	.statfs = st_statfs,
	.destroy = st_destroy,
};

/* "store:PATH@sha256:HEX" -> PATH (allocated) and the digest. */
static int parse_spec(const char *spec, char **path,
		      struct image_digest *diff_id)
{
	const char *p = spec + strlen(FS_STORE_PREFIX);
	const char *at = strrchr(p, '@');
	int ret;

	if (!at || at == p) {
		log_err("lowerdir %s: expected store:PATH@sha256:DIFFID", spec);
		return -EINVAL;
	}
	ret = image_digest_parse(at + 1, diff_id);
	if (ret) {
		log_err("lowerdir %s: bad layer DiffID", spec);
		return -EINVAL;
	}
	*path = strndup(p, (size_t)(at - p));
	return *path ? 0 : -ENOMEM;
}

static int open_store(struct fs *fs, const char *path)
{
	struct store_open_opts o = { .path = path, .read_only = true,
				     .direct = -1 };
	int ret;

	if (fs->store) {
		if (strcmp(fs->store_path, path)) {
			log_err("lowerdir: store layers of one mount must come from one store (%s, %s)",
				fs->store_path, path);
			return -EINVAL;
		}
		return 0;
	}
	ret = store_open(&o, &fs->store);
	if (ret) {
		log_err("store %s: cannot open: %s", path, strerror(-ret));
		fs->store = NULL;
		return ret;
	}
	ret = chunkstore_create(fs->store, NULL, &fs->cs);
	if (!ret && fs->cfg.chunk_cache) {
		ret = chunk_cache_create(fs->cfg.chunk_cache, &fs->cache);
		if (!ret)
			chunkstore_set_cache(fs->cs, fs->cache);
	}
	if (!ret) {
		fs->store_path = strdup(path);
		if (!fs->store_path)
			ret = -ENOMEM;
	}
	if (ret)
		fs_store_close(fs);
	return ret;
}

int fs_layer_store_create(struct fs *fs, const char *spec, unsigned index,
			  struct fs_layer **out)
{
	struct image_digest diff_id;
	struct store_layer *s = NULL;
	struct fs_layer *l = NULL;
	char *path = NULL;
	int ret;

	ret = parse_spec(spec, &path, &diff_id);
	if (ret)
		return ret;
	ret = open_store(fs, path);
	if (ret)
		goto err;
	l = calloc(1, sizeof(*l));
	s = calloc(1, sizeof(*s));
	if (!l || !s) {
		ret = -ENOMEM;
		goto err;
	}
	image_digest_format(&diff_id, s->diff_id);
	ret = layer_open(fs->cs, &diff_id, &s->l);
	if (ret) {
		log_err("lowerdir %s: cannot open the layer: %s", spec,
			ret == -ENOENT ? "not in the store" : strerror(-ret));
		goto err;
	}
	l->ops = &layer_store_ops;
	l->index = index;
	l->root_fd = -1;
	/* Not a host device: a number no real filesystem has, distinct per
	 * layer so (dev, ino) identifies an inode in the hardlink tables. */
	l->dev = makedev(0xfffffu, index);
	l->path = path;
	l->priv = s;
	*out = l;
	return 0;
err:
	free(s);
	free(l);
	free(path);
	return ret;
}

/* Free the chunks nobody read for FS_CACHE_IDLE_S seconds, and the heap
 * they leave free: an idle container keeps no cache. */
void fs_cache_age(struct fs *fs)
{
	if (fs->cache && chunk_cache_trim(fs->cache, (uint64_t)FS_CACHE_IDLE_S * 1000000000ull))
		malloc_trim(0);
}

void fs_store_close(struct fs *fs)
{
	if (fs->cache) {
		struct chunk_cache_stats st;

		chunk_cache_get_stats(fs->cache, &st);
		log_info("chunk cache: %llu hits, %llu misses, %llu kept, %llu read out, %llu evicted, "
			 "%llu aged",
			 (unsigned long long)st.hits, (unsigned long long)st.misses,
			 (unsigned long long)st.inserts, (unsigned long long)st.done,
			 (unsigned long long)st.evictions, (unsigned long long)st.aged);
	}
	chunkstore_destroy(fs->cs);
	chunk_cache_destroy(fs->cache);
	fs->cache = NULL;
	store_close(fs->store);
	free(fs->store_path);
	fs->cs = NULL;
	fs->store = NULL;
	fs->store_path = NULL;
}
