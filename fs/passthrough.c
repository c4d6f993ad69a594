// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE passthrough (Linux 6.9+): reads and writes of files go from the
 * kernel straight to the upper or lower file that holds their data, with
 * no request to this daemon, and a lower file's pages are cached once (in
 * the lower filesystem), not twice.
 *
 * The protocol pieces libfuse 3.14 lacks are in fs/wire.c: accepting
 * FUSE_PASSTHROUGH at INIT (then no writeback cache, fs/ops.c) and the
 * FOPEN_PASSTHROUGH flag and backing id in the OPEN/CREATE reply, which
 * fs/file.c marks with fs_wire_open_reply() just before replying.  Here:
 * FUSE_DEV_IOC_BACKING_OPEN/CLOSE on /dev/fuse register an open file and
 * give that backing id.
 *
 * The kernel's rules (fs/fuse/iomode.c): while a file of an inode is open
 * in passthrough mode every other open must be passthrough to the same
 * backing, and no open may be if a file is open in caching mode.  So per
 * node (under its lock): pt_open passthrough handles sharing pt_id, and
 * cached_open caching handles; a new backing only with neither open.
 *
 * Lower data: a handle passed through to a lower file reads that file
 * until it is closed, and every later open of the node must share that
 * backing, even after a copy-up (which does not change the data).  So
 * what would change the data of such a node (a write-open, a truncate)
 * does not use it: fs_pt_write_begin() detaches the node from its key
 * and answers ESTALE, on which the kernel's open and truncate look the
 * path up again (LOOKUP_REVAL), get a new node for the name and retry on
 * it; that one copies up and passes through to the upper file.  Readers
 * that opened the file before keep reading the lower data, as with
 * fuse-overlayfs and with kernel overlayfs before Linux 4.19 (which still
 * does so for MAP_SHARED mappings).  Hardlinked lower files (other names
 * would keep the old node) and reads while a writer is under way
 * (pt_writers) stay in caching mode.  passthrough=upper keeps all lower
 * data in caching mode.
 *
 * Nor set-user/group-ID upper files: a write by a caller without
 * CAP_FSETID must clear the bits (fs/killpriv.c), and a passed-through
 * write never reaches this daemon.  (A file that becomes set-ID while open
 * in passthrough mode keeps that mode until its last close.)
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs-internal.h"

/* From <linux/fuse.h> of Linux 6.9+, newer than Debian 12's headers. */
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

bool fs_pt_init(struct fs *fs)
{
	fs->pt_up = fs->upper_fd >= 0 && !fs->quota;
	fs->pt_lo = fs->cfg.pt_lower;
	fs->pt = fs->pt_offered && fs->cfg.passthrough &&
		 (fs->pt_up || fs->pt_lo);
	log_debug("passthrough: %s%s%s",
		  fs->pt ? "on for" : fs->pt_offered ? "off" :
						      "not offered by the kernel",
		  fs->pt && fs->pt_up ? " upper" : "",
		  fs->pt && fs->pt_lo ? " lower" : "");
	return fs->pt;
}

/* n->lock held: a new backing id for fd, or 0 (caching). */
static int32_t backing_open(struct fs *fs, int fd, bool upper)
{
	struct pt_backing_map m = { .fd = fd };
	int r = ioctl(fuse_session_fd(fs->se), PT_IOC_BACKING_OPEN, &m);

	if (r > 0)
		return r;
	if (!(r < 0 && errno == EMFILE)) {
		/* Refused for this kind of file (a kernel without
		 * passthrough, a stacked filesystem): cached I/O from now. */
		log_warn("passthrough: backing open of %s file: %s; from now "
			 "on %s files are %s through the daemon",
			 upper ? "an upper" : "a lower",
			 r < 0 ? strerror(errno) : "bad id",
			 upper ? "upper" : "lower",
			 upper ? "read and written" : "read");
		__atomic_store_n(upper ? &fs->pt_up : &fs->pt_lo, false,
				 __ATOMIC_RELAXED);
	}
	return 0;
}

int fs_pt_open(struct fs *fs, struct fs_inode *n, int fd, bool upper_data,
	       bool wr, int32_t *id)
{
	struct stat st;
	bool ok;
	int ret = 0;

	*id = 0;
	pthread_mutex_lock(&n->lock);
	ok = fs->pt && fd >= 0 && !n->cached_open &&
	     __atomic_load_n(upper_data ? &fs->pt_up : &fs->pt_lo,
			     __ATOMIC_RELAXED);
	if (n->pt_open) {
		/* fs_pt_write_begin() sent writers to a new node; never
		 * let one write through to a lower file. */
		if (n->pt_lower && wr)
			ret = -ESTALE;
		else
			*id = n->pt_id;
	} else if (ok && !fstat(fd, &st)) {
		if (upper_data && !fs_is_setid(st.st_mode))
			*id = backing_open(fs, fd, true);
		else if (!upper_data && !wr && !n->pt_writers &&
			 st.st_nlink == 1)
			*id = backing_open(fs, fd, false);
	}
	if (*id && !n->pt_open) {
		n->pt_id = *id;
		n->pt_lower = !upper_data;
	}
	log_debug("passthrough: open fd %d upper %d cached %u -> id %d", fd,
		  upper_data, n->cached_open, *id);
	if (!ret && *id)
		n->pt_open++;
	else if (!ret)
		n->cached_open++;
	pthread_mutex_unlock(&n->lock);
	return ret;
}

int fs_pt_write_begin(struct fs *fs, struct fs_inode *n)
{
	bool busy;

	pthread_mutex_lock(&n->lock);
	busy = n->pt_open && n->pt_lower;
	if (!busy)
		n->pt_writers++;
	pthread_mutex_unlock(&n->lock);
	if (!busy)
		return 0;
	fs_inode_detach(fs, n);
	log_debug("passthrough: inode %llu: lower data open in passthrough "
		  "mode; the writer goes to a new node",
		  (unsigned long long)n->st_ino);
	return -ESTALE;
}

void fs_pt_write_end(struct fs *fs, struct fs_inode *n)
{
	(void)fs;
	pthread_mutex_lock(&n->lock);
	n->pt_writers--;
	pthread_mutex_unlock(&n->lock);
}

void fs_pt_release(struct fs *fs, struct fs_inode *n, int32_t id)
{
	pthread_mutex_lock(&n->lock);
	if (!id) {
		n->cached_open--;
	} else if (!--n->pt_open) {
		uint32_t bid = (uint32_t)n->pt_id;

		n->pt_lower = false;

		if (ioctl(fuse_session_fd(fs->se), PT_IOC_BACKING_CLOSE, &bid))
			log_warn("passthrough: backing close %u: %s", bid,
				 strerror(errno));
		n->pt_id = 0;
	}
	pthread_mutex_unlock(&n->lock);
}
