// SPDX-License-Identifier: GPL-2.0-or-later
/* Regular file data: open (copy-up when opened for writing), create, read
 * (spliced from the layer's fd when it has one), write, fsync, fallocate,
 * lseek.  Lower data never changes, so pages stay cached (keep_cache); all
 * changes go through this mount, which keeps the kernel's cache current. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs-internal.h"

struct fs_fh {
	struct fs_handle hd; /* first: fs/handles.c */
	struct fs_layer_file *lf;
	bool data_only; /* a metacopy's lower data: its fd has no metadata */
	int32_t pt_id;	/* passthrough backing id, 0 = caching mode */
};

int fs_create_file(fuse_req_t req, struct fs *fs, struct fs_inode *dir,
		   const char *name, mode_t mode, int flags,
		   struct fuse_entry_param *e, int *fd);

static struct fs_fh *fh(struct fuse_file_info *fi)
{
	return (struct fs_fh *)(uintptr_t)fi->fh;
}

/* Close and free a handle whose passthrough backing id is released, or
 * (fs_handles_drop_all(), a handle the kernel never released) went with
 * the connection. */
static void fh_drop(struct fs_handle *hd)
{
	struct fs_fh *h = (struct fs_fh *)hd;

	h->lf->layer->ops->close(h->lf);
	free(h);
}

/* With the writeback cache the kernel reads pages of files open for
 * writing only, and appends itself. */
static int wb_flags(struct fs *fs, int flags)
{
	if (!fs->writeback)
		return flags;
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags & ~O_APPEND;
}

int fs_file_fd(struct fuse_file_info *fi)
{
	struct fs_fh *h = fi ? fh(fi) : NULL;

	return h && h->lf && !h->data_only ? h->lf->fd : -1;
}

static void reply_open(fuse_req_t req, struct fs *fs, struct fs_inode *n,
		       struct fuse_file_info *fi, struct fs_fh *h, bool wr)
{
	bool upper = h->lf->layer->index == 0 && !h->data_only;
	int r = fs_pt_open(fs, n, h->lf->fd, upper, wr, &h->pt_id);

