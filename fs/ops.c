// SPDX-License-Identifier: GPL-2.0-or-later
/* The FUSE session: setting up layers, the ops table, init and statfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/fs-internal.h"

#define MAX_IO (1U << 20)

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	conn->max_write = MAX_IO;
	conn->max_read = MAX_IO;
	conn->max_readahead = MAX_IO;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* No SPLICE_READ: libfuse would then splice every request into a
	 * pipe and read it back, two syscalls per request instead of one. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Lookups and readdirs of one directory run in parallel: they only
	 * read the layers and take per-node locks (fs/fs-internal.h). */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Room for readahead and async direct I/O of many threads. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* Symlink targets never change behind the kernel's back. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* ACLs are enforced by the kernel from the xattrs strata serves;
	 * creating applies the umask or the parent's default ACL itself
	 * (fs/create.c), hence DONT_MASK. */
	if (!fs->cfg.noacl && !fs->cfg.noxattrs &&
	    (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	/* The daemon writes as root, which would keep set-id bits: with
	 * FUSE_HANDLE_KILLPRIV_V2 (fs/wire.c) the kernel flags the requests
	 * that must clear them (fs/killpriv.c) and spares every write() a
	 * GETXATTR of security.capability.  Never the old HANDLE_KILLPRIV,
	 * which would have strata clear them for root too. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	fs->killpriv = fs->killpriv_offered && fs->upper_fd >= 0;
	/* Writeback caching: every change comes through this mount, so the
	 * kernel's cached data, size and times are authoritative; writes
	 * reach the upper in large batches (flush, fsync and close report
	 * their errors, e.g. ENOSPC).  fs/file.c opens upper files for
	 * reading too and without O_APPEND, as the kernel then needs.
	 * Not with upper limits: EDQUOT must reach the write() that went
	 * beyond them, not a later writeback (fs/quota.c).  Nor with
	 * passthrough (fs/passthrough.c), which the kernel refuses with it
	 * and which serves upper data better: no copy in the page cache of
	 * both this mount and the upper. */
	if (!fs_pt_init(fs) && fs->upper_fd >= 0 && !fs->quota &&
	    (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	fs->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	if (fs->pt || fs->killpriv)
		fs_wire_init_reply();
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_from_req(req);
	struct fs_layer *l = fs->layers[0] ? fs->layers[0] : fs->layers[1];
	struct statvfs st;
	int ret = l->ops->statfs(l, &st);

	if (!ret)
		fs_quota_statfs(fs, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.symlink = fs_op_symlink,
	.link = fs_op_link,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.rename = fs_op_rename,
	.open = fs_op_open,
	.create = fs_op_create,
	.read = fs_op_read,
	.write_buf = fs_op_write_buf,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.fallocate = fs_op_fallocate,
	.lseek = fs_op_lseek,
	.copy_file_range = fs_op_copy_file_range,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.fsyncdir = fs_op_fsyncdir,
	.statfs = fs_op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
};

static int open_dir(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		int ret = -errno;

		log_err("%s: %s", path, strerror(errno));
		return ret;
	}
	return 0;
}

/* workdir/work, as kernel overlayfs names it, emptied: what a crash left
 * there are half-built objects that never became visible. */
static int open_work(struct fs *fs)
{
	struct dirent *de;
	DIR *d;
	int wfd, ret;

	if (mkdir(fs->cfg.workdir, 0700) && errno != EEXIST)
		return -errno;
	ret = open_dir(fs->cfg.workdir, &wfd);
	if (ret)
		return ret;
	if (mkdirat(wfd, "work", 0700) && errno != EEXIST) {
		ret = -errno;
		close(wfd);
		return ret;
	}
	fs->work_fd = openat(wfd, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(wfd);
	if (fs->work_fd < 0)
		return -errno;
	d = fdopendir(openat(fs->work_fd, ".", O_RDONLY | O_DIRECTORY |
						       O_CLOEXEC));
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fs_upper_remove_tree(fs, fs->work_fd, de->d_name);
	closedir(d);
	return 0;
}

/* The root's merged layers: upper first, down to an opaque one. */
static int root_layers(struct fs *fs)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < fs->nlayers; i++) {
		struct fs_layer *l = fs->layers[i];
		int r;

		if (!l)
			continue;
		mask |= 1ULL << i;
		r = l->ops->is_opaque(l, ".");
		if (r < 0)
			return r;
		if (r)
			break;
	}
	fs->root->layers = mask;
	return 0;
}

static int fs_setup(struct fs *fs)
{
	struct stat ust, wst;
	int ret;

	fs->upper_fd = fs->work_fd = -1;
	fs->timeout = fs->cfg.timeout;
	pthread_rwlock_init(&fs->rename_lock, NULL);
	pthread_mutex_init(&fs->links_lock, NULL);
	fs_handles_init(fs);
	ret = fs_table_init(fs);
	if (ret)
		return ret;
	fs->nlayers = 1 + (unsigned)fs->cfg.nlower;
	if (fs->cfg.upperdir) {
		ret = fs_layer_dir_create(fs->cfg.upperdir, 0, &fs->layers[0]);
		if (!ret)
			ret = open_dir(fs->cfg.upperdir, &fs->upper_fd);
		if (ret)
			return ret;
		ret = open_work(fs);
		if (ret)
			return ret;
		if (fstat(fs->upper_fd, &ust) || fstat(fs->work_fd, &wst))
			return -errno;
		if (ust.st_dev != wst.st_dev) {
			log_err("upperdir and workdir must be on the same filesystem");
			return -EXDEV;
		}
	}
	for (size_t i = 0; i < fs->cfg.nlower; i++) {
		const char *lo = fs->cfg.lowerdirs[i];

		if (fs_lower_is_store(lo))
			ret = fs_layer_store_create(fs, lo, (unsigned)i + 1,
						    &fs->layers[i + 1]);
		else
			ret = fs_layer_dir_create(lo, (unsigned)i + 1,
						  &fs->layers[i + 1]);
		if (ret)
			return ret;
	}
	ret = root_layers(fs);
	return ret ? ret : fs_quota_init(fs);
}

static void fs_teardown(struct fs *fs)
{
	/* Before the layers: dropping a file handle closes its layer file. */
	fs_handles_drop_all(fs);
	for (unsigned i = 0; i <= FS_MAX_LAYERS; i++) {
		fs_layer_destroy(fs->layers[i]);
		fs_links_free(fs->links[i]);
	}
	fs_store_close(fs);
	fs_quota_destroy(fs);
	pthread_mutex_destroy(&fs->links_lock);
	if (fs->upper_fd >= 0)
		close(fs->upper_fd);
	if (fs->work_fd >= 0)
		close(fs->work_fd);
	fs_table_destroy(fs);
	pthread_rwlock_destroy(&fs->rename_lock);
}

/*
 * Daemonize before setting up, for mounts with store layers: the store's
 * io_uring rings belong to the task that creates them, so they must be
 * made in the process that serves the mount, not in a parent that
 * fuse_daemonize() would leave behind.  The parent waits until the child
 * reports the mount ready (exit 0) or fails (exit 1; the child has
 * printed why), as with fuse_daemonize().
 */
static int fork_early(int *ready_fd)
{
	int p[2], status = 1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, sizeof(status)) != sizeof(status))
			status = 1;
		_exit(status ? 1 : 0);
	}
	close(p[0]);
	*ready_fd = p[1];
	return 0;
}

