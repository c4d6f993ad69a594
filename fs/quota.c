// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Limits on the upper directory (upper_size=, upper_inodes=).
 *
 * Usage is what the upper allocates: st_blocks * 512 bytes and one inode
 * per object (a hardlinked file once, whiteouts included), the same
 * numbers fs_usage_scan() finds.  The daemon scans the upper at mount, so
 * usage is exact after a crash, and then follows every change with
 * atomic counters (no global lock):
 *   - data (write, fallocate, copy_file_range, truncate): the caller
 *     reserves what the change can allocate before it (-EDQUOT when used +
 *     reserved + that exceeds the limit), and after it the reservation is
 *     dropped and the real st_blocks difference of the file counted.  The
 *     before/after fstat pair of one file is serialised by a striped mutex
 *     (a leaf lock) so that concurrent writers do not count twice.
 *   - names (create, copy-up, whiteouts, unlink, rmdir, rename over): the
 *     object's st_blocks and inode are added when it is installed in the
 *     upper and subtracted when its last name leaves it.
 * Not followed until the next mount: a directory's own growth when it
 * gains entries, xattr blocks that setxattr allocates later, and blocks
 * the host filesystem allocates on its own after a write returned (ext4
 * extent tree blocks of a fragmented file, at writeback); writes to a
 * file unlinked while open are not counted (the scan cannot see it).
 * The kernel's writeback cache must stay off on a limited mount (fs/ops.c)
 * so that EDQUOT reaches the write() that went beyond the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/fs-internal.h"
#include "strata/util.h"

#define STRIPES 64
#define BLOCK 4096 /* what one new object or write may allocate beyond
		    * its data: a directory block, an extent block */

struct fs_quota {
	uint64_t max_bytes, max_inodes; /* 0 = no limit */
	_Atomic int64_t bytes, inodes;	/* counted in the upper */
	_Atomic int64_t rbytes, rinodes; /* reserved by changes in flight */
	pthread_mutex_t stripe[STRIPES]; /* data changes of one file */
};

int fs_quota_init(struct fs *fs)
{
	struct fs_quota *q;
	struct fs_usage u;
	int ret;

	if (!fs->cfg.upper_size && !fs->cfg.upper_inodes)
		return 0;
	if (fs->upper_fd < 0)
		return -EINVAL;
	ret = fs_usage_scan(fs->upper_fd, &u);
	if (ret) {
		log_err("upper_size: scanning %s: %s", fs->cfg.upperdir,
			strerror(-ret));
		return ret;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->max_bytes = fs->cfg.upper_size;
	q->max_inodes = fs->cfg.upper_inodes;
	atomic_init(&q->bytes, (int64_t)u.bytes);
	atomic_init(&q->inodes, (int64_t)u.inodes);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&q->stripe[i], NULL);
	fs->quota = q;
	log_debug("upper usage at mount: %llu bytes, %llu inodes",
		  (unsigned long long)u.bytes, (unsigned long long)u.inodes);
	return 0;
}

void fs_quota_destroy(struct fs *fs)
{
	struct fs_quota *q = fs->quota;

	if (!q)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&q->stripe[i]);
	free(q);
	fs->quota = NULL;
}

/* Take amount from a limited counter's headroom, or fail. */
static bool take(_Atomic int64_t *res, _Atomic int64_t *used, uint64_t max,
		 int64_t amount)
{
	int64_t r;

	if (!amount)
		return true;
	r = atomic_fetch_add(res, amount) + amount;
	if (max && r + atomic_load(used) > (int64_t)max) {
		atomic_fetch_sub(res, amount);
		return false;
	}
	return true;
}

int fs_quota_reserve(struct fs *fs, struct fs_qres *r, int64_t bytes,
		     int64_t inodes)
{
	struct fs_quota *q = fs->quota;

	r->bytes = r->inodes = 0;
	if (!q)
		return 0;
	if (!take(&q->rinodes, &q->inodes, q->max_inodes, inodes))
		return -EDQUOT;
	if (!take(&q->rbytes, &q->bytes, q->max_bytes, bytes)) {
		atomic_fetch_sub(&q->rinodes, inodes);
		return -EDQUOT;
	}
	r->bytes = bytes;
	r->inodes = inodes;
	return 0;
}

void fs_quota_release(struct fs *fs, struct fs_qres *r)
{
	struct fs_quota *q = fs->quota;

	if (!q || (!r->bytes && !r->inodes))
		return;
	atomic_fetch_sub(&q->rbytes, r->bytes);
	atomic_fetch_sub(&q->rinodes, r->inodes);
	r->bytes = r->inodes = 0;
}

void fs_quota_add(struct fs *fs, int64_t bytes, int64_t inodes)
{
	struct fs_quota *q = fs->quota;

	if (!q)
		return;
	if (bytes)
		atomic_fetch_add(&q->bytes, bytes);
	if (inodes)
		atomic_fetch_add(&q->inodes, inodes);
}

void fs_quota_add_obj(struct fs *fs, const struct stat *st, int sign)
{
	/* Another name keeps a hardlinked file's blocks and inode. */
	if (!fs->quota || (!S_ISDIR(st->st_mode) && st->st_nlink > 1))
		return;
	fs_quota_add(fs, sign * (int64_t)st->st_blocks * 512, sign);
}

