// SPDX-License-Identifier: GPL-2.0-or-later
/* Usage of a directory tree as a quota counts it: allocated bytes
 * (st_blocks * 512) and inodes, each inode once however many names it has.
 * No FUSE here: strata volume usage scans a volume that is not mounted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/fs.h"

/* Inodes with more than one link seen so far (open addressing). */
struct seen {
	ino_t *ino;
	size_t n, cap;
};

/* 1 when ino was seen before, 0 when added now, -ENOMEM. */
static int seen_add(struct seen *s, ino_t ino)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		ino_t *t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->ino[j])
				continue;
			for (i = s->ino[j] % cap; t[i]; i = (i + 1) % cap)
				;
			t[i] = s->ino[j];
		}
		free(s->ino);
		s->ino = t;
		s->cap = cap;
	}
	for (i = ino % s->cap; s->ino[i]; i = (i + 1) % s->cap)
		if (s->ino[i] == ino)
			return 1;
	s->ino[i] = ino;
	s->n++;
	return 0;
}

static int scan(int dfd, struct seen *s, dev_t dev, struct fs_usage *u)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int ret = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue; /* removed while scanning */
			ret = -errno;
			break;
		}
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			ret = seen_add(s, st.st_ino);
			if (ret < 0)
				break;
			if (ret) {
				ret = 0;
				continue;
			}
		}
		u->bytes += (uint64_t)st.st_blocks * 512;
		u->inodes++;
		if (!S_ISDIR(st.st_mode) || st.st_dev != dev)
			continue;
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			ret = -errno;
			break;
		}
		ret = scan(fd, s, dev, u);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int fs_usage_scan(int dirfd, struct fs_usage *u)
{
	struct seen s = { 0 };
	struct stat st;
	int fd, ret;

	memset(u, 0, sizeof(*u));
	if (fstat(dirfd, &st))
		return -errno;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = scan(fd, &s, st.st_dev, u);
	free(s.ino);
	return ret;
}
