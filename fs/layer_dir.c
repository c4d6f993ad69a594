// SPDX-License-Identifier: GPL-2.0-or-later
/* A host directory as a read-only layer: the lowers of a fuse-overlayfs
 * style command line, and the read side of the upper directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPQ ".wh..wh..opq"

const char *const fs_opaque_xattrs[] = {
	"trusted.overlay.opaque",
	"user.overlay.opaque",
	"user.fuseoverlayfs.opaque",
	NULL,
};

/* /proc/self/fd/N/path lets the *xattr calls work relative to root_fd
 * (there is no getxattrat on this kernel). */
static int proc_path(struct fs_layer *l, const char *path, char *buf, size_t size)
{
	int n = snprintf(buf, size, "/proc/self/fd/%d/%s", l->root_fd, path);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool is_whiteout_dev(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 &&
	       minor(st->st_rdev) == 0;
}

static int dir_lookup(struct fs_layer *l, const char *path, struct stat *st,
		      enum fs_layer_kind *kind)
{
	char wh[PATH_MAX];
	const char *slash, *base;
	struct stat tmp;

	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
		*kind = LAYER_ABSENT; /* markers, not names */
		return 0;
	}
	if (fstatat(l->root_fd, path, st, AT_SYMLINK_NOFOLLOW) == 0) {
		*kind = is_whiteout_dev(st) ? LAYER_WHITEOUT : LAYER_ENTRY;
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return -errno;
	*kind = LAYER_ABSENT;
	if (errno == ENOTDIR)
		return 0;
	if (snprintf(wh, sizeof(wh), "%.*s%s%s", (int)(base - path), path,
		     WH_PREFIX, base) >= (int)sizeof(wh))
		return 0;
	if (fstatat(l->root_fd, wh, &tmp, AT_SYMLINK_NOFOLLOW) == 0)
		*kind = LAYER_WHITEOUT;
	return 0;
}

static int dir_is_opaque(struct fs_layer *l, const char *path)
{
	char p[PATH_MAX + 64], v[8];
	struct stat st;
	ssize_t n;

	if (proc_path(l, path, p, sizeof(p)))
		return -ENAMETOOLONG;
	for (size_t i = 0; fs_opaque_xattrs[i]; i++) {
		n = lgetxattr(p, fs_opaque_xattrs[i], v, sizeof(v));
		if (n == 1 && v[0] == 'y')
			return 1;
	}
	if (snprintf(p, sizeof(p), "%s/%s", path, WH_OPQ) >= (int)sizeof(p))
		return 0;
	return fstatat(l->root_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int dir_readdir(struct fs_layer *l, const char *path, fs_layer_dirent_fn fn,
		       void *arg)
{
	struct dirent *de;
	DIR *dir;
	int fd, ret = 0;

	fd = openat(l->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		enum fs_layer_kind kind = LAYER_ENTRY;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (!strncmp(name, WH_PREFIX, strlen(WH_PREFIX))) {
			if (!strcmp(name, WH_OPQ))
				continue;
			name += strlen(WH_PREFIX);
			kind = LAYER_WHITEOUT;
		} else if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dir), name, &st,
				    AT_SYMLINK_NOFOLLOW) == 0 &&
			    is_whiteout_dev(&st))
				kind = LAYER_WHITEOUT;
		}
		if (fn(arg, name, de->d_ino, de->d_type, kind))
			break;
	}
	if (errno)
		ret = -errno;
	closedir(dir);
	return ret;
}

static int dir_open(struct fs_layer *l, const char *path, int flags,
		    struct fs_layer_file **out)
{
	struct fs_layer_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	if (l->index && (flags & (O_ACCMODE | O_TRUNC | O_APPEND))) {
		free(f);
		return -EROFS; /* lowers are immutable, even for root */
	}
	f->layer = l;
	f->fd = openat(l->root_fd, path,
		       (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
	if (f->fd < 0) {
		int ret = -errno;

		free(f);
		return ret;
	}
	*out = f;
	return 0;
}

static ssize_t dir_read(struct fs_layer_file *f, void *buf, size_t size,
			off_t off)
{
	ssize_t n = pread(f->fd, buf, size, off);

	return n < 0 ? -errno : n;
}

static void dir_close(struct fs_layer_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static ssize_t dir_readlink(struct fs_layer *l, const char *path, char *buf,
			    size_t size)
{
	ssize_t n = readlinkat(l->root_fd, path, buf, size);

	return n < 0 ? -errno : n;
}

static ssize_t dir_listxattr(struct fs_layer *l, const char *path, char *buf,
			     size_t size)
{
	char p[PATH_MAX + 64];
	ssize_t n;

	if (proc_path(l, path, p, sizeof(p)))
		return -ENAMETOOLONG;
	n = llistxattr(p, buf, size);
	return n < 0 ? -errno : n;
}

static ssize_t dir_getxattr(struct fs_layer *l, const char *path,
			    const char *name, void *buf, size_t size)
{
	char p[PATH_MAX + 64];
	ssize_t n;

	if (proc_path(l, path, p, sizeof(p)))
		return -ENAMETOOLONG;
	n = lgetxattr(p, name, buf, size);
	return n < 0 ? -errno : n;
}

static int dir_statfs(struct fs_layer *l, struct statvfs *st)
{
	return fstatvfs(l->root_fd, st) ? -errno : 0;
}

static void dir_destroy(struct fs_layer *l)
{
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l->path);
	free(l);
}

static const struct fs_layer_ops layer_dir_ops = {
	.name = "dir",
	.lookup = dir_lookup,
	.is_opaque = dir_is_opaque,
	.readdir = dir_readdir,
	.open = dir_open,
	.read = dir_read,
	.close = dir_close,
	.readlink = dir_readlink,
	.listxattr = dir_listxattr,
	.getxattr = dir_getxattr,
	.statfs = dir_statfs,
	.destroy = dir_destroy,
};

int fs_layer_dir_create(const char *path, unsigned index, struct fs_layer **out)
{
	struct fs_layer *l = calloc(1, sizeof(*l));
	struct stat st;
	int ret;

	if (!l)
		return -ENOMEM;
	l->ops = &layer_dir_ops;
	l->index = index;
	l->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0 || fstat(l->root_fd, &st)) {
		ret = -errno;
		log_err("%s: %s", path, strerror(errno));
		goto err;
	}
	l->dev = st.st_dev;
	l->path = strdup(path);
	if (!l->path) {
		ret = -ENOMEM;
		goto err;
	}
	*out = l;
	return 0;
err:
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l);
	return ret;
}

void fs_layer_destroy(struct fs_layer *l)
{
	if (l)
		l->ops->destroy(l);
}
