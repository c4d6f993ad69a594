// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE passthrough (Linux 6.9+): reads and writes of files whose data is in
 * the upper directory go from the kernel straight to the upper file, with
 * no request to this daemon.
 *
 * The protocol pieces libfuse 3.14 lacks are in fs/wire.c: accepting
 * FUSE_PASSTHROUGH at INIT (then no writeback cache, fs/ops.c) and the
 * FOPEN_PASSTHROUGH flag and backing id in the OPEN/CREATE reply, which
 * fs/file.c marks with fs_wire_open_reply() just before replying.  Here:
 * FUSE_DEV_IOC_BACKING_OPEN/CLOSE on /dev/fuse register an open upper
 * file and give that backing id.
 *
 * The kernel's rules (fs/fuse/iomode.c): while a file of an inode is open
 * in passthrough mode every other open must be passthrough to the same
 * backing, and no open may be if a file is open in caching mode.  So per
 * node (under its lock): pt_open passthrough handles sharing pt_id, and
 * cached_open caching handles; passthrough only for upper data with no
 * caching handle open.  Lower data is never passed through: copy-up while
 * a lower file is open would then have to send writes to the lower.
 * Nor set-user/group-ID files: a write by a caller without CAP_FSETID
 * must clear the bits (fs/killpriv.c), and a passed-through write never
 * reaches this daemon.  (A file that becomes set-ID while open in
 * passthrough mode keeps that mode until its last close.)
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
	fs->pt = fs->pt_offered && fs->cfg.passthrough && fs->upper_fd >= 0 &&
		 !fs->quota;
	log_debug("passthrough: %s", fs->pt ? "on" :
				     fs->pt_offered ? "off" :
						      "not offered by the kernel");
	return fs->pt;
}

/* A backing id for the node's upper file open as fd, or 0 for a caching
 * open; the caller's handle remembers which for fs_pt_release(). */
int32_t fs_pt_open(struct fs *fs, struct fs_inode *n, int fd, bool upper_data)
{
	int32_t id = 0;

	pthread_mutex_lock(&n->lock);
	if (__atomic_load_n(&fs->pt, __ATOMIC_RELAXED) && upper_data &&
	    fd >= 0 && !n->cached_open) {
		struct stat st;

		if (n->pt_open) {
			id = n->pt_id;
		} else if (!fstat(fd, &st) && !fs_is_setid(st.st_mode)) {
			struct pt_backing_map m = { .fd = fd };
			int r = ioctl(fuse_session_fd(fs->se),
				      PT_IOC_BACKING_OPEN, &m);

			if (r > 0) {
				id = n->pt_id = r;
			} else if (!(r < 0 && errno == EMFILE)) {
				/* Refused for the whole mount (a kernel
				 * without passthrough, a stacked upper):
				 * cached I/O from now on. */
				log_warn("passthrough: backing open: %s; "
					 "reads and writes go through the daemon",
					 r < 0 ? strerror(errno) : "bad id");
				__atomic_store_n(&fs->pt, false, __ATOMIC_RELAXED);
			}
		}
	}
	log_debug("passthrough: open fd %d upper %d cached %u -> id %d", fd,
		  upper_data, n->cached_open, id);
	if (id)
		n->pt_open++;
	else
		n->cached_open++;
	pthread_mutex_unlock(&n->lock);
	return id;
}

void fs_pt_release(struct fs *fs, struct fs_inode *n, int32_t id)
{
	pthread_mutex_lock(&n->lock);
	if (!id) {
		n->cached_open--;
	} else if (!--n->pt_open) {
		uint32_t bid = (uint32_t)n->pt_id;

		if (ioctl(fuse_session_fd(fs->se), PT_IOC_BACKING_CLOSE, &bid))
			log_warn("passthrough: backing close %u: %s", bid,
				 strerror(errno));
		n->pt_id = 0;
	}
	pthread_mutex_unlock(&n->lock);
}
