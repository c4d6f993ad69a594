// SPDX-License-Identifier: GPL-2.0-or-later
/* unlink and rmdir.  A name that a lower layer still holds is replaced by a
 * whiteout (atomically, by rename from the work directory); a name only the
 * upper holds is removed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs-internal.h"

static int do_unlink(struct fs *fs, struct fs_inode *dir, const char *name)
{
	char path[PATH_MAX];
	struct fs_entry e;
	bool lower;
	int ret;

	ret = fs_resolve(fs, dir, name, &e);
	if (ret)
		return ret;
	if (S_ISDIR(e.st.st_mode))
		return -EISDIR;
	if (e.top > 0 && e.st.st_nlink > 1) {
		/* A lower hardlink: copy it up (which links its other names)
		 * so that removing this name lowers their st_nlink. */
		struct fs_inode *n;

		ret = fs_inode_get(fs, dir, name, e.top, &e.st, e.ino,
				   e.layers, e.opaque, e.data_layer, false, &n);
		if (ret)
			return ret;
		ret = fs_copy_up(fs, n);
		fs_inode_unref(fs, n);
		if (!ret)
			ret = fs_resolve(fs, dir, name, &e);
		if (ret)
			return ret;
	}
	ret = fs_lower_positive(fs, dir, name, &lower);
	if (!ret)
		ret = fs_copy_up(fs, dir);
	if (!ret)
		ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (ret)
		return ret;
	fs_inode_drop_name(fs, e.top, &e.st, dir, name,
			   e.top == 0 && e.st.st_nlink <= 1);
	if (lower)
		return fs_upper_whiteout(fs, path);
	return fs_quota_unlink(fs, fs->upper_fd, path);
}

static int do_rmdir(struct fs *fs, struct fs_inode *dir, const char *name)
{
	char path[PATH_MAX], tmp[64];
	struct fs_inode *c;
	struct fs_entry e;
	bool lower;
	int ret;

	ret = fs_resolve(fs, dir, name, &e);
	if (ret)
		return ret;
	if (!S_ISDIR(e.st.st_mode))
		return -ENOTDIR;
	ret = fs_inode_get(fs, dir, name, e.top, &e.st, e.ino, e.layers,
			   e.opaque, e.data_layer, false, &c);
	if (ret)
		return ret;
	ret = fs_dir_is_empty(fs, c);
	fs_inode_unref(fs, c);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOTEMPTY;
	ret = fs_lower_positive(fs, dir, name, &lower);
	if (!ret)
		ret = fs_copy_up(fs, dir);
	if (!ret)
		ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (ret)
		return ret;
	fs_inode_drop_name(fs, e.top, &e.st, dir, name, e.top == 0);
	if (lower)
		return fs_upper_whiteout(fs, path);
	/* Upper only, maybe holding whiteouts: move it out of sight in one
	 * step, then empty it in the work directory. */
	ret = fs_work_tmpname(fs, tmp, sizeof(tmp));
	if (ret)
		return ret;
	if (renameat(fs->upper_fd, path, fs->work_fd, tmp))
		return -errno;
	return fs_quota_remove_tree(fs, fs->work_fd, tmp);
}

static void remove_reply(fuse_req_t req, fuse_ino_t parent, const char *name,
			 bool is_dir)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *dir = fs_inode_from_id(fs, parent);
	int ret;

	if (fs->upper_fd < 0) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	ret = is_dir ? do_rmdir(fs, dir, name) : do_unlink(fs, dir, name);
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -ret);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_reply(req, parent, name, false);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_reply(req, parent, name, true);
}
