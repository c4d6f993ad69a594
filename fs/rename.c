// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rename, including RENAME_NOREPLACE and RENAME_EXCHANGE, across layers and
 * never with EXDEV.
 *
 * Directories: kernel overlayfs without redirect_dir refuses to rename a
 * directory that has lower content (EXDEV, and mv falls back to copying).
 * strata instead copies the directory's whole merged subtree into the
 * upper first and marks it opaque (fs_copy_up_tree), then renames the
 * now self-contained upper directory.  The result is plain overlayfs
 * format (no redirect xattrs), so kernel overlayfs mounts it with the same
 * view; the cost is a copy proportional to the subtree, paid once.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs-internal.h"

struct side {
	struct fs_inode *dir;
	const char *name;
	struct fs_entry e;
	bool exists;
	bool lower; /* a lower layer holds this name */
	struct fs_inode *n;
	char path[PATH_MAX];
};

static int prepare_side(struct fs *fs, struct side *s)
{
	int ret = fs_resolve(fs, s->dir, s->name, &s->e);

	if (ret && ret != -ENOENT)
		return ret;
	s->exists = !ret;
	ret = fs_lower_positive(fs, s->dir, s->name, &s->lower);
	if (ret)
		return ret;
	if (s->exists)
		ret = fs_inode_get(fs, s->dir, s->name, s->e.top, &s->e.st,
				   s->e.ino, s->e.layers, s->e.opaque,
				   s->e.data_layer, false,
				   &s->n);
	return ret;
}

/* Make a moving object live entirely in the upper. */
static int make_movable(struct fs *fs, struct side *s)
{
	if (S_ISDIR(s->e.st.st_mode))
		return fs_copy_up_tree(fs, s->n);
	return fs_copy_up(fs, s->n);
}

/* A directory arriving where a lower layer has the name must hide it. */
static int fix_opaque(struct fs *fs, struct fs_inode *n, bool lower,
		      const char *path)
{
	int ret;

	if (n->type != S_IFDIR || !lower)
		return 0;
	pthread_mutex_lock(&n->lock);
	ret = n->opaque ? 0 : fs_upper_set_opaque(fs, path);
	if (!ret) {
		n->opaque = true;
		n->layers = 1;
	}
	pthread_mutex_unlock(&n->lock);
	return ret;
}

static int do_rename(struct fs *fs, struct side *a, struct side *b,
		     unsigned int flags)
{
	enum fs_layer_kind kind;
	struct stat st;
	bool dir;
	int ret;

	ret = prepare_side(fs, a);
	if (ret)
		return ret;
	if (!a->exists)
		return -ENOENT;
	dir = S_ISDIR(a->e.st.st_mode);
	ret = prepare_side(fs, b);
	if (ret)
		return ret;
	if (b->exists && a->n == b->n && a->dir == b->dir &&
	    !strcmp(a->name, b->name))
		return 0;
	if ((flags & RENAME_EXCHANGE) && !b->exists)
		return -ENOENT;
	if ((flags & RENAME_NOREPLACE) && b->exists)
		return -EEXIST;
	if (b->exists && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(b->e.st.st_mode) != dir)
			return dir ? -ENOTDIR : -EISDIR;
		if (a->n == b->n)
			return 0; /* hardlinks of one inode: POSIX no-op */
		if (dir) {
			ret = fs_dir_is_empty(fs, b->n);
			if (ret <= 0)
				return ret < 0 ? ret : -ENOTEMPTY;
		}
	}
	ret = fs_copy_up(fs, a->dir);
	if (!ret)
		ret = fs_copy_up(fs, b->dir);
	if (!ret)
		ret = make_movable(fs, a);
	if (!ret && (flags & RENAME_EXCHANGE))
		ret = make_movable(fs, b);
	if (!ret)
		ret = fs_inode_path(fs, a->dir, a->name, a->path,
				    sizeof(a->path));
	if (!ret)
		ret = fs_inode_path(fs, b->dir, b->name, b->path,
				    sizeof(b->path));
	if (ret)
		return ret;

	if (flags & RENAME_EXCHANGE) {
		if (renameat2(fs->upper_fd, a->path, fs->upper_fd, b->path,
			      RENAME_EXCHANGE))
			return -errno;
		fs_inode_move(fs, a->n, a->dir, a->name, b->dir, b->name);
		fs_inode_move(fs, b->n, b->dir, b->name, a->dir, a->name);
		ret = fix_opaque(fs, a->n, b->lower, b->path);
		if (!ret)
			ret = fix_opaque(fs, b->n, a->lower, a->path);
		return ret;
	}

	/* The target's upper part: an empty merged directory may still hold
	 * whiteouts; a whiteout under a directory needs an exchange. */
	ret = fs_upper_entry(fs, b->path, &st, &kind);
	if (ret)
		return ret;
	if (kind == LAYER_ENTRY && S_ISDIR(st.st_mode)) {
		ret = fs_upper_clear_whiteouts(fs, b->path, true);
		if (ret)
			return ret;
	}
	if (kind == LAYER_ENTRY)
		fs_inode_drop_name(fs, 0, &st, b->dir, b->name,
				   S_ISDIR(st.st_mode) || st.st_nlink <= 1);
	if (dir && b->lower) {
		pthread_mutex_lock(&a->n->lock);
		ret = a->n->opaque ? 0 : fs_upper_set_opaque(fs, a->path);
		if (!ret)
			a->n->opaque = true;
		pthread_mutex_unlock(&a->n->lock);
		if (ret)
			return ret;
	}
	if (kind == LAYER_WHITEOUT && dir) {
		if (renameat2(fs->upper_fd, a->path, fs->upper_fd, b->path,
			      RENAME_EXCHANGE))
			return -errno;
		/* The whiteout now sits at the old name: keep it if a lower
		 * holds that name, else drop it. */
		if (!a->lower && unlinkat(fs->upper_fd, a->path, 0))
			return -errno;
	} else if (renameat2(fs->upper_fd, a->path, fs->upper_fd, b->path,
			     a->lower ? RENAME_WHITEOUT : 0)) {
		return -errno;
	}
	fs_quota_renamed(fs, kind, &st, a->lower);
	fs_inode_move(fs, a->n, a->dir, a->name, b->dir, b->name);
	return 0;
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_from_req(req);
	struct side a = { .dir = fs_inode_from_id(fs, parent), .name = name };
	struct side b = { .dir = fs_inode_from_id(fs, newparent),
			  .name = newname };
	int ret;

	if (fs->upper_fd < 0) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_rwlock_wrlock(&fs->rename_lock);
	ret = do_rename(fs, &a, &b, flags);
	pthread_rwlock_unlock(&fs->rename_lock);
	fs_inode_unref(fs, a.n);
	fs_inode_unref(fs, b.n);
	fuse_reply_err(req, -ret);
}