	if (r) {
		fh_drop(&h->hd);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Passthrough writes bypass this inode's page cache: a caching open
	 * of upper data must not trust what an earlier one left there. */
	fi->keep_cache = !upper || !fs->cfg.passthrough;
	fi->noflush = h->pt_id != 0; /* FLUSH would wait for the daemon */
	fs_handle_link(fs, &h->hd, fh_drop);
	fs_wire_open_reply(h->pt_id);
	r = fuse_reply_open(req, fi);
	fs_wire_open_reply(0);
	if (r == -ENOENT) {
		fs_handle_unlink(fs, &h->hd);
		fs_pt_release(fs, n, h->pt_id);
		fh_drop(&h->hd);
	}
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct fs_inode *n = fs_inode_from_id(fs, ino);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	char path[PATH_MAX];
	struct fs_fh *h;
	struct fs_layer *l;
	int ret = 0;

	if (wr) {
		if (fs->upper_fd < 0) {
			fuse_reply_err(req, EROFS);
			return;
		}
		ret = fs_pt_write_begin(fs, n);
		if (ret) {
			fuse_reply_err(req, -ret);
			return;
		}
		pthread_rwlock_rdlock(&fs->rename_lock);
		/* O_TRUNC: the data would be thrown away at once. */
		ret = fi->flags & O_TRUNC ? fs_copy_up_truncate(fs, n) :
					    fs_copy_up(fs, n);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (!ret)
		ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	h = calloc(1, sizeof(*h));
	if (!h && !ret)
		ret = -ENOMEM;
	if (!ret) {
		/* Written data goes to the upper only, whatever a racing
		 * lookup left in the node. */
		struct fs_qdata q = { 0 };
		unsigned dl;

		pthread_mutex_lock(&n->lock);
		dl = wr ? 0 : n->data_layer;
		pthread_mutex_unlock(&n->lock);
		h->data_only = dl != 0;
		l = fs->layers[wr ? 0 : dl ? dl : fs_inode_top(n)];
		/* O_TRUNC frees the file's blocks (fs/quota.c). */
		if (wr && (fi->flags & O_TRUNC))
			ret = fs_quota_data_begin(fs, &q, ino, -1, path, 0, 0);
		if (!ret)
			ret = l->ops->open(l, path,
					   (wr ? wb_flags(fs, fi->flags) :
						 fi->flags) &
						   ~(O_CREAT | O_EXCL |
						     O_NOFOLLOW),
					   &h->lf);
		fs_quota_data_end(fs, &q);
		if (!ret && wr && (fi->flags & O_TRUNC) &&
		    (ret = fs_kill_setid(req, ino, h->lf->fd, false)))
			h->lf->layer->ops->close(h->lf);
	}
	if (ret) {
		free(h);
		fuse_reply_err(req, -ret);
	} else {
		reply_open(req, fs, n, fi, h, wr);
	}
	if (wr)
		fs_pt_write_end(fs, n);
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	struct fs_inode *node;
	struct fs_fh *h;
	int ret, fd = -1;

	h = calloc(1, sizeof(*h));
	if (h)
		h->lf = calloc(1, sizeof(*h->lf));
	if (!h || !h->lf) {
		if (h)
			free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = fs_create_file(req, fs, fs_inode_from_id(fs, parent), name, mode,
			     wb_flags(fs, fi->flags), &e, &fd);
	if (ret) {
		free(h->lf);
		free(h);
		fuse_reply_err(req, -ret);
		return;
	}
	h->lf->layer = fs->layers[0];
	h->lf->fd = fd;
	node = fs_inode_from_id(fs, e.ino);
	/* A new file: no lower data, never refused. */
	(void)fs_pt_open(fs, node, fd, true, true, &h->pt_id);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	fi->noflush = h->pt_id != 0;
	fs_handle_link(fs, &h->hd, fh_drop);
	fs_wire_open_reply(h->pt_id);
	ret = fuse_reply_create(req, &e, fi);
	fs_wire_open_reply(0);
	if (ret == -ENOENT) {
		fs_handle_unlink(fs, &h->hd);
		fs_pt_release(fs, node, h->pt_id);
		fs_inode_forget(fs, node, 1);
		close(fd);
		free(h->lf);
		free(h);
	}
}

void fs_read_reply(fuse_req_t req, struct fs_layer_file *lf, size_t size,
		   off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	char *buf;
	ssize_t n;

	if (lf->fd >= 0) {
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = lf->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = lf->layer->ops->read(lf, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs_layer_file *lf = fh(fi)->lf;

	(void)ino;
	if (!fs_rp_queue(fs_from_req(req), req, lf, size, off))
		fs_read_reply(req, lf, size, off);
}

void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		     off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	struct fs_qdata q = { 0 };
	ssize_t n;

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fh(fi)->lf->fd;
	out.buf[0].pos = off;
	n = fs_kill_setid(req, ino, out.buf[0].fd, false);
	if (!n)
		n = fs_quota_data_begin(fs_from_req(req), &q, ino,
					out.buf[0].fd, NULL, off,
					out.buf[0].size);
	if (!n)
		n = fuse_buf_copy(&out, in, 0);
	fs_quota_data_end(fs_from_req(req), &q);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Closing a duplicate releases POSIX locks and reports deferred
	 * write errors of the underlying filesystem, as close() would. */
	int fd, ret;

	/* With the writeback cache the kernel writes the dirty pages back
	 * and reports their errors (ENOSPC...) from close() itself before
	 * it would send FLUSH; locks are the kernel's own (no setlk op).
	 * ENOSYS tells it to stop sending FLUSH: one request less per
	 * close.  Only deferred errors of an upper filesystem that reports
	 * write errors at close (NFS) go unseen.  The same with passthrough
	 * of upper files: writes reach the upper file from write() itself
	 * (a mount with upper limits passes through lower files only). */
	if (fs_from_req(req)->writeback ||
	    (fs_from_req(req)->pt && !fs_from_req(req)->quota)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (fh(fi)->lf->fd < 0) { /* a store layer file: nothing to flush */
		fuse_reply_err(req, 0);
		return;
	}
	fd = dup(fh(fi)->lf->fd);
	ret = fd < 0 ? errno : (close(fd) ? errno : 0);

	fuse_reply_err(req, ret);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_fh *h = fh(fi);

	fs_handle_unlink(fs_from_req(req), &h->hd);
	fs_pt_release(fs_from_req(req), fs_inode_from_id(fs_from_req(req), ino),
		      h->pt_id);
	fh_drop(&h->hd);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct fs *fs = fs_from_req(req);
	int fd = fh(fi)->lf->fd, ret = 0;

	if (fs->cfg.fsync && fd >= 0 && (datasync ? fdatasync(fd) : fsync(fd)))
		ret = errno;
	fuse_reply_err(req, ret);
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		     off_t length, struct fuse_file_info *fi)
{
	int fd = fh(fi)->lf->fd, ret = fd < 0 ? -EBADF : 0;
	struct fs_qdata q = { 0 };

	if (!ret)
		ret = fs_kill_setid_caller(req, ino, fd);
	if (!ret)
		ret = fs_quota_data_begin(fs_from_req(req), &q, ino, fd, NULL,
					  offset,
					  mode & FALLOC_FL_PUNCH_HOLE ? 0 :
								 (uint64_t)length);
	if (!ret && fallocate(fd, mode, offset, length))
		ret = -errno;
	if (fd >= 0)
		fs_quota_data_end(fs_from_req(req), &q);
	fuse_reply_err(req, -ret);
}

void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi)
{
	int fd = fh(fi)->lf->fd;
	off_t r = fd < 0 ? -1 : lseek(fd, off, whence);

	if (r < 0)
		fuse_reply_err(req, fd < 0 ? ENOTSUP : errno);
	else
		fuse_reply_lseek(req, r);
}

/* Copy between the layers' own files, so that the data does not cross
 * into this process (and reflinks where the upper filesystem can). */
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			   off_t off_out, struct fuse_file_info *fi_out,
			   size_t len, int flags)
{
	int in = fh(fi_in)->lf->fd, out = fh(fi_out)->lf->fd;
	loff_t oi = off_in, oo = off_out;
	struct fs_qdata q = { 0 };
	ssize_t n;

	if (in < 0 || out < 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	n = fs_kill_setid_caller(req, ino_out, out);
	if (!n)
		n = fs_quota_data_begin(fs_from_req(req), &q, ino_out, out,
					NULL, off_out, len);
	if (!n && (n = copy_file_range(in, &oi, out, &oo, len,
				       (unsigned)flags)) < 0)
		n = -errno;
	fs_quota_data_end(fs_from_req(req), &q);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}
