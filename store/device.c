// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: what the store sits on (see device-internal.h): opening a file or
 * block device with and without O_DIRECT, its geometry, probing it for
 * anything that would be destroyed by a format, sizing and discarding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <blkid/blkid.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/device-internal.h"

/* The store's superblock magic (DESIGN.md); libblkid does not know it. */
static const char strata_magic[8] = { 'S', 'T', 'R', 'A', 'T', 'A', '\0', 'S' };

/*
 * st_blksize of a file is the file system's preferred I/O size, not a
 * sector: some report 128 KiB (zfs) or 1 MiB (nfs, fuse).  Used as the
 * physical sector only up to this, so the store's block stays small; the
 * full value still goes to optimal_io.
 */
#define FILE_MAX_PHYS 4096u
#define MAX_OPTIMAL_IO (64u << 20)

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Block device geometry from the kernel. */
static int blk_geometry(const char *path, struct store_dev *d)
{
	unsigned int pbsz = 0, ioopt = 0;
	uint64_t size = 0;
	int lbsz = 0;

	if (ioctl(d->fd, BLKGETSIZE64, &size) < 0 || ioctl(d->fd, BLKSSZGET, &lbsz) < 0) {
		int err = -errno;

		log_err("%s: cannot read the block device size: %s", path, strerror(-err));
		return err;
	}
	if (ioctl(d->fd, BLKPBSZGET, &pbsz) < 0)
		pbsz = 0;
	if (ioctl(d->fd, BLKIOOPT, &ioopt) < 0)
		ioopt = 0;
	if (lbsz <= 0 || !is_pow2((unsigned)lbsz)) {
		log_err("%s: odd logical sector size %d", path, lbsz);
		return -EINVAL;
	}
	d->size = size;
	d->logical_sector = (uint32_t)lbsz;
	d->physical_sector = is_pow2(pbsz) && pbsz >= (unsigned)lbsz ? pbsz : (uint32_t)lbsz;
	/* RAID and some SSDs report a stripe width that is no power of two;
	 * keep it, DESIGN.md only rounds data_start up to a multiple. */
	d->optimal_io = ioopt <= MAX_OPTIMAL_IO ? ioopt : 0;
	return 0;
}

static void file_geometry(const struct stat *st, struct store_dev *d)
{
	uint64_t bs = (uint64_t)st->st_blksize;

	d->size = (uint64_t)st->st_size;
	d->logical_sector = 512;
	d->physical_sector = is_pow2(bs) ? (uint32_t)MAX(512, MIN(bs, FILE_MAX_PHYS)) : 512;
	d->optimal_io = is_pow2(bs) && bs <= MAX_OPTIMAL_IO ? (uint32_t)bs : 0;
}

/*
 * O_DIRECT alignment a file system asks for (statx STATX_DIOALIGN, Linux
 * 6.1+).  0 when it does not say.
 */
static uint32_t dio_align(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN))
		return MAX(stx.stx_dio_mem_align, stx.stx_dio_offset_align);
#endif
	return 0;
}

/*
 * Open the O_DIRECT descriptor.  Some file systems accept the open and only
 * refuse the I/O, so one aligned read at offset 0 decides.  Returns the fd,
 * -EINVAL when O_DIRECT is refused, or another -errno.
 */
static int open_direct(const char *path, int flags, uint32_t align)
{
	void *buf = NULL;
	ssize_t n;
	int fd, err;

	fd = open(path, flags | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (posix_memalign(&buf, align, align)) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, buf, align, 0);
	err = n < 0 ? -errno : 0;
	free(buf);
	if (err == -EINVAL) {
		close(fd);
		return -EINVAL;
	}
	/* Other read errors are not about O_DIRECT; the store reports them
	 * when it reads for real. */
	return fd;
}

