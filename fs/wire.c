// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Protocol pieces newer than libfuse 3.14 (Debian 12), spoken through
 * libfuse's custom I/O hooks: every request is read and every reply
 * written by the worker thread that handles it, so a handler leaves a
 * thread-local mark for the reply it is about to write, and a request's
 * flags that libfuse drops are kept for its handler.
 *
 *  - FUSE_INIT: accept FUSE_PASSTHROUGH (flags2 bit 5, Linux 6.9+) with
 *    max_stack_depth 1 and no writeback cache (fs/passthrough.c), and
 *    FUSE_HANDLE_KILLPRIV_V2 (Linux 5.11+, fs/killpriv.c).
 *  - OPEN/CREATE replies: FOPEN_PASSTHROUGH and the backing id.
 *  - WRITE, SETATTR and OPEN requests: the kernel's "kill suid/sgid"
 *    flag, which libfuse 3.14 does not pass on.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/fs-internal.h"

/* From <linux/fuse.h> of Linux 6.9+, newer than Debian 12's headers. */
enum {
	W_OP_SETATTR = 4,
	W_OP_OPEN = 14,
	W_OP_WRITE = 16,
	W_OP_INIT = 26,
};
#define W_WRITEBACK_CACHE (1U << 16)
#define W_HANDLE_KILLPRIV (1U << 19)
#define W_HANDLE_KILLPRIV_V2 (1U << 28)
#define W_INIT_EXT (1U << 30)
#define W_FLAGS2_PASSTHROUGH (1U << 5) /* FUSE_PASSTHROUGH is bit 37 */
#define W_FATTR_KILL_SUIDGID (1U << 11)
#define W_OPEN_KILL_SUIDGID (1U << 0)
#define W_WRITE_KILL_SUIDGID (1U << 2)
#define W_FOPEN_NOFLUSH (1U << 5)
#define W_FOPEN_PASSTHROUGH (1U << 7)

struct w_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct w_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
};
struct w_setattr_in {
	uint32_t valid, padding;
};
struct w_open_in {
	uint32_t flags, open_flags;
};
struct w_write_in {
	uint64_t fh, offset;
	uint32_t size, write_flags;
};
struct w_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};
struct w_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
};
struct w_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

enum { W_NONE, W_INIT_REPLY, W_OPEN_REPLY };
static __thread int tls_what;
static __thread int32_t tls_id;
static __thread bool tls_kill;

/* Where each request that may ask to kill set-ID bits keeps that flag.
 * (CREATE has one too, but strata creates with O_EXCL: there is never
 * an old file to clear.) */
static const struct {
	uint32_t opcode;
	size_t need, at; /* argument bytes needed; offset of the flags */
	uint32_t mask;
} kill_flags[] = {
	{ W_OP_WRITE, sizeof(struct w_write_in),
	  offsetof(struct w_write_in, write_flags), W_WRITE_KILL_SUIDGID },
	{ W_OP_SETATTR, sizeof(struct w_setattr_in),
	  offsetof(struct w_setattr_in, valid), W_FATTR_KILL_SUIDGID },
	{ W_OP_OPEN, sizeof(struct w_open_in),
	  offsetof(struct w_open_in, open_flags), W_OPEN_KILL_SUIDGID },
};

/* The kill flag of the request just read, if it has one. */
static bool kill_flag(const struct w_in_header *h, size_t n)
{
	const uint8_t *arg = (const uint8_t *)(h + 1);

	for (size_t i = 0; i < sizeof(kill_flags) / sizeof(kill_flags[0]); i++) {
		uint32_t v;

		if (h->opcode != kill_flags[i].opcode)
			continue;
		if (n - sizeof(*h) < kill_flags[i].need)
			return false;
		memcpy(&v, arg + kill_flags[i].at, sizeof(v));
		return v & kill_flags[i].mask;
	}
	return false;
}

static ssize_t w_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	ssize_t n = read(fd, buf, len);
	const struct w_in_header *h = buf;

	tls_kill = false;
	if (n < (ssize_t)sizeof(*h))
		return n;
	if (h->opcode == W_OP_INIT &&
	    n >= (ssize_t)(sizeof(*h) + sizeof(struct w_init_in))) {
		const struct w_init_in *in = (const void *)(h + 1);

		fs->pt_offered = (in->flags & W_INIT_EXT) &&
				 (in->flags2 & W_FLAGS2_PASSTHROUGH);
		fs->killpriv_offered = in->flags & W_HANDLE_KILLPRIV_V2;
	} else {
		tls_kill = kill_flag(h, (size_t)n);
	}
	return n;
}

static void patch_init(struct fs *fs, struct iovec *iov, int count)
{
	struct w_init_out *o;

	if (count < 2 || iov[1].iov_len < sizeof(*o))
		return;
	o = iov[1].iov_base;
	if (fs->killpriv) {
		o->flags &= ~W_HANDLE_KILLPRIV;
		o->flags |= W_HANDLE_KILLPRIV_V2;
	}
	if (fs->pt) {
		o->flags |= W_INIT_EXT;
		o->flags &= ~W_WRITEBACK_CACHE;
		o->flags2 |= W_FLAGS2_PASSTHROUGH;
		o->max_stack_depth = 1;
	}
}

static void patch_open(struct iovec *iov, int count, int32_t id)
{
	struct w_open_out *o;

	/* OPEN: [header, open_out]; CREATE: [header, entry_out + open_out] */
	if (count < 2 || iov[count - 1].iov_len < sizeof(*o))
		return;
	o = (void *)((char *)iov[count - 1].iov_base +
		     iov[count - 1].iov_len - sizeof(*o));
	/* The kernel refuses other flags (keep_cache...) with passthrough. */
	o->open_flags = (o->open_flags & W_FOPEN_NOFLUSH) | W_FOPEN_PASSTHROUGH;
	o->backing_id = id;
}

static ssize_t w_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct w_out_header *h = count ? iov[0].iov_base : NULL;
	int what = tls_what;

	if (what != W_NONE && h && iov[0].iov_len == sizeof(*h) && !h->error) {
		tls_what = W_NONE;
		if (what == W_INIT_REPLY)
			patch_init(userdata, iov, count);
		else
			patch_open(iov, count, tls_id);
	}
	return writev(fd, iov, count);
}

static ssize_t w_splice_receive(int fdin, off_t *offin, int fdout,
				off_t *offout, size_t len, unsigned flags,
				void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t w_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			     size_t len, unsigned flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io w_io = {
	.read = w_read,
	.writev = w_writev,
	.splice_receive = w_splice_receive,
	.splice_send = w_splice_send,
};

int fs_wire_install(struct fs *fs)
{
	int r;

	/* Kill flags are about writing; passthrough serves read-only
	 * mounts too (fs/passthrough.c). */
	if (fs->upper_fd < 0 && !(fs->cfg.passthrough && fs->cfg.pt_lower))
		return 0;
	r = fuse_session_custom_io(fs->se, &w_io, fuse_session_fd(fs->se));
	if (r < 0) {
		log_err("custom I/O: %s", strerror(-r));
		return r;
	}
	return 0;
}

void fs_wire_init_reply(void)
{
	tls_what = W_INIT_REPLY;
}

void fs_wire_open_reply(int32_t id)
{
	tls_what = id ? W_OPEN_REPLY : W_NONE;
	tls_id = id;
}

bool fs_wire_kill_suidgid(void)
{
	return tls_kill;
}
