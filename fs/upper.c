// SPDX-License-Identifier: GPL-2.0-or-later
/* Primitives on the upper and work directories.  Everything that becomes
 * visible in the upper is built in the work directory first and renamed
 * into place, so a crash leaves either the old or the new state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs-internal.h"

int fs_work_tmpname(struct fs *fs, char *buf, size_t size)
{
	uint64_t seq = atomic_fetch_add((_Atomic uint64_t *)&fs->tmp_seq, 1);
	int n = snprintf(buf, size, "#strata-%d-%llu", (int)getpid(),
			 (unsigned long long)seq);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int fs_upper_entry(struct fs *fs, const char *path, struct stat *st,
		   enum fs_layer_kind *kind)
{
	if (fstatat(fs->upper_fd, path, st, AT_SYMLINK_NOFOLLOW)) {
		if (errno != ENOENT)
			return -errno;
		*kind = LAYER_ABSENT;
		return 0;
	}
	*kind = S_ISCHR(st->st_mode) && !major(st->st_rdev) &&
				!minor(st->st_rdev) ?
			LAYER_WHITEOUT :
			LAYER_ENTRY;
	return 0;
}

int fs_upper_remove_tree(struct fs *fs, int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	if (!unlinkat(dfd, name, 0))
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return errno == ENOENT ? 0 : -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				       O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ret = fs_upper_remove_tree(fs, dirfd(d), de->d_name);
		if (ret)
			break;
	}
	closedir(d);
	if (!ret && unlinkat(dfd, name, AT_REMOVEDIR))
		ret = -errno;
	return ret;
}

int fs_upper_whiteout(struct fs *fs, const char *path)
{
	char tmp[64];
	struct stat st;
	enum fs_layer_kind kind;
	int ret;

	ret = fs_work_tmpname(fs, tmp, sizeof(tmp));
	if (ret)
		return ret;
	if (mknodat(fs->work_fd, tmp, S_IFCHR | 0, makedev(0, 0)))
		return -errno;
	ret = fs_upper_entry(fs, path, &st, &kind);
	if (ret)
		goto err;
	if (kind == LAYER_ENTRY && S_ISDIR(st.st_mode)) {
		if (renameat2(fs->work_fd, tmp, fs->upper_fd, path,
			      RENAME_EXCHANGE)) {
			ret = -errno;
			goto err;
		}
		fs_quota_add(fs, 0, 1);
		return fs_quota_remove_tree(fs, fs->work_fd, tmp);
	}
	if (renameat(fs->work_fd, tmp, fs->upper_fd, path)) {
		ret = -errno;
		goto err;
	}
	fs_quota_add(fs, 0, 1);
	if (kind != LAYER_ABSENT)
		fs_quota_add_obj(fs, &st, -1);
	return 0;
err:
	unlinkat(fs->work_fd, tmp, 0);
	return ret;
}

int fs_upper_set_opaque(struct fs *fs, const char *path)
{
	char p[PATH_MAX + 64];

	if (snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fs->upper_fd,
		     path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	if (lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0))
		return -errno;
	return 0;
}

int fs_upper_clear_whiteouts(struct fs *fs, const char *path, bool strict)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	fd = openat(fs->upper_fd, path,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if ((!S_ISCHR(st.st_mode) || st.st_rdev != makedev(0, 0)) &&
		    strncmp(de->d_name, ".wh.", 4)) {
			if (!strict)
				continue;
			ret = -ENOTEMPTY;
			break;
		}
		if (unlinkat(dirfd(d), de->d_name, 0)) {
			ret = -errno;
			break;
		}
		fs_quota_add_obj(fs, &st, -1);
	}
	closedir(d);
	return ret;
}

int fs_upper_install(struct fs *fs, const char *tmp, const char *path,
		     bool is_dir)
{
	enum fs_layer_kind kind;
	struct stat st;
	int ret;

	ret = fs_upper_entry(fs, path, &st, &kind);
	if (ret)
		return ret;
	if (kind == LAYER_ENTRY)
		return -EEXIST;
	if (kind == LAYER_ABSENT) {
		if (renameat2(fs->work_fd, tmp, fs->upper_fd, path,
			      RENAME_NOREPLACE))
			return -errno;
	} else if (!is_dir) {
		if (renameat(fs->work_fd, tmp, fs->upper_fd, path))
			return -errno;
	} else {
		if (renameat2(fs->work_fd, tmp, fs->upper_fd, path,
			      RENAME_EXCHANGE))
			return -errno;
		unlinkat(fs->work_fd, tmp, 0); /* the whiteout, now in work */
	}
	if (kind == LAYER_WHITEOUT)
		fs_quota_add(fs, 0, -1); /* the caller counts the object */
	return 0;
}

int fs_set_owner(struct fs *fs, int dirfd, const char *name, uid_t uid,
		 gid_t gid, int flags)
{
	const struct fs_config *c = &fs->cfg;
	uid_t hu = uid == (uid_t)-1 ? uid :
				      fs_id_to_host(c->uidmap, c->nuidmap, uid);
	gid_t hg = gid == (gid_t)-1 ? gid :
				      fs_id_to_host(c->gidmap, c->ngidmap, gid);

	if (fchownat(dirfd, name, hu, hg, flags))
		return -errno;
	return 0;
}

int fs_set_origin(struct fs *fs, int dirfd, const char *name, uint64_t ino)
{
	char p[PATH_MAX + 64], v[24];
	int n;

	if (snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name) >=
	    (int)sizeof(p))
		return -ENAMETOOLONG;
	n = snprintf(v, sizeof(v), "%llu", (unsigned long long)ino);
	if (lsetxattr(p, FS_ORIGIN_XATTR, v, (size_t)n, 0))
		return errno == ENOTSUP ? 0 : -errno; /* best effort */
	return 0;
}