int store_dev_open(const char *path, bool read_only, int direct, struct store_dev *d)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = d->dfd = -1;
	d->read_only = read_only;
	if (direct < -1 || direct > 1)
		return -EINVAL;
	if (stat(path, &st) < 0) {
		ret = -errno;
		log_err("%s: %s", path, strerror(-ret));
		return ret;
	}
	if (S_ISBLK(st.st_mode)) {
		d->is_blk = true;
	} else if (S_ISDIR(st.st_mode)) {
		log_err("%s: is a directory, not a file or block device", path);
		return -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file or block device", path);
		return -EINVAL;
	}
	/*
	 * O_EXCL on a block device claims it: a mounted device (or one held
	 * by md, dm, another strata writer) gives EBUSY, and nobody can
	 * mount it while we hold it.  Only writers claim, and only with the
	 * buffered descriptor (a second O_EXCL open by us would collide with
	 * the first): readers (strata-fuse daemons, images, inspect) must run
	 * beside each other and beside the one writer, as with a store file.
	 * A reader of a device that holds something else fails on the
	 * superblock instead.
	 */
	d->fd = open(path, flags | (d->is_blk && !read_only ? O_EXCL : 0));
	if (d->fd < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			log_err("%s: device is in use (mounted or claimed by another program)",
				path);
		else
			log_err("%s: cannot open: %s", path, strerror(-ret));
		goto err;
	}
	if (fstat(d->fd, &st) < 0) {
		ret = -errno;
		log_err("%s: %s", path, strerror(-ret));
		goto err;
	}
	if (d->is_blk != !!S_ISBLK(st.st_mode)) {
		log_err("%s: changed type while being opened", path);
		ret = -EAGAIN;
		goto err;
	}
	if (d->is_blk) {
		int ro = 0;

		/* Some kernels let O_RDWR open a read-only device and fail
		 * every write later: say so now. */
		if (!read_only && ioctl(d->fd, BLKROGET, &ro) == 0 && ro) {
			log_err("%s: the block device is read-only", path);
			ret = -EROFS;
			goto err;
		}
		ret = blk_geometry(path, d);
		if (ret < 0)
			goto err;
	} else {
		file_geometry(&st, d);
	}
	d->align = MAX(4096u, MAX(d->logical_sector, d->physical_sector));
	if (!d->is_blk) {
		uint32_t a = dio_align(d->fd);

		if (is_pow2(a) && a > d->align)
			d->align = a;
	}

	if (direct != 0) {
		ret = open_direct(path, flags, d->align);
		if (ret >= 0) {
			d->dfd = ret;
		} else if (ret == -EINVAL && direct < 0) {
			log_debug("%s: O_DIRECT not supported, using buffered I/O only", path);
		} else {
			if (ret == -EINVAL)
				log_err("%s: the file system refuses O_DIRECT", path);
			else
				log_err("%s: cannot open with O_DIRECT: %s", path, strerror(-ret));
			goto err;
		}
	}
	return 0;

err:
	store_dev_close(d);
	return ret;
}

void store_dev_close(struct store_dev *d)
{
	/* A zeroed struct has fd == dfd == 0: two real descriptors never
	 * coincide, so equal values mean "nothing open". */
	if (d->fd != d->dfd) {
		if (d->dfd >= 0)
			close(d->dfd);
		if (d->fd >= 0)
			close(d->fd);
	}
	d->fd = d->dfd = -1;
}

static void probe_describe(blkid_probe pr, char *what, size_t whatlen)
{
	const char *type = NULL, *usage = NULL, *label = NULL, *pttype = NULL;
	const char *kind;

	blkid_probe_lookup_value(pr, "PTTYPE", &pttype, NULL);
	blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
	blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	blkid_probe_lookup_value(pr, "LABEL", &label, NULL);
	if (!type && pttype) {
		snprintf(what, whatlen, "%s partition table", pttype);
		return;
	}
	if (!type) {
		snprintf(what, whatlen, "unknown signature");
		return;
	}
	if (!usage || !strcmp(usage, "filesystem"))
		kind = "filesystem";
	else if (!strcmp(usage, "raid"))
		kind = "raid member";
	else if (!strcmp(usage, "crypto"))
		kind = "encrypted volume";
	else
		kind = "signature";
	if (label && *label)
		snprintf(what, whatlen, "%s %s (label \"%s\")", type, kind, label);
	else
		snprintf(what, whatlen, "%s %s", type, kind);
}

/* Several signatures: list them all ("ext4 filesystem, dos partition table"). */
static void probe_list_all(blkid_probe pr, char *what, size_t whatlen)
{
	size_t used = 0;
	char one[128];

	what[0] = '\0';
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_enable_partitions(pr, 0);
	blkid_reset_probe(pr);
	while (blkid_do_probe(pr) == 0 && used + 1 < whatlen) {
		probe_describe(pr, one, sizeof(one));
		used += (size_t)snprintf(what + used, whatlen - used, "%s%s", used ? ", " : "", one);
		if (used >= whatlen)
			break;
	}
	blkid_probe_enable_superblocks(pr, 0);
	blkid_probe_enable_partitions(pr, 1);
	blkid_reset_probe(pr);
	while (blkid_do_probe(pr) == 0 && used + 1 < whatlen) {
		probe_describe(pr, one, sizeof(one));
		used += (size_t)snprintf(what + used, whatlen - used, "%s%s", used ? ", " : "", one);
		if (used >= whatlen)
			break;
	}
	if (!what[0])
		snprintf(what, whatlen, "several conflicting signatures");
}