/* pidfile=: this process serves the mount (written after daemonizing). */
static int write_pidfile(const char *path)
{
	char buf[24], tmp[4096];
	int fd, n, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r) {
		unlink(tmp);
		log_err("pidfile %s: %s", path, strerror(-r));
	}
	return r;
}

/* The child of fork_early(): detach and tell the parent the mount is up. */
static int finish_daemon(int ready_fd)
{
	int status = 0, nul;

	if (setsid() < 0 || chdir("/"))
		return -errno;
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	if (write(ready_fd, &status, sizeof(status)) != sizeof(status))
		return -EIO;
	close(ready_fd);
	return 0;
}

int fs_run(const struct fs_config *cfg)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc = NULL;
	int ready_fd = -1, log_fd = -1;
	unsigned nthreads;
	bool early = false;
	struct fs fs;
	char opt[64];
	int ret;

	memset(&fs, 0, sizeof(fs));
	fs.cfg = *cfg;
	for (size_t i = 0; i < cfg->nlower; i++)
		early |= fs_lower_is_store(cfg->lowerdirs[i]);
	early &= !cfg->foreground && !cfg->debug;
	/* Opened here, so that a bad path fails the mount with a message. */
	if (cfg->logfile) {
		log_fd = open(cfg->logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (log_fd < 0) {
			ret = -errno;
			log_err("log %s: %s", cfg->logfile, strerror(-ret));
			return ret;
		}
	}
	if (early) {
		ret = fork_early(&ready_fd);
		if (ret)
			return ret;
	}
	umask(0); /* fs/create.c applies the caller's umask */
	ret = fs_setup(&fs);
	if (ret)
		goto out;
	snprintf(opt, sizeof(opt), "-omax_read=%u", MAX_IO);
	if (fuse_opt_add_arg(&args, "strata-fuse") ||
	    fuse_opt_add_arg(&args, opt) ||
	    fuse_opt_add_arg(&args, "-osubtype=strata,fsname=strata") ||
	    (cfg->fuse_opts && *cfg->fuse_opts &&
	     (fuse_opt_add_arg(&args, "-o") ||
	      fuse_opt_add_arg(&args, cfg->fuse_opts))) ||
	    (cfg->debug && fuse_opt_add_arg(&args, "-d"))) {
		ret = -ENOMEM;
		goto out;
	}
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		log_err("cannot create the FUSE session (bad mount option?)");
		ret = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(fs.se)) {
		ret = -EIO;
		goto out_session;
	}
	if (fuse_session_mount(fs.se, cfg->mountpoint)) {
		ret = -EIO;
		goto out_signals;
	}
	ret = fs_wire_install(&fs);
	if (ret)
		goto out_unmount;
	/* The pidfile exists before the parent returns when this process
	 * is already the daemon (early fork). */
	if ((early && cfg->pidfile && write_pidfile(cfg->pidfile)) ||
	    (early ? finish_daemon(ready_fd) : fuse_daemonize(cfg->foreground || cfg->debug)) ||
	    (!early && cfg->pidfile && write_pidfile(cfg->pidfile))) {
		ret = -EIO;
		goto out_unmount;
	}
	if (log_fd >= 0) {
		/* From here on messages go to the log (daemonizing pointed
		 * stderr at /dev/null). */
		if (dup2(log_fd, STDERR_FILENO) >= 0)
			strata_log_set_timestamps(true);
		close(log_fd);
		log_fd = -1;
	}
	lc = fuse_loop_cfg_create();
	if (!lc) {
		ret = -ENOMEM;
		goto out_unmount;
	}
	fuse_loop_cfg_set_clone_fd(lc, 0);
	/* One worker unless asked for more: libfuse's workers take turns on
	 * /dev/fuse, so with several of them each request wakes another,
	 * cold thread.  Measured on a 2-core VM: untar into the mount took
	 * 3x the daemon CPU time and wall time with 16 (or 2) workers;
	 * parallel random reads gain about 20% from 4 workers. */
	nthreads = cfg->max_threads ? cfg->max_threads : 1;
	fuse_loop_cfg_set_max_threads(lc, nthreads);
	fuse_loop_cfg_set_idle_threads(lc, nthreads < 4 ? nthreads : 4);
	ret = fs_rp_start(&fs, cfg->read_threads);
	if (!ret) {
		/* libfuse returns the signal's number when SIGTERM, SIGINT or
		 * SIGHUP ended the loop: a requested stop, followed by the
		 * same unmount as below; only a negative value is a failure. */
		ret = fuse_session_loop_mt(fs.se, lc) < 0 ? -EIO : 0;
	}
	fs_rp_stop(&fs);
	fuse_loop_cfg_destroy(lc);
out_unmount:
	if (cfg->pidfile)
		unlink(cfg->pidfile);
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out:
	if (log_fd >= 0)
		close(log_fd);
	fuse_opt_free_args(&args);
	fs_teardown(&fs);
	return ret;
}
