// SPDX-License-Identifier: GPL-2.0-or-later
/* Merged directory listings.  opendir takes a snapshot of the merged names
 * (top layer first, whiteouts and names already seen dropped); the offset
 * of entry i is i + 1, so offsets stay stable for the life of the handle
 * whatever happens to the directory (rewinddir takes a new snapshot). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "fs/fs-internal.h"

struct name_set {
	char **slots;
	size_t size, count;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* 1 if added, 0 if already present, -ENOMEM. */
static int set_add(struct name_set *s, const char *name)
{
	size_t i;

	if ((s->count + 1) * 2 > s->size) {
		size_t nsize = s->size ? s->size * 2 : 64;
		char **ns = calloc(nsize, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t j = 0; j < s->size; j++) {
			if (!s->slots[j])
				continue;
			i = hash_name(s->slots[j]) & (nsize - 1);
			while (ns[i])
				i = (i + 1) & (nsize - 1);
			ns[i] = s->slots[j];
		}
		free(s->slots);
		s->slots = ns;
		s->size = nsize;
	}
	i = hash_name(name) & (s->size - 1);
	for (; s->slots[i]; i = (i + 1) & (s->size - 1))
		if (!strcmp(s->slots[i], name))
			return 0;
	s->slots[i] = strdup(name);
	if (!s->slots[i])
		return -ENOMEM;
	s->count++;
	return 1;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->size; i++)
		free(s->slots[i]);
	free(s->slots);
}

struct list_ctx {
	struct fs_dir *d;
	struct name_set seen;
	struct fs_layer *l;
	unsigned layer;
	const char *path; /* of the directory */
	int err;
};

/* d_ino must be what stat says (fs_resolve): an upper object that was
 * copied up reports the number recorded in it. */
static ino_t entry_ino(struct list_ctx *c, const char *name, ino_t ino)
{
	char p[PATH_MAX], v[24], *end;
	unsigned long long o;
	ssize_t n;

	if (c->layer == 0 &&
	    snprintf(p, sizeof(p), "%s/%s", c->path, name) < (int)sizeof(p)) {
		n = c->l->ops->getxattr(c->l, p, FS_ORIGIN_XATTR, v,
					sizeof(v) - 1);
		if (n > 0) {
			v[n] = '\0';
			o = strtoull(v, &end, 10);
			if (!*end)
				return (ino_t)o;
		}
	}
	return (ino_t)fs_make_ino(c->layer, ino);
}

static int list_cb(void *arg, const char *name, ino_t ino,
		   unsigned char d_type, enum fs_layer_kind kind)
{
	struct list_ctx *c = arg;
	struct fs_dirent *e;
	int r = set_add(&c->seen, name);

	if (r <= 0) {
		c->err = r;
		return r < 0;
	}
	if (kind == LAYER_WHITEOUT)
		return 0;
	if (c->d->n == c->d->cap) {
		size_t ncap = c->d->cap ? c->d->cap * 2 : 32;
		struct fs_dirent *ne = realloc(c->d->ents, ncap * sizeof(*ne));

		if (!ne) {
			c->err = -ENOMEM;
			return 1;
		}
		c->d->ents = ne;
		c->d->cap = ncap;
	}
	e = &c->d->ents[c->d->n];
	e->name = strdup(name);
	if (!e->name) {
		c->err = -ENOMEM;
		return 1;
	}
	e->ino = entry_ino(c, name, ino);
	e->type = d_type;
	c->d->n++;
	return 0;
}

int fs_dir_list(struct fs *fs, struct fs_inode *dir, struct fs_dir *d)
{
	struct list_ctx c = { .d = d };
	char path[PATH_MAX];
	uint64_t mask = fs_inode_layers(dir);
	int ret;

	ret = fs_inode_path(fs, dir, NULL, path, sizeof(path));
	if (ret)
		return ret;
	for (unsigned i = 0; i < fs->nlayers && !ret; i++) {
		struct fs_layer *l = fs->layers[i];

		if (!l || !(mask & (1ULL << i)))
			continue;
		c.layer = i;
		c.l = l;
		c.path = path;
		ret = l->ops->readdir(l, path, list_cb, &c);
		if (ret == -ENOENT || ret == -ENOTDIR)
			ret = 0; /* changed under us: list what is left */
		if (!ret)
			ret = c.err;
	}
	set_free(&c.seen);
	if (ret)
		fs_dir_free(d);
	return ret;
}

void fs_dir_free(struct fs_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	memset(d, 0, sizeof(*d));
}

