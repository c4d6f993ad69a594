// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE passthrough (Linux 6.9+): reads and writes of files whose data is in
 * the upper directory go from the kernel straight to the upper file, with
 * no request to this daemon.
 *
 * libfuse 3.14 (Debian 12) predates the feature, so strata speaks the three
 * protocol pieces itself through libfuse's custom I/O hooks:
 *  - FUSE_INIT: the kernel offers FUSE_PASSTHROUGH (flags2 bit 5); the
 *    reply accepts it with max_stack_depth 1 (the upper is a plain
 *    filesystem).  The kernel refuses passthrough with the writeback
 *    cache, which fs/ops.c then leaves off.
 *  - FUSE_DEV_IOC_BACKING_OPEN/CLOSE on /dev/fuse register an open upper
 *    file and give a backing id.
 *  - The OPEN/CREATE reply carries FOPEN_PASSTHROUGH and that id.
 * The reply is patched on its way out: fs/file.c sets a thread-local id
 * just before fuse_reply_open/fuse_reply_create, which write the reply
 * from the same thread.
 *
 * The kernel's rules (fs/fuse/iomode.c): while a file of an inode is open
 * in passthrough mode every other open must be passthrough to the same
 * backing, and no open may be if a file is open in caching mode.  So per
 * node (under its lock): pt_open passthrough handles sharing pt_id, and
 * cached_open caching handles; passthrough only for upper data with no
 * caching handle open.  Lower data is never passed through: copy-up while
 * a lower file is open would then have to send writes to the lower.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/fs-internal.h"

/* From <linux/fuse.h> of Linux 6.9+, newer than Debian 12's headers. */
#define PT_OP_INIT 26
#define PT_INIT_EXT (1U << 30)
#define PT_FLAGS2_PASSTHROUGH (1U << 5) /* FUSE_PASSTHROUGH is bit 37 */
#define PT_WRITEBACK_CACHE (1U << 16)
#define PT_FOPEN_DIRECT_IO (1U << 0)
#define PT_FOPEN_NOFLUSH (1U << 5)
#define PT_FOPEN_PASSTHROUGH (1U << 7)

struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct pt_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct pt_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
};
struct pt_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};
struct pt_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
};
struct pt_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

enum { PT_NONE, PT_INIT_REPLY, PT_OPEN_REPLY };
static __thread int tls_what;
static __thread int32_t tls_id;

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	ssize_t n = read(fd, buf, len);
	const struct pt_in_header *h = buf;

	if (n >= (ssize_t)(sizeof(*h) + sizeof(struct pt_init_in)) &&
	    h->opcode == PT_OP_INIT) {
		const struct pt_init_in *in = (const void *)(h + 1);

		fs->pt_offered = (in->flags & PT_INIT_EXT) &&
				 (in->flags2 & PT_FLAGS2_PASSTHROUGH);
	}
	return n;
}

static void patch_init(struct iovec *iov, int count)
{
	struct pt_init_out *o;

	if (count < 2 || iov[1].iov_len < sizeof(*o))
		return;
	o = iov[1].iov_base;
	o->flags |= PT_INIT_EXT;
	o->flags &= ~PT_WRITEBACK_CACHE;
	o->flags2 |= PT_FLAGS2_PASSTHROUGH;
	o->max_stack_depth = 1;
}

static void patch_open(struct iovec *iov, int count, int32_t id)
{
	struct pt_open_out *o;

	/* OPEN: [header, open_out]; CREATE: [header, entry_out + open_out] */
	if (count < 2 || iov[count - 1].iov_len < sizeof(*o))
		return;
	o = (void *)((char *)iov[count - 1].iov_base +
		     iov[count - 1].iov_len - sizeof(*o));
	/* The kernel refuses other flags (keep_cache...) with passthrough. */
	o->open_flags = (o->open_flags & PT_FOPEN_NOFLUSH) |
			PT_FOPEN_PASSTHROUGH;
	o->backing_id = id;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct pt_out_header *h = count ? iov[0].iov_base : NULL;
	int what = tls_what;

	(void)userdata;
	if (what != PT_NONE && h && iov[0].iov_len == sizeof(*h) && !h->error) {
		tls_what = PT_NONE;
		if (what == PT_INIT_REPLY)
			patch_init(iov, count);
		else
			patch_open(iov, count, tls_id);
	}
	return writev(fd, iov, count);
}

static ssize_t pt_splice_receive(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len, unsigned flags,
				 void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t pt_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io pt_io = {
	.read = pt_read,
	.writev = pt_writev,
	.splice_receive = pt_splice_receive,
	.splice_send = pt_splice_send,
};

int fs_pt_install(struct fs *fs)
{
	int r;

	if (!fs->cfg.passthrough || fs->upper_fd < 0 || fs->quota)
		return 0;
	r = fuse_session_custom_io(fs->se, &pt_io, fuse_session_fd(fs->se));
	if (r < 0) {
		log_err("passthrough: custom I/O: %s", strerror(-r));
		return r;
	}
	return 0;
}

bool fs_pt_init(struct fs *fs)
{
	fs->pt = fs->pt_offered && fs->cfg.passthrough && fs->upper_fd >= 0 &&
		 !fs->quota;
	if (fs->pt)
		tls_what = PT_INIT_REPLY;
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
	if (__atomic_load_n(&fs->pt, __ATOMIC_RELAXED) && upper_data && fd >= 0 && !n->cached_open) {
		if (n->pt_open) {
			id = n->pt_id;
		} else {
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

void fs_pt_reply_with(int32_t id)
{
	tls_what = id ? PT_OPEN_REPLY : PT_NONE;
	tls_id = id;
}
