// SPDX-License-Identifier: GPL-2.0-or-later
/* Creating names: mknod, mkdir, symlink, create (fs/file.c opens), link.
 * The object is built in the work directory with its final owner, mode and
 * (for a directory replacing a whiteout) opaque marker, then renamed in. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs-internal.h"

struct new_obj {
	mode_t mode;
	dev_t rdev;
	const char *link;	/* symlink target */
	struct fs_inode *target; /* link(): existing node */
	int open_flags;		/* create(): flags for the returned fd */
	int fd;			/* create(): out */
};

/*
 * The parent's default ACL decides the new object's ACLs and mode (and
 * the caller's umask is then ignored).  The host filesystem applies the
 * inheritance rules when it creates an object in a directory that has a
 * default ACL, so the object is created inside a private directory of the
 * work directory that carries a copy of the parent's default ACL; *obj
 * becomes "<tmp>/o".  Returns 1 when that was done, 0 when the parent has
 * no default ACL, -errno.
 */
static int acl_stage(struct fs *fs, const char *ppath, const char *tmp,
		     char *obj, size_t size)
{
	char p[PATH_MAX + 64], acl[8192];
	ssize_t n;
	int ret;

	if (fs->cfg.noacl)
		return 0;
	if (snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->upper_fd,
		     ppath) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	n = lgetxattr(p, "system.posix_acl_default", acl, sizeof(acl));
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
	if (snprintf(obj, size, "%s/o", tmp) >= (int)size)
		return -ENAMETOOLONG;
	if (mkdirat(fs->work_fd, tmp, 0700))
		return -errno;
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->work_fd, tmp);
	if (lsetxattr(p, "system.posix_acl_default", acl, (size_t)n, 0)) {
		ret = -errno;
		unlinkat(fs->work_fd, tmp, AT_REMOVEDIR);
		return ret;
	}
	return 1;
}

static int build(struct fs *fs, const struct fuse_ctx *ctx, const char *ppath,
		 const char *tmp, struct new_obj *o, bool acl)
{
	struct stat pst, st;
	uid_t uid = ctx->uid;
	gid_t gid = ctx->gid;
	mode_t mode = o->mode & 07777;
	int ret;

	/* The kernel leaves the umask to strata (FUSE_CAP_DONT_MASK), since
	 * a default ACL replaces it. */
	if (!acl)
		mode &= ~ctx->umask;
	if (fstatat(fs->upper_fd, ppath, &pst, 0))
		return -errno;
	if (pst.st_mode & S_ISGID) { /* BSD group semantics of the parent */
		gid = pst.st_gid;
		if (S_ISDIR(o->mode))
			mode |= S_ISGID;
		gid = fs_id_to_container(fs->cfg.gidmap, fs->cfg.ngidmap, gid);
	}
	switch (o->mode & S_IFMT) {
	case S_IFREG:
		o->fd = openat(fs->work_fd, tmp,
			       (o->open_flags & ~(O_TRUNC | O_NOFOLLOW)) |
				       O_CREAT | O_EXCL | O_CLOEXEC,
			       mode);
		if (o->fd < 0)
			return -errno;
		break;
	case S_IFDIR:
		if (mkdirat(fs->work_fd, tmp, mode))
			return -errno;
		break;
	case S_IFLNK:
		if (symlinkat(o->link, fs->work_fd, tmp))
			return -errno;
		break;
	default:
		if (mknodat(fs->work_fd, tmp, (o->mode & S_IFMT) | mode,
			    o->rdev))
			return -errno;
		break;
	}
	if (acl && !S_ISLNK(o->mode)) {
		/* The mode the inherited ACL left (group bits = its mask). */
		if (fstatat(fs->work_fd, tmp, &st, AT_SYMLINK_NOFOLLOW))
			return -errno;
		mode = (st.st_mode & 0777) | (mode & 07000);
	}
	ret = fs_set_owner(fs, fs->work_fd, tmp, uid, gid, AT_SYMLINK_NOFOLLOW);
	if (ret)
		return ret;
	/* chown cleared set-id bits that the caller asked for. */
	if (!S_ISLNK(o->mode) && fchmodat(fs->work_fd, tmp, mode, 0))
		return -errno;
	return 0;
}

static int do_create(fuse_req_t req, struct fs *fs, struct fs_inode *dir,
		     const char *name, struct new_obj *o,
		     struct fuse_entry_param *e)
{
	char ppath[PATH_MAX], path[PATH_MAX], tmp[64], p[PATH_MAX + 64];
	char stage[64] = "", obj[80];
	struct fs_entry ent;
	enum fs_layer_kind kind;
	struct fs_inode *n;
	struct stat st;
	bool opaque;
	int ret;

