// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Export targets: an OCI layout directory or a tar archive (libarchive),
 * built under a temporary sibling of the target and renamed over it once
 * complete.  Nothing half-written is ever visible under the target's name:
 * without --force the final rename is RENAME_NOREPLACE (a target created
 * meanwhile is not clobbered); with it, RENAME_EXCHANGE swaps the new
 * output in and the old one is removed afterwards.  Blobs of unknown size
 * bound for an archive are staged in an O_TMPFILE file next to the target
 * (unnamed: a killed export leaves no blob behind) and copied in once
 * their size is known.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/export-internal.h"

#define COPY_BUF (1u << 20)

struct exp_out {
	enum export_format format;
	char *target, *tmp, *parent;
	bool force, committed, is_dir;
	int tmpfd; /* archive file */
	struct archive *ar;
	char **names;
	size_t nnames, names_cap;
	/* the blob being written */
	int blob_fd;          /* staging file (archive) or the blob file (layout) */
	bool blob_streaming;  /* straight into the tar entry */
	char *blob_name;      /* given up front */
	int64_t blob_expect;
	uint64_t blob_size;
	struct image_sha256 *h;
	uint8_t *buf;
};

static bool is_archive(const struct exp_out *o)
{
	return o->format != EXPORT_OCI_LAYOUT;
}

static int ar_err(struct exp_out *o, const char *what)
{
	int e = archive_errno(o->ar);

	log_err("%s: %s: %s", o->tmp, what, archive_error_string(o->ar));
	return e > 0 ? -e : -EIO;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) ? -errno : 0;
}

/* rm -rf path (a file or a directory tree); 0 or -errno. */
static int rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) ? -errno : 0;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) && errno != EINVAL)
		r = -errno;
	close(fd);
	return r;
}

static int remember(struct exp_out *o, const char *name)
{
	if (o->nnames == o->names_cap) {
		size_t cap = o->names_cap ? o->names_cap * 2 : 16;
		char **v = realloc(o->names, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->names = v;
		o->names_cap = cap;
	}
	o->names[o->nnames] = strdup(name);
	if (!o->names[o->nnames])
		return -ENOMEM;
	o->nnames++;
	return 0;
}

bool exp_out_has(const struct exp_out *o, const char *name)
{
	for (size_t i = 0; i < o->nnames; i++)
		if (!strcmp(o->names[i], name))
			return true;
	return false;
}

int exp_out_create(enum export_format f, const char *target, bool force, struct exp_out **out)
{
	struct exp_out *o = calloc(1, sizeof(*o));
	struct stat st;
	char *t;
	int r = -ENOMEM;

	if (!o)
		return -ENOMEM;
	o->format = f;
	o->force = force;
	o->tmpfd = o->blob_fd = -1;
	o->is_dir = f == EXPORT_OCI_LAYOUT;
	o->target = strdup(target);
	t = strdup(target);
	if (!o->target || !t)
		goto err;
	/* Strip trailing slashes so that the temporary is a sibling. */
	for (size_t n = strlen(o->target); n > 1 && o->target[n - 1] == '/'; n--)
		o->target[n - 1] = 0;
	o->parent = strdup(dirname(t));
	free(t);
	if (!o->parent || asprintf(&o->tmp, "%s.tmp-XXXXXX", o->target) < 0) {
		o->tmp = NULL;
		goto err;
	}
	if (!lstat(o->target, &st) && !force) {
		log_err("%s: exists (use --force to replace it)", o->target);
		r = -EEXIST;
		goto err;
	}
	if (stat(o->parent, &st))
		r = -errno;
	else if (!S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	else
		r = 0;
	if (r) {
		log_err("%s: %s", o->parent, strerror(-r));
		goto err;
	}
	r = image_sha256_create(&o->h);
	if (r)
		goto err;
	o->buf = malloc(COPY_BUF);
	if (!o->buf) {
		r = -ENOMEM;
		goto err;
	}
	if (o->is_dir) {
		char p[4096];

		if (!mkdtemp(o->tmp)) {
			r = -errno;
			log_err("%s: cannot create: %s", o->tmp, strerror(-r));
			o->tmp[0] = 0;
			goto err;
		}
		/* mkdtemp makes it 0700: a layout is readable like any directory. */
		chmod(o->tmp, 0755);
		snprintf(p, sizeof(p), "%s/blobs", o->tmp);
		if (mkdir(p, 0755)) {
			r = -errno;
			goto err_log;
		}
		snprintf(p, sizeof(p), "%s/blobs/sha256", o->tmp);
		if (mkdir(p, 0755)) {
			r = -errno;
			goto err_log;
		}
	} else {
		o->tmpfd = mkostemp(o->tmp, O_CLOEXEC);
		if (o->tmpfd < 0) {
			r = -errno;
			log_err("%s: cannot create: %s", o->tmp, strerror(-r));
			o->tmp[0] = 0;
			goto err;
		}
		fchmod(o->tmpfd, 0644);
		o->ar = archive_write_new();
		if (!o->ar)
			goto err;
		if (archive_write_set_format_pax_restricted(o->ar) != ARCHIVE_OK ||
		    archive_write_set_bytes_in_last_block(o->ar, 1) != ARCHIVE_OK ||
		    archive_write_open_fd(o->ar, o->tmpfd) != ARCHIVE_OK) {
			r = ar_err(o, "cannot start the archive");
			goto err;
		}
	}
	*out = o;
	return 0;
err_log:
	log_err("%s: %s", o->tmp, strerror(-r));
err:
	exp_out_destroy(o);
	return r;
}

void exp_out_destroy(struct exp_out *o)
{
	if (!o)
		return;
	if (o->blob_fd >= 0)
		close(o->blob_fd);
	/* Not committed: the archive is thrown away, whatever its close says. */
	if (o->ar)
		archive_write_free(o->ar);
	if (o->tmpfd >= 0)
		close(o->tmpfd);
	if (!o->committed && o->tmp && o->tmp[0]) {
		int r = rm_tree(o->tmp);

		if (r)
			log_err("%s: cannot remove the temporary: %s", o->tmp, strerror(-r));
	}
	for (size_t i = 0; i < o->nnames; i++)
		free(o->names[i]);
	free(o->names);
	free(o->blob_name);
	image_sha256_destroy(o->h);
	free(o->buf);
	free(o->target);
	free(o->tmp);
	free(o->parent);
	free(o);
}

static int ar_header(struct exp_out *o, const char *name, bool dir, int64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : size);
	/* Fixed metadata: the same images give the same archive. */
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(o->ar, e) != ARCHIVE_OK)
		r = ar_err(o, name);
	archive_entry_free(e);
	return r;
}

