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

/* 1 if the upper directory ppath has a default ACL, 0 if not, -errno. */
static int has_default_acl(struct fs *fs, const char *ppath)
{
	char p[PATH_MAX + 64];

	if (fs->cfg.noacl)
		return 0;
	if (snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->upper_fd,
		     ppath) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	if (lgetxattr(p, "system.posix_acl_default", NULL, 0) >= 0)
		return 1;
	return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
}

/*
 * The common case, as kernel overlayfs does it: the kernel only asks to
 * create a name its (negative) lookup found absent in the merged view, so
 * when the upper has nothing at all at that name (no whiteout to replace)
 * the object is made in place, where the host applies the parent's default
 * ACL and set-group-ID directory itself.  Nobody sees it before the reply:
 * the kernel holds the parent locked.  Returns 1 when the upper holds
 * something there (a whiteout): the caller then builds the object in the
 * work directory; 0 with *st filled; -errno.
 */
static int create_direct(fuse_req_t req, struct fs *fs, struct fs_inode *dir,
			 const char *ppath, const char *path,
			 struct new_obj *o, bool *opaque, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const char *base = strrchr(path, '/');
	mode_t mode = o->mode & 07777;
	char p[PATH_MAX + 64];
	struct stat pst;
	gid_t gid = ctx->gid;
	bool merged = fs_inode_layers(dir) & ~1ULL;
	int acl, ret, fd = -1;

	base = base ? base + 1 : path;
	/* A ".wh.NAME" marker (an upper written by fuse-overlayfs) would
	 * still hide the new name from listings: the slow path removes it. */
	if (merged) {
		if (snprintf(p, sizeof(p), "%.*s.wh.%s", (int)(base - path),
			     path, base) >= (int)sizeof(p))
			return 1;
		if (!fstatat(fs->upper_fd, p, &pst, AT_SYMLINK_NOFOLLOW))
			return 1;
	}
	if (o->target) {
		char tpath[PATH_MAX];

		ret = fs_inode_path(fs, o->target, NULL, tpath, sizeof(tpath));
		if (ret)
			return ret;
		if (linkat(fs->upper_fd, tpath, fs->upper_fd, path, 0))
			return errno == EEXIST ? 1 : -errno;
		if (fstatat(fs->upper_fd, path, st, AT_SYMLINK_NOFOLLOW))
			return -errno;
		return 0;
	}
	acl = has_default_acl(fs, ppath);
	if (acl < 0)
		return acl;
	if (!acl)
		mode &= ~ctx->umask;
	if (fstatat(fs->upper_fd, ppath, &pst, 0))
		return -errno;
	if (pst.st_mode & S_ISGID) /* the host gave it the parent's group */
		gid = (gid_t)-1;
	switch (o->mode & S_IFMT) {
	case S_IFREG:
		fd = openat(fs->upper_fd, path,
			    (o->open_flags & ~(O_TRUNC | O_NOFOLLOW)) | O_CREAT |
				    O_EXCL | O_CLOEXEC,
			    mode);
		if (fd < 0)
			return errno == EEXIST ? 1 : -errno;
		break;
	case S_IFDIR:
		if (mkdirat(fs->upper_fd, path, mode))
			return errno == EEXIST ? 1 : -errno;
		break;
	case S_IFLNK:
		if (symlinkat(o->link, fs->upper_fd, path))
			return errno == EEXIST ? 1 : -errno;
		break;
	default:
		if (mknodat(fs->upper_fd, path, (o->mode & S_IFMT) | mode,
			    o->rdev))
			return errno == EEXIST ? 1 : -errno;
		break;
	}
	o->fd = fd;
	if (fd >= 0)
		ret = fstat(fd, st) ? -errno : 0;
	else
		ret = fstatat(fs->upper_fd, path, st, AT_SYMLINK_NOFOLLOW) ?
			      -errno : 0;
	if (ret)
		goto err;
	/* With a default ACL the host chose the permission bits. */
	mode = (acl && !S_ISLNK(o->mode) ? st->st_mode & 0777 : mode & 0777) |
	       (mode & 07000);
	if (gid != (gid_t)-1)
		gid = fs_id_to_host(fs->cfg.gidmap, fs->cfg.ngidmap, gid);
	{
		uid_t uid = fs_id_to_host(fs->cfg.uidmap, fs->cfg.nuidmap,
					  ctx->uid);

		if (uid != st->st_uid ||
		    (gid != (gid_t)-1 && gid != st->st_gid)) {
			if (fd >= 0 ? fchown(fd, uid, gid) :
				      fchownat(fs->upper_fd, path, uid, gid,
					       AT_SYMLINK_NOFOLLOW)) {
				ret = -errno;
				goto err;
			}
			st->st_uid = uid;
			if (gid != (gid_t)-1)
				st->st_gid = gid;
		}
	}
	/* chown cleared set-id bits that the caller asked for; the host may
	 * have added S_ISGID to a directory (parent's BSD group semantics). */
	if (S_ISDIR(o->mode) && (st->st_mode & S_ISGID))
		mode |= S_ISGID;
	if (!S_ISLNK(o->mode) && (st->st_mode & 07777) != mode) {
		if (fd >= 0 ? fchmod(fd, mode) :
			      fchmodat(fs->upper_fd, path, mode, 0)) {
			ret = -errno;
			goto err;
		}
		st->st_mode = (st->st_mode & S_IFMT) | mode;
	}
	/* In a merged parent kernel overlayfs marks new directories opaque
	 * (see do_create). */
	*opaque = S_ISDIR(o->mode) && merged;
	if (*opaque) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->upper_fd,
			 path);
		if (lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0)) {
			ret = -errno;
			goto err;
		}
	}
	return 0;
err:
	if (fd >= 0) {
		close(fd);
		o->fd = -1;
	}
	if (S_ISDIR(o->mode))
		unlinkat(fs->upper_fd, path, AT_REMOVEDIR);
	else
		unlinkat(fs->upper_fd, path, 0);
	return ret;
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
	struct fs_qres q;
	struct stat st;
	bool opaque = false;
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
	ret = fs_quota_reserve(fs, &q, o->target ? 0 : 4096, !o->target);
	if (ret)
		return ret;
	ret = fs_inode_path(fs, dir, NULL, ppath, sizeof(ppath));
	if (!ret)
		ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (ret)
		goto out;
	ret = create_direct(req, fs, dir, ppath, path, o, &opaque, &st);
	if (ret <= 0) {
		if (ret)
			goto out;
		goto done;
	}
	ret = fs_resolve(fs, dir, name, &ent);
	if (ret != -ENOENT) {
		ret = ret ? ret : -EEXIST;
		goto out;
	}
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
done:
	fs_quota_commit(fs, &q, &st);
	ret = fs_inode_get(fs, dir, name, 0, &st, 0, 1, opaque, 0, true, &n);
	if (ret)
		goto out;
	fs_dir_changed(fs, dir);
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
	fs_quota_release(fs, &q);
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
