// SPDX-License-Identifier: GPL-2.0-or-later
/* FUSE handlers for nodes: lookup, forget, getattr, setattr, readlink. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs-internal.h"

/* The fd of an open file handle (fs/file.c), -1 when there is none. */
int fs_file_fd(struct fuse_file_info *fi);

struct fs *fs_from_req(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fs_reply_entry(fuse_req_t req, struct fs *fs, int err,
		    struct fuse_entry_param *e)
{
	if (err == -ENOENT) {
		/* Cache the miss: only strata changes the tree, and the
		 * kernel drops negative entries when it creates a name. */
		memset(e, 0, sizeof(*e));
		e->entry_timeout = fs->timeout;
		fuse_reply_entry(req, e);
	} else if (err) {
		fuse_reply_err(req, -err);
	} else if (fuse_reply_entry(req, e) == -ENOENT) {
		/* The request was interrupted: undo the lookup count. */
		fs_inode_forget(fs, fs_inode_from_id(fs, e->ino), 1);
	}
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	int ret;

	ret = fs_do_lookup(fs, fs_inode_from_id(fs, parent), name, &e);
	fs_reply_entry(req, fs, ret, &e);
}

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_from_req(req);

	fs_inode_forget(fs, fs_inode_from_id(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_from_req(req);

	for (size_t i = 0; i < count; i++)
		fs_inode_forget(fs, fs_inode_from_id(fs, forgets[i].ino),
				forgets[i].nlookup);
	fuse_reply_none(req);
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	int fd = fi ? fs_file_fd(fi) : -1;
	struct stat st;
	int ret;

	/* An open file may have lost its name: ask its fd. */
	if (fd >= 0 && !fstat(fd, &st)) {
		fs_fix_attr(fs, n, &st);
		fuse_reply_attr(req, &st, fs->timeout);
		return;
	}
	ret = fs_getattr_node(fs, n, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}


static int do_setattr(fuse_req_t req, struct fs *fs, struct fs_inode *n,
		      struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int ret, fd;

	/* Only a size change needs the data, and not to truncate to 0. */
	if (!(to_set & FUSE_SET_ATTR_SIZE))
		ret = fs_copy_up_meta(fs, n);
	else if (attr->st_size == 0)
		ret = fs_copy_up_truncate(fs, n);
	else
		ret = fs_copy_up(fs, n);
	if (ret)
		return ret;
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret)
		return ret;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? attr->st_uid :
							 (uid_t)-1;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? attr->st_gid :
							 (gid_t)-1;

		ret = fs_set_owner(fs, fs->upper_fd, path, uid, gid,
				   AT_SYMLINK_NOFOLLOW);
		if (ret)
			return ret;
	}
	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    fchmodat(fs->upper_fd, path, attr->st_mode & 07777, 0))
		return -errno;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		fd = fi ? fs_file_fd(fi) : -1;
		if (fd >= 0) {
			struct fs_qdata q;

			ret = fs_quota_data_begin(fs, &q, fs_inode_id(fs, n), fd,
						  NULL, 0, 0);
			if (!ret && ftruncate(fd, attr->st_size))
				ret = -errno;
			fs_quota_data_end(fs, &q);
			if (!ret)
				ret = fs_kill_setid(req, fs_inode_id(fs, n), fd,
						    false);
			if (ret)
				return ret;
		} else {
			struct fs_qdata q;

			fd = openat(fs->upper_fd, path,
				    O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return -errno;
			ret = fs_quota_data_begin(fs, &q, fs_inode_id(fs, n), fd,
						  NULL, 0, 0);
			if (!ret && ftruncate(fd, attr->st_size))
				ret = -errno;
			fs_quota_data_end(fs, &q);
			if (!ret)
				ret = fs_kill_setid(req, fs_inode_id(fs, n), fd,
						    false);
			close(fd);
			if (ret)
				return ret;
		}
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(fs->upper_fd, path, ts, AT_SYMLINK_NOFOLLOW))
			return -errno;
	}
	return 0;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	struct stat st;
	int ret;

	if (fs->upper_fd < 0) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* A size change must not happen under a reader of the lower data
	 * (fs/passthrough.c). */
	ret = to_set & FUSE_SET_ATTR_SIZE ? fs_pt_write_begin(fs, n) : 0;
	if (!ret) {
		pthread_rwlock_rdlock(&fs->rename_lock);
		ret = do_setattr(req, fs, n, attr, to_set, fi);
		pthread_rwlock_unlock(&fs->rename_lock);
		if (to_set & FUSE_SET_ATTR_SIZE)
			fs_pt_write_end(fs, n);
	}
	if (!ret)
		ret = fs_getattr_node(fs, n, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	char path[PATH_MAX], buf[PATH_MAX + 1];
	struct fs_layer *l = fs->layers[fs_inode_top(n)];
	ssize_t len;
	int ret;

	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	len = l->ops->readlink(l, path, buf, sizeof(buf) - 1);
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}
