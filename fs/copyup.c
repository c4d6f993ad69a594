// SPDX-License-Identifier: GPL-2.0-or-later
/* Copy-up: make a lower object writable by copying it, data (holes kept),
 * owner, mode, times and xattrs, into the work directory and renaming it
 * into the upper.  Parents are copied up first, one lock at a time. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs-internal.h"
#include "strata/util.h"

#define COPY_CHUNK (1 << 20)

static int copy_range(int in, int out, off_t off, off_t end, char *buf)
{
	while (off < end) {
		size_t len = (size_t)MIN(end - off, COPY_CHUNK);
		loff_t ioff = off, ooff = off;
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, len, 0);

		if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EINVAL)) {
			n = pread(in, buf, len, off);
			if (n > 0) {
				int r = strata_pwrite_full(out, buf, (size_t)n,
							   off);

				if (r)
					return r;
			}
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* file shrank under us: the lower is immutable */
		off += n;
	}
	return 0;
}

static int copy_data(struct fs_layer *l, const char *path, int out, off_t size)
{
	struct fs_layer_file *f;
	char *buf;
	off_t off = 0;
	int ret;

	ret = l->ops->open(l, path, O_RDONLY, &f);
	if (ret)
		return ret;
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	if (f->fd < 0) {
		while (off < size) {
			ssize_t n = l->ops->read(f, buf, COPY_CHUNK, off);

			if (n <= 0) {
				ret = (int)n;
				break;
			}
			ret = strata_pwrite_full(out, buf, (size_t)n, off);
			if (ret)
				break;
			off += n;
		}
		goto out;
	}
	while (off < size) {
		off_t data = lseek(f->fd, off, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole remains */
			data = off; /* no SEEK_DATA: copy everything */
			hole = size;
		} else {
			hole = lseek(f->fd, data, SEEK_HOLE);
			if (hole < 0)
				hole = size;
		}
		ret = copy_range(f->fd, out, data, MIN(hole, size), buf);
		if (ret)
			break;
		off = hole;
	}
out:
	if (!ret && ftruncate(out, size))
		ret = -errno;
	free(buf);
	l->ops->close(f);
	return ret;
}

enum copy_mode {
	COPY_DATA,  /* everything */
	COPY_META,  /* a metacopy: size and metadata, data stays below */
	COPY_EMPTY, /* metadata only, size 0: the caller truncates to 0 */
};

/* Build a copy of the object at path in layer l as work/tmp; it reports
 * st_ino ino from now on (FS_ORIGIN_XATTR). */
static int copy_object(struct fs *fs, struct fs_layer *l, const char *path,
		       const struct stat *st, const char *tmp, uint64_t ino,
		       enum copy_mode mode)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	bool meta = mode == COPY_META;
	char target[PATH_MAX];
	ssize_t n;
	int ret = 0, fd;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		fd = openat(fs->work_fd, tmp,
			    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (meta)
			ret = ftruncate(fd, st->st_size) ? -errno : 0;
		else if (mode == COPY_DATA)
			ret = copy_data(l, path, fd, st->st_size);
		/* As kernel overlayfs: only copied data is synced. */
		if (!ret && mode == COPY_DATA && st->st_size && fs->cfg.fsync &&
		    fsync(fd))
			ret = -errno;
		close(fd);
		break;
	case S_IFDIR:
		if (mkdirat(fs->work_fd, tmp, 0700))
			return -errno;
		break;
	case S_IFLNK:
		n = l->ops->readlink(l, path, target, sizeof(target) - 1);
		if (n < 0)
			return (int)n;
		target[n] = '\0';
		if (symlinkat(target, fs->work_fd, tmp))
			return -errno;
		break;
	default:
		if (mknodat(fs->work_fd, tmp, st->st_mode & (S_IFMT | 0777),
			    st->st_rdev))
			return -errno;
		break;
	}
	if (ret)
		goto err;
	/* chown first: it clears set-id bits and security.capability. */
	if (fchownat(fs->work_fd, tmp, st->st_uid, st->st_gid,
		     AT_SYMLINK_NOFOLLOW)) {
		ret = -errno;
		goto err;
	}
	ret = fs_copy_xattrs(fs, l, path, fs->work_fd, tmp);
	if (ret)
		goto err;
	ret = fs_set_origin(fs, fs->work_fd, tmp, ino);
	if (ret)
		goto err;
	if (meta) {
		char p[PATH_MAX + 64];

		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->work_fd, tmp);
		if (lsetxattr(p, FS_METACOPY_XATTR, "", 0, 0)) {
			ret = -errno;
			goto err;
		}
	}
	if (!S_ISLNK(st->st_mode) &&
	    fchmodat(fs->work_fd, tmp, st->st_mode & 07777, 0)) {
		ret = -errno;
		goto err;
	}
	if (utimensat(fs->work_fd, tmp, ts, AT_SYMLINK_NOFOLLOW)) {
		ret = -errno;
		goto err;
	}
	return 0;