	o->fd = -1;
	if (fs->upper_fd < 0)
		return -EROFS;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	ret = fs_copy_up(fs, dir);
	if (ret)
		return ret;
	if (o->target) {
		ret = fs_copy_up(fs, o->target);
		if (ret)
			return ret;
	}
	ret = fs_resolve(fs, dir, name, &ent);
	if (ret != -ENOENT) {
		ret = ret ? ret : -EEXIST;
		goto out;
	}
	ret = fs_inode_path(fs, dir, NULL, ppath, sizeof(ppath));
	if (!ret)
		ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (!ret)
		ret = fs_work_tmpname(fs, tmp, sizeof(tmp));
	if (ret)
		goto out;
	if (o->target) {
		char tpath[PATH_MAX];

		ret = fs_inode_path(fs, o->target, NULL, tpath, sizeof(tpath));
		if (ret)
			goto out;
		if (linkat(fs->upper_fd, tpath, fs->work_fd, tmp, 0)) {
			ret = -errno;
			goto out;
		}
	} else {
		ret = acl_stage(fs, ppath, tmp, obj, sizeof(obj));
		if (ret < 0)
			goto out;
		if (ret) {
			strcpy(stage, tmp);
			strcpy(tmp, obj);
		}
		ret = build(fs, fuse_req_ctx(req), ppath, tmp, o, stage[0]);
		if (ret)
			goto err_tmp;
	}
	ret = fs_upper_entry(fs, path, &st, &kind);
	if (ret)
		goto err_tmp;
	/* A directory over a whiteout must not merge what the whiteout hid;
	 * in a merged parent kernel overlayfs marks every new directory
	 * opaque (it saves lookups below), and so does strata, to keep the
	 * two uppers identical. */
	opaque = S_ISDIR(o->mode) &&
		 (kind == LAYER_WHITEOUT || (fs_inode_layers(dir) & ~1ULL));
	if (opaque) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->work_fd, tmp);
		if (lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0)) {
			ret = -errno;
			goto err_tmp;
		}
	}
	ret = fs_upper_install(fs, tmp, path, S_ISDIR(o->mode));
	if (ret)
		goto err_tmp;
	if (stage[0])
		fs_upper_remove_tree(fs, fs->work_fd, stage);
	if (fstatat(fs->upper_fd, path, &st, AT_SYMLINK_NOFOLLOW)) {
		ret = -errno;
		goto out;
	}
	ret = fs_inode_get(fs, dir, name, 0, &st, 0, 1, opaque, 0, true, &n);
	if (ret)
		goto out;
	memset(e, 0, sizeof(*e));
	e->ino = fs_inode_id(fs, n);
	e->attr = st;
	fs_fix_attr(fs, n, &e->attr);
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	goto out;
err_tmp:
	fs_upper_remove_tree(fs, fs->work_fd, stage[0] ? stage : tmp);
out:
	if (ret && o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
	return ret;
}

/* For fs/file.c: create and open a regular file; *fd is the open fd. */
int fs_create_file(fuse_req_t req, struct fs *fs, struct fs_inode *dir,
		   const char *name, mode_t mode, int flags,
		   struct fuse_entry_param *e, int *fd)
{
	struct new_obj o = { .mode = S_IFREG | (mode & 07777),
			     .open_flags = flags };
	int ret;

	pthread_rwlock_rdlock(&fs->rename_lock);
	ret = do_create(req, fs, dir, name, &o, e);
	pthread_rwlock_unlock(&fs->rename_lock);
	*fd = o.fd;
	return ret;
}

static void create_reply(fuse_req_t req, fuse_ino_t parent, const char *name,
			 struct new_obj *o)
{
	struct fs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	int ret;

	pthread_rwlock_rdlock(&fs->rename_lock);
	ret = do_create(req, fs, fs_inode_from_id(fs, parent), name, o, &e);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (o->fd >= 0)
		close(o->fd);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fs_reply_entry(req, fs, 0, &e);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	struct new_obj o = { .mode = mode, .rdev = rdev,
			     .open_flags = O_RDONLY };

	/* In the upper a char 0/0 is a whiteout, which would hide the very
	 * name just created: refused, as kernel overlayfs does. */
	if (S_ISCHR(mode) && rdev == makedev(0, 0)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	create_reply(req, parent, name, &o);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct new_obj o = { .mode = S_IFDIR | (mode & 07777) };

	create_reply(req, parent, name, &o);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	struct new_obj o = { .mode = S_IFLNK | 0777, .link = link };

	create_reply(req, parent, name, &o);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	struct fs *fs = fs_from_req(req);
	struct new_obj o = { .target = fs_inode_from_id(fs, ino) };

	o.mode = o.target->type;
	create_reply(req, newparent, newname, &o);
}