void fs_quota_commit(struct fs *fs, struct fs_qres *r, const struct stat *st)
{
	fs_quota_release(fs, r);
	if (st)
		fs_quota_add_obj(fs, st, 1);
}

int fs_quota_reserve_copy(struct fs *fs, struct fs_qres *r,
			  const struct stat *st, bool data)
{
	int64_t bytes = BLOCK;

	if (data && S_ISREG(st->st_mode)) {
		/* A lower that reports no blocks (a store layer may not)
		 * counts as fully allocated. */
		int64_t b = (int64_t)st->st_blocks * 512;

		bytes += b ? b : (st->st_size + BLOCK - 1) / BLOCK * BLOCK;
	}
	return fs_quota_reserve(fs, r, bytes, 1);
}

int fs_quota_unlink(struct fs *fs, int dirfd, const char *path)
{
	struct stat st;
	bool have;

	have = fs->quota && !fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW);
	if (unlinkat(dirfd, path, 0))
		return -errno;
	if (have)
		fs_quota_add_obj(fs, &st, -1);
	return 0;
}

int fs_quota_remove_tree(struct fs *fs, int dirfd, const char *name)
{
	struct fs_usage u;
	struct stat st;
	int fd;

	if (fs->quota && !fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
							 O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 && !fs_usage_scan(fd, &u))
				fs_quota_add(fs, -(int64_t)u.bytes,
					     -(int64_t)u.inodes);
			if (fd >= 0)
				close(fd);
		}
		fs_quota_add_obj(fs, &st, -1);
	}
	return fs_upper_remove_tree(fs, dirfd, name);
}

static pthread_mutex_t *stripe(struct fs_quota *q, uint64_t key)
{
	key ^= key >> 17;
	key *= 0x9e3779b97f4a7c15ULL;
	return &q->stripe[key >> 58];
}

int fs_quota_data_begin(struct fs *fs, struct fs_qdata *d, uint64_t key,
			int fd, const char *path, off_t off, uint64_t len)
{
	struct fs_quota *q = fs->quota;
	int64_t need = 0;
	int ret;

	d->lock = NULL;
	d->res.bytes = d->res.inodes = 0;
	if (!q)
		return 0;
	d->lock = stripe(q, key);
	d->fd = fd;
	d->path = path;
	pthread_mutex_lock(d->lock);
	ret = fd >= 0 ? fstat(fd, &d->st) :
			fstatat(fs->upper_fd, path, &d->st, AT_SYMLINK_NOFOLLOW);
	if (ret) {
		ret = -errno;
		goto err;
	}
	/* Overwriting a fully allocated range needs nothing new. */
	if (len && (off + (off_t)len > d->st.st_size ||
		    d->st.st_blocks * 512 < d->st.st_size))
		need = (int64_t)((len + BLOCK - 1) / BLOCK * BLOCK + BLOCK);
	ret = fs_quota_reserve(fs, &d->res, need, 0);
	if (ret)
		goto err;
	return 0;
err:
	pthread_mutex_unlock(d->lock);
	d->lock = NULL;
	return ret;
}

void fs_quota_data_end(struct fs *fs, struct fs_qdata *d)
{
	struct stat st;
	int ret;

	if (!d->lock)
		return;
	ret = d->fd >= 0 ? fstat(d->fd, &st) :
			   fstatat(fs->upper_fd, d->path, &st,
				   AT_SYMLINK_NOFOLLOW);
	/* A file unlinked while open no longer counts (see the top). */
	if (!ret && st.st_nlink && st.st_ino == d->st.st_ino)
		fs_quota_add(fs, ((int64_t)st.st_blocks - d->st.st_blocks) * 512,
			     0);
	fs_quota_release(fs, &d->res);
	pthread_mutex_unlock(d->lock);
	d->lock = NULL;
}

void fs_quota_statfs(struct fs *fs, struct statvfs *st)
{
	struct fs_quota *q = fs->quota;
	uint64_t used, host, max;
	uint64_t frsize = st->f_frsize ? st->f_frsize : st->f_bsize;

	if (!q)
		return;
	/* In 512-byte units, so that used = (f_blocks - f_bfree) * f_frsize
	 * is the byte count exactly; without a limit the size is what is
	 * used plus what the host has free. */
	used = (uint64_t)MAX(atomic_load(&q->bytes), 0) / 512;
	host = (uint64_t)st->f_bavail * (frsize / 512);
	max = q->max_bytes ? q->max_bytes / 512 : used + host;
	st->f_frsize = 512;
	st->f_blocks = MAX(max, used);
	st->f_bfree = st->f_blocks - used;
	st->f_bavail = MIN(st->f_bfree, host);
	used = (uint64_t)MAX(atomic_load(&q->inodes), 0);
	host = st->f_favail;
	max = q->max_inodes ? q->max_inodes : used + host;
	st->f_files = MAX(max, used);
	st->f_ffree = st->f_files - used;
	st->f_favail = MIN(st->f_ffree, host);
}

void fs_quota_renamed(struct fs *fs, enum fs_layer_kind kind,
		      const struct stat *st, bool whiteout)
{
	/* The target (st) was replaced; a whiteout replaced was either
	 * dropped or moved to the old name, where one stays if needed. */
	if (kind == LAYER_ENTRY)
		fs_quota_add_obj(fs, st, -1);
	fs_quota_add(fs, 0, (kind == LAYER_WHITEOUT ? -1 : 0) + whiteout);
}