int store_dev_probe(const char *path, char *what, size_t whatlen)
{
	char magic[sizeof(strata_magic)];
	char dummy[8];
	blkid_probe pr;
	struct stat st;
	ssize_t n;
	int fd, rc, ret;

	if (!what || !whatlen) {
		what = dummy;
		whatlen = sizeof(dummy);
	}
	what[0] = '\0';
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		log_err("%s: %s", path, strerror(-ret));
		return ret;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return 0;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		log_err("%s: not a regular file or block device", path);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}

	/* No O_EXCL: probing a mounted device must still name its file system. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("%s: cannot open for probing: %s", path, strerror(-ret));
		return ret;
	}
	n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0) {
		ret = -errno;
		log_err("%s: cannot read: %s", path, strerror(-ret));
		goto out_close;
	}
	if (n == (ssize_t)sizeof(magic) && !memcmp(magic, strata_magic, sizeof(magic))) {
		snprintf(what, whatlen, "strata store");
		ret = -EEXIST;
		goto out_close;
	}

	pr = blkid_new_probe();
	if (!pr) {
		ret = -ENOMEM;
		goto out_close;
	}
	/* Probe the descriptor we already checked, not the name again. */
	if (blkid_probe_set_device(pr, fd, 0, 0) < 0) {
		ret = errno ? -errno : -EIO;
		log_err("%s: libblkid cannot use the device: %s", path, strerror(-ret));
		goto out_free;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE |
						      BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	errno = 0;
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		probe_describe(pr, what, whatlen);
		ret = -EEXIST;
	} else if (rc == 1) {
		ret = 0;
	} else if (rc == -2) {
		/* Ambivalent: more than one superblock. */
		probe_list_all(pr, what, whatlen);
		ret = -EEXIST;
	} else {
		ret = errno ? -errno : -EIO;
		log_err("%s: libblkid probe failed: %s", path, strerror(-ret));
	}
out_free:
	blkid_free_probe(pr);
out_close:
	close(fd);
	return ret;
}

int store_dev_prepare(const char *path, uint64_t size, bool *created)
{
	struct stat st;
	int fd, ret, tries = 0;

	*created = false;
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
again:
	if (stat(path, &st) == 0) {
		if (S_ISBLK(st.st_mode)) {
			if (size) {
				log_err("%s: a block device has a fixed size; do not give one", path);
				return -EINVAL;
			}
			return 0;
		}
		if (S_ISDIR(st.st_mode)) {
			log_err("%s: is a directory", path);
			return -EISDIR;
		}
		if (!S_ISREG(st.st_mode)) {
			log_err("%s: not a regular file or block device", path);
			return -EINVAL;
		}
		if (!size || (uint64_t)st.st_size == size)
			return 0;
		if ((uint64_t)st.st_size > size) {
			log_err("%s: is %llu bytes, refusing to shrink it to %llu", path,
				(unsigned long long)st.st_size, (unsigned long long)size);
			return -EEXIST;
		}
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			log_err("%s: cannot open: %s", path, strerror(-ret));
			return ret;
		}
		if (ftruncate(fd, (off_t)size) < 0) {
			ret = -errno;
			log_err("%s: cannot extend to %llu bytes: %s", path,
				(unsigned long long)size, strerror(-ret));
			close(fd);
			return ret;
		}
		close(fd);
		return 0;
	}
	if (errno != ENOENT) {
		ret = -errno;
		log_err("%s: %s", path, strerror(-ret));
		return ret;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		/* Someone made it between stat and open: judge what is there. */
		if (ret == -EEXIST && ++tries < 3)
			goto again;
		log_err("%s: cannot create: %s", path, strerror(-ret));
		return ret;
	}
	if (size && ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		log_err("%s: cannot size the new file to %llu bytes: %s", path,
			(unsigned long long)size, strerror(-ret));
		close(fd);
		unlink(path);
		return ret;
	}
	close(fd);
	*created = true;
	return 0;
}

int store_dev_discard(struct store_dev *d, uint64_t off, uint64_t len)
{
	int ret;

	if (!len)
		return 0;
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EINVAL;
	if (d->read_only)
		return -EROFS;
	if (d->is_blk) {
		uint64_t ls = d->logical_sector ? d->logical_sector : 512;
		uint64_t start = ALIGN_UP(off, ls), end = ALIGN_DOWN(off + len, ls);
		uint64_t range[2];

		if (end > d->size)
			end = ALIGN_DOWN(d->size, ls);
		if (end <= start)
			return 0;
		range[0] = start;
		range[1] = end - start;
		ret = ioctl(d->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	} else {
		ret = fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len) < 0 ?
			      -errno :
			      0;
	}
	if (ret == -EOPNOTSUPP || ret == -ENOTTY || ret == -ENOSYS) {
		/* Not every device or file system can; space is simply not
		 * given back. */
		log_debug("discard of %llu bytes at %llu not supported: %s",
			  (unsigned long long)len, (unsigned long long)off, strerror(-ret));
		return 0;
	}
	if (ret < 0)
		log_warn("discard of %llu bytes at %llu failed: %s", (unsigned long long)len,
			 (unsigned long long)off, strerror(-ret));
	return ret;
}
