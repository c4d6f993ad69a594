// SPDX-License-Identifier: GPL-2.0-or-later
/* Where an entry of the merged view comes from, as a read-only virtual
 * xattr (FS_WHICH_XATTR, and FS_WHICH_XATTR_TRUSTED for the file types on
 * which the kernel refuses user.* names).  Neither name is listed, set or
 * removed; `strata which` reads them.
 *
 * The value is one line of words:
 *   "upper"                       the entry is in the upper directory
 *   "upper metacopy layer N ID"   in the upper, metadata only: its data is
 *                                 still read from lower layer N
 *   "layer N ID"                  lower layer N provides it
 * N counts from the bottom lower (0), as an image manifest lists layers;
 * ID is "sha256:<DiffID>" for a store layer and the absolute directory for
 * a host-directory layer.  For a directory merged from several layers, the
 * topmost layer holding it is named: the one that provides the entry. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs-internal.h"

bool fs_which_xattr(const char *name)
{
	return !strcmp(name, FS_WHICH_XATTR) || !strcmp(name, FS_WHICH_XATTR_TRUSTED);
}

/* "layer N ID" of lower layer li (1 = top lower) into buf. */
static int describe_lower(struct fs *fs, unsigned li, char *buf, size_t size)
{
	const char *spec = fs->cfg.lowerdirs[li - 1], *at;
	struct fs_layer *l = fs->layers[li];
	char proc[64], dir[PATH_MAX];
	unsigned n = fs->nlayers - 1 - li;
	ssize_t len;
	int w;

	if (fs_lower_is_store(spec) && (at = strrchr(spec, '@'))) {
		w = snprintf(buf, size, "layer %u %s", n, at + 1);
	} else {
		/* The directory as the daemon holds it open, made absolute
		 * (lowerdir= may have named it relative to a former cwd). */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", l->root_fd);
		len = l->root_fd >= 0 ? readlink(proc, dir, sizeof(dir) - 1) : -1;
		if (len > 0)
			dir[len] = '\0';
		w = snprintf(buf, size, "layer %u %s", n, len > 0 ? dir : l->path);
	}
	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : w;
}

ssize_t fs_which_get(struct fs *fs, struct fs_inode *n, char *buf, size_t size)
{
	char v[PATH_MAX + 64];
	unsigned top, data;
	uint64_t layers;
	int len;

	pthread_mutex_lock(&n->lock);
	layers = n->layers;
	data = n->data_layer;
	pthread_mutex_unlock(&n->lock);
	top = layers ? (unsigned)__builtin_ctzll(layers) : 0;

	if (top == 0 && data) {
		static const char pre[] = "upper metacopy ";

		memcpy(v, pre, sizeof(pre) - 1);
		len = describe_lower(fs, data, v + sizeof(pre) - 1, sizeof(v) - sizeof(pre) + 1);
		if (len >= 0)
			len += (int)sizeof(pre) - 1;
	} else if (top == 0) {
		len = snprintf(v, sizeof(v), "upper");
	} else {
		len = describe_lower(fs, top, v, sizeof(v));
	}
	if (len < 0)
		return len;
	if (!size)
		return len;
	if ((size_t)len > size)
		return -ERANGE;
	memcpy(buf, v, (size_t)len);
	return len;
}
