// SPDX-License-Identifier: GPL-2.0-or-later
/* Extended attributes of the merged view.  trusted.overlay.* belongs to the
 * overlay format and is hidden, as kernel overlayfs hides it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs/fs-internal.h"

#define XATTR_LIST_MAX_ 65536
#define XATTR_SIZE_MAX_ 65536

bool fs_xattr_private(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16);
}

static bool hidden(struct fs *fs, const char *name)
{
	if (fs_xattr_private(name))
		return true;
	return fs->cfg.noacl && !strncmp(name, "system.posix_acl_", 17);
}

int fs_copy_xattrs(struct fs *fs, struct fs_layer *l, const char *path,
		   int dst_dirfd, const char *dst_name)
{
	char *list = NULL, *val = NULL, dst[PATH_MAX + 64];
	ssize_t len, vlen;
	int ret = 0;

	if (fs->cfg.noxattrs)
		return 0;
	if (snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", dst_dirfd,
		     dst_name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	list = malloc(XATTR_LIST_MAX_);
	val = malloc(XATTR_SIZE_MAX_);
	if (!list || !val) {
		ret = -ENOMEM;
		goto out;
	}
	len = l->ops->listxattr(l, path, list, XATTR_LIST_MAX_);
	if (len < 0) {
		ret = len == -ENOTSUP ? 0 : (int)len;
		goto out;
	}
	for (char *n = list; n < list + len; n += strlen(n) + 1) {
		if (fs_xattr_private(n))
			continue;
		vlen = l->ops->getxattr(l, path, n, val, XATTR_SIZE_MAX_);
		if (vlen == -ENODATA)
			continue;
		if (vlen < 0) {
			ret = (int)vlen;
			goto out;
		}
		if (lsetxattr(dst, n, val, (size_t)vlen, 0)) {
			/* The upper may not store every namespace (ACLs on a
			 * filesystem mounted noacl): keep going, say so. */
			if (errno == ENOTSUP || errno == EOPNOTSUPP) {
				log_warn("copy-up of %s: xattr %s not supported by the upper",
					 path, n);
				continue;
			}
			ret = -errno;
			goto out;
		}
	}
out:
	free(list);
	free(val);
	return ret;
}

static void reply_err(fuse_req_t req, int err)
{
	fuse_reply_err(req, -err);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	char path[PATH_MAX], *buf = NULL;
	struct fs_layer *l;
	ssize_t len;
	int ret;

	if (fs_which_xattr(name)) {
		/* Virtual, so served with noxattrs too (fs/origin.c). */
		char v[PATH_MAX + 64];

		len = fs_which_get(fs, n, v, size ? (size < sizeof(v) ? size : sizeof(v)) : 0);
		if (len < 0)
			return reply_err(req, (int)len);
		if (!size)
			return (void)fuse_reply_xattr(req, (size_t)len);
		return (void)fuse_reply_buf(req, v, (size_t)len);
	}
	if (fs->cfg.noxattrs || hidden(fs, name))
		return reply_err(req, -EOPNOTSUPP);
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret)
		return reply_err(req, ret);
	l = fs->layers[fs_inode_top(n)];
	if (size) {
		buf = malloc(size);
		if (!buf)
			return reply_err(req, -ENOMEM);
	}
	len = l->ops->getxattr(l, path, name, buf, size);
	if (len < 0)
		reply_err(req, (int)len);
	else if (!size)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	char path[PATH_MAX], *list, *out;
	struct fs_layer *l;
	ssize_t len;
	size_t olen = 0;
	int ret;

	if (fs->cfg.noxattrs)
		return size ? reply_err(req, -EOPNOTSUPP) :
			      (void)fuse_reply_xattr(req, 0);
	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret)
		return reply_err(req, ret);
	l = fs->layers[fs_inode_top(n)];
	list = malloc(XATTR_LIST_MAX_);
	out = malloc(XATTR_LIST_MAX_);
	if (!list || !out) {
		ret = -ENOMEM;
		goto out;
	}
	len = l->ops->listxattr(l, path, list, XATTR_LIST_MAX_);
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		size_t pl = strlen(p) + 1;

		if (hidden(fs, p) || fs_which_xattr(p))
			continue;
		memcpy(out + olen, p, pl);
		olen += pl;
	}
	if (!size)
		fuse_reply_xattr(req, olen);
	else if (size < olen)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, out, olen);
out:
	if (ret)
		reply_err(req, ret);
	free(list);
	free(out);
}

static int upper_proc_path(struct fs *fs, struct fs_inode *n, char *p,
			   size_t size)
{
	char path[PATH_MAX];
	int ret = fs_inode_path(fs, n, NULL, path, sizeof(path));

	if (ret)
		return ret;
	if (snprintf(p, size, "/proc/self/fd/%d/%s", fs->upper_fd, path) >=
	    (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int xattr_prepare(struct fs *fs, struct fs_inode *n, const char *name,
			 bool removing)
{
	char path[PATH_MAX];
	struct fs_layer *l;
	ssize_t len;
	int ret;

	if (fs_which_xattr(name))
		return -EPERM; /* computed, never stored */
	if (fs->upper_fd < 0)
		return -EROFS;
	if (fs->cfg.noxattrs || hidden(fs, name))
		return -EOPNOTSUPP;
	if (removing && !(fs_inode_layers(n) & 1)) {
		/* Nothing to remove: fail without copying up. */
		ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
		if (ret)
			return ret;
		l = fs->layers[fs_inode_top(n)];
		len = l->ops->getxattr(l, path, name, NULL, 0);
		if (len < 0)
			return (int)len;
	}
	return fs_copy_up_meta(fs, n);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	char p[PATH_MAX + 64];
	int ret;

	pthread_rwlock_rdlock(&fs->rename_lock);
	ret = xattr_prepare(fs, n, name, false);
	if (!ret)
		ret = upper_proc_path(fs, n, p, sizeof(p));
	if (!ret && lsetxattr(p, name, value, size, flags))
		ret = -errno;
	pthread_rwlock_unlock(&fs->rename_lock);
	reply_err(req, ret);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	char p[PATH_MAX + 64];
	int ret;

	pthread_rwlock_rdlock(&fs->rename_lock);
	ret = xattr_prepare(fs, n, name, true);
	if (!ret)
		ret = upper_proc_path(fs, n, p, sizeof(p));
	if (!ret && lremovexattr(p, name))
		ret = -errno;
	pthread_rwlock_unlock(&fs->rename_lock);
	reply_err(req, ret);
}