int fs_dir_is_empty(struct fs *fs, struct fs_inode *dir)
{
	struct fs_dir d = { 0 };
	int ret = fs_dir_list(fs, dir, &d);

	if (ret)
		return ret;
	ret = d.n == 0;
	fs_dir_free(&d);
	return ret;
}

void fs_dir_changed(struct fs *fs, struct fs_inode *dir)
{
	/* Drops the kernel's cached listing (its page cache): the kernel
	 * revalidates a cached listing only by the directory's mtime, which
	 * two changes within one clock tick can leave unchanged.  Open
	 * handles notice the change through dir_gen (do_readdir). */
	if (!dir)
		return;
	__atomic_add_fetch(&dir->dir_gen, 1, __ATOMIC_SEQ_CST);
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, fs_inode_id(fs, dir),
						 0, 0);
}

struct dir_handle {
	struct fs_handle hd; /* first: fs/handles.c */
	pthread_mutex_t lock;
	struct fs_dir d;
	bool read; /* served an entry since the snapshot */
	uint64_t gen; /* the directory's dir_gen when the snapshot was taken */
};

static uint64_t dir_gen(struct fs_inode *n)
{
	return __atomic_load_n(&n->dir_gen, __ATOMIC_SEQ_CST);
}

static void dir_handle_free(struct fs_handle *hd)
{
	struct dir_handle *h = (struct dir_handle *)hd;

	fs_dir_free(&h->d);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	struct dir_handle *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->gen = dir_gen(n);
	ret = fs_dir_list(fs, n, &h->d);
	if (ret) {
		pthread_mutex_destroy(&h->lock);
		free(h);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* The kernel may cache the listing: every change of the merged
	 * directory comes through this mount, and strata drops the cached
	 * listing whenever it changes the directory (fs_dir_changed). */
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	fs_handle_link(fs, &h->hd, dir_handle_free);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* interrupted: nobody will release it */
		fs_handle_unlink(fs, &h->hd);
		dir_handle_free(&h->hd);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *dir = fs_inode_from_id(fs, ino);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf, *p;
	size_t rem = size;
	int ret = 0;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	pthread_mutex_lock(&h->lock);
	/* Offset 0 after reading (rewinddir), or the first request after
	 * the kernel served the start from its cache and the directory
	 * changed since opendir: a new snapshot. */
	if (off == 0 && (h->read || h->gen != dir_gen(dir))) {
		struct fs_dir nd = { 0 };

		h->gen = dir_gen(dir);
		ret = fs_dir_list(fs, dir, &nd);
		if (ret)
			goto out;
		fs_dir_free(&h->d);
		h->d = nd;
	}
	h->read = true;
	/* Offsets 1 and 2 are "." and "..", entry i is at i + 3. */
	for (size_t i = (size_t)off; i < h->d.n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i ? ".." : ".";
			e.attr.st_ino = i ? 1 : dir->st_ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			struct fs_dirent *de = &h->d.ents[i - 2];

			name = de->name;
			e.attr.st_ino = de->ino;
			e.attr.st_mode = (mode_t)de->type << 12;
		}
		if (plus && i >= 2) {
			ret = fs_do_lookup(fs, dir, name, &e);
			if (ret == -ENOENT) {
				ret = 0;
				continue; /* gone since the snapshot */
			}
			if (ret)
				break;
		}
		if (plus)
			len = fuse_add_direntry_plus(req, p, rem, name, &e,
						     (off_t)i + 1);
		else
			len = fuse_add_direntry(req, p, rem, name, &e.attr,
						(off_t)i + 1);
		if (len > rem) {
			if (plus && e.ino)
				fs_inode_forget(fs, fs_inode_from_id(fs, e.ino),
						1);
			break;
		}
		p += len;
		rem -= len;
	}
out:
	pthread_mutex_unlock(&h->lock);
	/* An error after some entries: return what we have. */
	if (ret && p == buf)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, (size_t)(p - buf));
	free(buf);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;

	fs_handle_unlink(fs_from_req(req), &h->hd);
	dir_handle_free(&h->hd);
	fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	char path[PATH_MAX];
	int ret = 0, fd;

	if (fs->cfg.fsync && fs->upper_fd >= 0 &&
	    (fs_inode_layers(fs_inode_from_id(fs, ino)) & 1)) {
		ret = fs_inode_path(fs, fs_inode_from_id(fs, ino), NULL, path,
				    sizeof(path));
		if (!ret) {
			fd = openat(fs->upper_fd, path,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				ret = -errno;
			else {
				if (datasync ? fdatasync(fd) : fsync(fd))
					ret = -errno;
				close(fd);
			}
		}
	}
	fuse_reply_err(req, -ret);
}