err:
	fs_upper_remove_tree(fs, fs->work_fd, tmp);
	return ret;
}

static struct fs_inode *get_parent(struct fs *fs, struct fs_inode *n)
{
	struct fs_inode *p;

	pthread_mutex_lock(&fs->table_lock);
	p = n->parent;
	if (p)
		p->refs++;
	pthread_mutex_unlock(&fs->table_lock);
	return p;
}

/* n's upper copy is a metacopy: copy the data in place (or, when the
 * caller truncates it to 0 next, just truncate), then drop the marker (a
 * crash in between leaves a valid metacopy), as the kernel does. */
static int complete_data(struct fs *fs, struct fs_inode *n, bool empty)
{
	char path[PATH_MAX], p[PATH_MAX + 64];
	enum fs_layer_kind kind;
	struct fs_layer *l;
	struct fs_qdata q;
	struct stat st;
	int ret, fd;

	pthread_mutex_lock(&n->lock);
	if (!n->data_layer) {
		ret = 0;
		goto out;
	}
	l = fs->layers[n->data_layer];
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (!ret)
		ret = l->ops->lookup(l, path, &st, &kind);
	if (ret)
		goto out;
	if (kind != LAYER_ENTRY || !S_ISREG(st.st_mode)) {
		log_err("%s: metacopy upper file without lower data", path);
		ret = -EIO;
		goto out;
	}
	fd = openat(fs->upper_fd, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = fs_quota_data_begin(fs, &q, fs_inode_id(fs, n), fd, NULL, 0,
				  empty ? 0 : (uint64_t)st.st_size);
	if (!ret)
		ret = empty ? (ftruncate(fd, 0) ? -errno : 0) :
			      copy_data(l, path, fd, st.st_size);
	fs_quota_data_end(fs, &q);
	if (!ret && !empty && fs->cfg.fsync && fsync(fd))
		ret = -errno;
	close(fd);
	if (ret)
		goto out;
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->upper_fd, path);
	if (lremovexattr(p, FS_METACOPY_XATTR) && errno != ENODATA) {
		ret = -errno;
		goto out;
	}
	n->data_layer = 0;
out:
	pthread_mutex_unlock(&n->lock);
	return ret;
}

static int copy_up(struct fs *fs, struct fs_inode *n, enum copy_mode mode);

int fs_copy_up(struct fs *fs, struct fs_inode *n)
{
	return copy_up(fs, n, COPY_DATA);
}

int fs_copy_up_meta(struct fs *fs, struct fs_inode *n)
{
	return copy_up(fs, n, fs->cfg.metacopy ? COPY_META : COPY_DATA);
}

int fs_copy_up_truncate(struct fs *fs, struct fs_inode *n)
{
	return copy_up(fs, n, COPY_EMPTY);
}

