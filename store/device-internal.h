/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the store sits on: a regular file or a whole block device.  Probing
 * with libblkid, geometry (sector sizes, optimal I/O size) and opening with
 * and without O_DIRECT.  Private to store/.
 */
#ifndef STRATA_STORE_DEVICE_INTERNAL_H
#define STRATA_STORE_DEVICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_dev {
	int fd;                /* buffered, O_RDWR (or O_RDONLY when read_only) */
	int dfd;               /* O_DIRECT descriptor, or -1 when not available/asked */
	bool is_blk;
	bool read_only;
	uint64_t size;         /* bytes */
	uint32_t logical_sector;  /* BLKSSZGET; 512 for files */
	uint32_t physical_sector; /* BLKPBSZGET; st_blksize-derived for files */
	uint32_t optimal_io;      /* BLKIOOPT or libblkid topology; 0 if unknown */
	uint32_t align;        /* I/O alignment: max(4096, logical, physical) */
};

/*
 * Open path.  direct: -1 try O_DIRECT and fall back silently, 0 never,
 * 1 required (-EINVAL if the file system refuses it).  The buffered fd is
 * always opened.  For a block device the open is O_EXCL so that a mounted
 * or otherwise claimed device gives -EBUSY.  Returns 0 or -errno.
 */
int store_dev_open(const char *path, bool read_only, int direct, struct store_dev *d);

/* Close both descriptors; safe on a zeroed or already closed struct. */
void store_dev_close(struct store_dev *d);

/*
 * Probe path with libblkid for any known superblock, partition table or
 * RAID signature (strata's own included).  Returns 0 when nothing was
 * found, -EEXIST when something was (a description such as "ext4 filesystem
 * (label \"data\")" or "dos partition table" is written to what), or
 * another -errno when probing failed.  A missing or empty file is "nothing".
 */
int store_dev_probe(const char *path, char *what, size_t whatlen);

/*
 * For a regular file: create it if missing and make it exactly `size`
 * bytes (sparse, ftruncate) when size != 0.  Shrinking an existing file is
 * refused with -EEXIST.  For a block device: size must be 0 (-EINVAL).
 * *created says whether the file was made here, so that a failed create
 * can remove it.
 */
int store_dev_prepare(const char *path, uint64_t size, bool *created);

/* Discard/zero a byte range (BLKDISCARD or FALLOC_FL_PUNCH_HOLE), best effort. */
int store_dev_discard(struct store_dev *d, uint64_t off, uint64_t len);

#endif