static int ar_data(struct exp_out *o, const char *name, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		la_ssize_t n = archive_write_data(o->ar, p, len);

		if (n <= 0)
			return ar_err(o, name);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write all of buf to fd (name for messages). */
static int write_all(int fd, const char *name, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			log_err("%s: write: %s", name, strerror(-r));
			return r;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int exp_out_dir(struct exp_out *o, const char *name)
{
	int r;

	if (exp_out_has(o, name))
		return 0;
	if (is_archive(o)) {
		r = ar_header(o, name, true, 0);
		if (r)
			return r;
	}
	return remember(o, name);
}

int exp_out_file(struct exp_out *o, const char *name, const void *buf, size_t len)
{
	char p[4096];
	int fd, r;

	if (exp_out_has(o, name))
		return 0;
	if (is_archive(o)) {
		r = ar_header(o, name, false, (int64_t)len);
		if (!r)
			r = ar_data(o, name, buf, len);
		return r ? r : remember(o, name);
	}
	snprintf(p, sizeof(p), "%s/%s", o->tmp, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		log_err("%s: cannot create: %s", p, strerror(-r));
		return r;
	}
	r = write_all(fd, p, buf, len);
	if (!r && fsync(fd)) {
		r = -errno;
		log_err("%s: fsync: %s", p, strerror(-r));
	}
	close(fd);
	return r ? r : remember(o, name);
}

/* An unnamed file next to the target, or a named one unlinked at once. */
static int stage_file(struct exp_out *o)
{
	char *p;
	int fd = open(o->parent, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (asprintf(&p, "%s.blob-XXXXXX", o->tmp) < 0)
		return -ENOMEM;
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		log_err("%s: cannot create: %s", p, strerror(-fd));
	} else {
		unlink(p);
	}
	free(p);
	return fd;
}

int exp_out_blob_begin(struct exp_out *o, const char *name, int64_t size)
{
	char p[4096];
	int r;

	image_sha256_reset(o->h);
	o->blob_size = 0;
	o->blob_expect = size;
	o->blob_streaming = false;
	free(o->blob_name);
	o->blob_name = name ? strdup(name) : NULL;
	if (name && !o->blob_name)
		return -ENOMEM;
	if (is_archive(o) && name && size >= 0) {
		o->blob_streaming = true;
		return ar_header(o, name, false, size);
	}
	if (is_archive(o)) {
		o->blob_fd = stage_file(o);
		return o->blob_fd < 0 ? o->blob_fd : 0;
	}
	snprintf(p, sizeof(p), "%s/blobs/.partial", o->tmp);
	o->blob_fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->blob_fd < 0) {
		r = -errno;
		log_err("%s: cannot create: %s", p, strerror(-r));
		return r;
	}
	return 0;
}

int exp_out_blob_write(struct exp_out *o, const void *buf, size_t len)
{
	int r;

	image_sha256_update(o->h, buf, len);
	o->blob_size += len;
	if (o->blob_streaming) {
		if (o->blob_expect >= 0 && o->blob_size > (uint64_t)o->blob_expect) {
			log_err("%s: more data than its size (%" PRId64 ")", o->blob_name,
				o->blob_expect);
			return -EBADMSG;
		}
		r = ar_data(o, o->blob_name, buf, len);
	} else {
		r = write_all(o->blob_fd, o->is_dir ? "blob" : "staged blob", buf, len);
	}
	return r;
}

/* Copy the staged blob into the archive as name. */
static int copy_staged(struct exp_out *o, const char *name)
{
	uint64_t left = o->blob_size;
	off_t off = 0;
	int r;

	r = ar_header(o, name, false, (int64_t)o->blob_size);
	while (!r && left) {
		size_t n = left > COPY_BUF ? COPY_BUF : (size_t)left;

		r = strata_pread_full(o->blob_fd, o->buf, n, off);
		if (r) {
			log_err("%s: reading the staged blob: %s", name, strerror(-r));
			break;
		}
		r = ar_data(o, name, o->buf, n);
		off += (off_t)n;
		left -= n;
	}
	return r;
}

int exp_out_blob_end(struct exp_out *o, const char *prefix, const char *suffix,
		     struct image_digest *digest, uint64_t *size)
{
	char hex[IMAGE_DIGEST_STRLEN], name[256], p[4096], q[4096];
	int r = 0;

	image_sha256_final(o->h, digest);
	*size = o->blob_size;
	image_digest_format(digest, hex);
	snprintf(name, sizeof(name), "%s%s%s", prefix, hex + 7, suffix);
	if (o->blob_name && strcmp(o->blob_name, name)) {
		log_err("%s: written data hashes to %s", o->blob_name, hex);
		r = -EBADMSG;
		goto out;
	}
	if (o->blob_expect >= 0 && o->blob_size != (uint64_t)o->blob_expect) {
		log_err("%s: %" PRIu64 " bytes written, %" PRId64 " expected", name, o->blob_size,
			o->blob_expect);
		r = -EBADMSG;
		goto out;
	}
	if (o->blob_streaming) {
		r = remember(o, name);
		goto out;
	}
	snprintf(p, sizeof(p), "%s/blobs/.partial", o->tmp);
	if (exp_out_has(o, name)) {
		/* The same content under the same name: drop the copy. */
		if (!is_archive(o))
			unlink(p);
		goto out;
	}
	if (is_archive(o)) {
		r = copy_staged(o, name);
	} else {
		snprintf(q, sizeof(q), "%s/%s", o->tmp, name);
		if (fsync(o->blob_fd)) {
			r = -errno;
			log_err("%s: fsync: %s", p, strerror(-r));
		} else if (rename(p, q)) {
			r = -errno;
			log_err("%s: rename: %s", q, strerror(-r));
		}
	}
	if (!r)
		r = remember(o, name);
out:
	if (o->blob_fd >= 0)
		close(o->blob_fd);
	o->blob_fd = -1;
	o->blob_streaming = false;
	free(o->blob_name);
	o->blob_name = NULL;
	return r;
}

int exp_out_commit(struct exp_out *o)
{
	char p[4096];
	int r = 0;

	if (is_archive(o)) {
		if (archive_write_close(o->ar) != ARCHIVE_OK)
			return ar_err(o, "finishing the archive");
		archive_write_free(o->ar);
		o->ar = NULL;
		if (fsync(o->tmpfd)) {
			r = -errno;
			log_err("%s: fsync: %s", o->tmp, strerror(-r));
			return r;
		}
		close(o->tmpfd);
		o->tmpfd = -1;
	} else {
		snprintf(p, sizeof(p), "%s/blobs/sha256", o->tmp);
		r = fsync_path(p, O_DIRECTORY);
		snprintf(p, sizeof(p), "%s/blobs", o->tmp);
		if (!r)
			r = fsync_path(p, O_DIRECTORY);
		if (!r)
			r = fsync_path(o->tmp, O_DIRECTORY);
		if (r) {
			log_err("%s: fsync: %s", o->tmp, strerror(-r));
			return r;
		}
	}
	if (!renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->target, RENAME_NOREPLACE)) {
		o->committed = true;
	} else if (errno == EEXIST && o->force) {
		/* Swap, then the old output (now under the temporary name) goes. */
		if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->target, RENAME_EXCHANGE)) {
			r = -errno;
			log_err("%s: cannot replace: %s", o->target, strerror(-r));
			return r;
		}
		o->committed = true;
		r = rm_tree(o->tmp);
		if (r)
			log_warn("%s: the replaced output could not be removed: %s", o->tmp,
				 strerror(-r));
		r = 0;
	} else {
		r = -errno;
		if (r == -EEXIST)
			log_err("%s: exists (use --force to replace it)", o->target);
		else
			log_err("%s: rename: %s", o->target, strerror(-r));
		return r;
	}
	r = fsync_path(o->parent, O_DIRECTORY);
	if (r)
		log_warn("%s: fsync: %s", o->parent, strerror(-r));
	return 0;
}