static int copy_up(struct fs *fs, struct fs_inode *n, enum copy_mode mode)
{
	char path[PATH_MAX], tmp[64];
	struct fs_inode *parent;
	enum fs_layer_kind kind;
	struct stat st, ust;
	struct fs_layer *l;
	struct fs_qres q = { 0 };
	unsigned li = 0;
	int ret;

	if (fs->upper_fd < 0)
		return -EROFS;
	if (fs_inode_layers(n) & 1)
		return mode == COPY_META ? 0 :
					   complete_data(fs, n, mode == COPY_EMPTY);
	parent = get_parent(fs, n);
	if (parent) {
		ret = fs_copy_up(fs, parent);
		fs_inode_unref(fs, parent);
		if (ret)
			return ret;
	}
	pthread_mutex_lock(&n->lock);
	if (n->layers & 1) {
		pthread_mutex_unlock(&n->lock);
		return mode == COPY_META ? 0 :
					   complete_data(fs, n, mode == COPY_EMPTY);
	}
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret)
		goto out;
	ret = fs_upper_entry(fs, path, &ust, &kind);
	if (ret)
		goto out;
	if (kind == LAYER_ENTRY) /* copied up through another name */
		goto installed;
	l = fs->layers[n->layers ? __builtin_ctzll(n->layers) : 0];
	ret = l->ops->lookup(l, path, &st, &kind);
	if (ret)
		goto out;
	if (kind != LAYER_ENTRY) {
		ret = -ENOENT;
		goto out;
	}
	ret = fs_work_tmpname(fs, tmp, sizeof(tmp));
	if (ret)
		goto out;
	/* Hardlinks are copied whole: their names are linked to the copy,
	 * which must hold the data (emptied, all names are truncated). */
	if ((mode == COPY_META &&
	     (!S_ISREG(st.st_mode) || st.st_nlink != 1 || !st.st_size)) ||
	    (mode == COPY_EMPTY && !S_ISREG(st.st_mode)))
		mode = COPY_DATA;
	ret = fs_quota_reserve_copy(fs, &q, &st, mode == COPY_DATA);
	if (!ret)
		ret = copy_object(fs, l, path, &st, tmp, n->st_ino, mode);
	if (ret)
		goto out;
	if (renameat2(fs->work_fd, tmp, fs->upper_fd, path, RENAME_NOREPLACE)) {
		ret = -errno;
		fs_upper_remove_tree(fs, fs->work_fd, tmp);
		goto out;
	}
	if (fstatat(fs->upper_fd, path, &ust, AT_SYMLINK_NOFOLLOW)) {
		ret = -errno;
		goto out;
	}
	fs_quota_commit(fs, &q, &ust);
	li = l->index;
	n->data_layer = mode == COPY_META ? li : 0;
installed:
	n->layers = S_ISDIR(ust.st_mode) ? (n->layers | 1) : 1;
	pthread_mutex_unlock(&n->lock);
	fs_inode_rekey(fs, n, 0, &ust);
	/* After the unlock: linking copies up other names' parents. */
	if (li && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
		fs_link_aliases(fs, li, path, &st, path);
	return 0;
out:
	fs_quota_release(fs, &q);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

int fs_copy_up_tree(struct fs *fs, struct fs_inode *n)
{
	char path[PATH_MAX];
	struct fs_dir d = { 0 };
	int ret;

	ret = fs_copy_up(fs, n);
	if (ret)
		return ret;
	if (n->type != S_IFDIR || fs_inode_layers(n) == 1)
		return 0; /* pure upper already */
	ret = fs_dir_list(fs, n, &d);
	if (ret)
		return ret;
	for (size_t i = 0; i < d.n && !ret; i++) {
		struct fs_entry e;
		struct fs_inode *c;

		ret = fs_resolve(fs, n, d.ents[i].name, &e);
		if (ret)
			break;
		if (e.layers == 1 && !e.data_layer)
			continue; /* upper only, data included */
		ret = fs_inode_get(fs, n, d.ents[i].name, e.top, &e.st, e.ino,
				   e.layers, e.opaque, e.data_layer, false, &c);
		if (ret)
			break;
		ret = S_ISDIR(e.st.st_mode) ? fs_copy_up_tree(fs, c) :
					      fs_copy_up(fs, c);
		fs_inode_unref(fs, c);
	}
	fs_dir_free(&d);
	if (ret)
		return ret;
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (!ret)
		ret = fs_upper_clear_whiteouts(fs, path, false);
	if (!ret)
		ret = fs_upper_set_opaque(fs, path);
	if (ret)
		return ret;
	pthread_mutex_lock(&n->lock);
	n->layers = 1;
	n->opaque = true;
	pthread_mutex_unlock(&n->lock);
	return 0;
}
