// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The upper directory as an OCI layer diff tar (libarchive, pax), in one
 * snapshot attempt: walk and write in one pass (each object lstat'ed before
 * it is read or listed), then stat everything again.  See commit.h for why
 * "unchanged and ctime older than the attempt" makes the result a
 * point-in-time snapshot of a live upper.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "store/commit-internal.h"
#include "strata/log.h"

#define DATA_BUF (1u << 20)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* An object seen by the walk, for the second pass. */
struct seen {
	char *path; /* relative to the upper; "" for its root */
	struct stat st;
	struct stat now; /* second pass */
};

/* First name of an inode with several names (hardlinks). */
struct link {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct diff {
	const char *upper;
	int upper_fd;
	struct commit_lower *lw;
	struct archive *a;
	int fd;
	struct image_sha256 *h;
	uint64_t written;
	int werr;
	struct timespec t0; /* coarse clock at the start of the attempt */
	struct seen *seen;
	size_t nseen, capseen;
	struct link *links;
	size_t nlinks, caplinks;
	char *buf;
	struct commit_diff_stats *st;
};

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct diff *d = arg;
	const char *p = buf;
	size_t left = len;

	(void)a;
	while (left) {
		ssize_t n = write(d->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			d->werr = -errno;
			archive_set_error(a, errno, "writing the diff tar");
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	image_sha256_update(d->h, buf, len);
	d->written += len;
	return (la_ssize_t)len;
}

static int ar_err(struct diff *d, const char *what)
{
	if (d->werr)
		return d->werr;
	log_err("%s: %s", what, archive_error_string(d->a));
	return archive_errno(d->a) > 0 ? -archive_errno(d->a) : -EIO;
}

static int remember(struct diff *d, const char *path, const struct stat *st)
{
	if (d->nseen == d->capseen) {
		size_t cap = d->capseen ? d->capseen * 2 : 1024;
		struct seen *n = realloc(d->seen, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->seen = n;
		d->capseen = cap;
	}
	d->seen[d->nseen].path = strdup(path);
	if (!d->seen[d->nseen].path)
		return -ENOMEM;
	d->seen[d->nseen++].st = *st;
	return 0;
}

static bool ts_ge(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

static bool same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_mode == b->st_mode &&
	       a->st_uid == b->st_uid && a->st_gid == b->st_gid && a->st_size == b->st_size &&
	       a->st_nlink == b->st_nlink && a->st_rdev == b->st_rdev &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Everything is reached relative to its parent directory's descriptor and
 * never through a symlink, so a container that swaps a directory for a
 * symlink during the walk cannot make the commit read outside the upper
 * (and the second pass throws such an attempt away anyway).
 */

/*
 * A system.posix_acl_access/default value (the kernel's format: le32
 * version 2, then le16 tag, le16 perm, le32 id per entry) as libarchive ACL
 * entries of type, which the pax writer stores as SCHILY.acl.* (the import
 * turns them back into the same xattrs).  Returns 0 or -EBADMSG.
 */
static int add_acl(struct archive_entry *e, int type, const uint8_t *v, size_t len)
{
	static const struct {
		unsigned kernel;
		int archive;
	} tags[] = {
		{ 0x01, ARCHIVE_ENTRY_ACL_USER_OBJ }, { 0x02, ARCHIVE_ENTRY_ACL_USER },
		{ 0x04, ARCHIVE_ENTRY_ACL_GROUP_OBJ }, { 0x08, ARCHIVE_ENTRY_ACL_GROUP },
		{ 0x10, ARCHIVE_ENTRY_ACL_MASK }, { 0x20, ARCHIVE_ENTRY_ACL_OTHER },
	};

	if (len < 4 || (len - 4) % 8 || (v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24) != 2)
		return -EBADMSG;
	for (size_t off = 4; off < len; off += 8) {
		unsigned tag = v[off] | v[off + 1] << 8, perm = v[off + 2] | v[off + 3] << 8;
		uint32_t id = v[off + 4] | v[off + 5] << 8 | v[off + 6] << 16 |
			      (uint32_t)v[off + 7] << 24;
		int atag = 0, aperm = 0;

		for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
			if (tags[i].kernel == tag)
				atag = tags[i].archive;
		if (!atag || perm > 7)
			return -EBADMSG;
		if (perm & 4)
			aperm |= ARCHIVE_ENTRY_ACL_READ;
		if (perm & 2)
			aperm |= ARCHIVE_ENTRY_ACL_WRITE;
		if (perm & 1)
			aperm |= ARCHIVE_ENTRY_ACL_EXECUTE;
		if (archive_entry_acl_add_entry(e, type, aperm, atag,
						(atag == ARCHIVE_ENTRY_ACL_USER ||
						 atag == ARCHIVE_ENTRY_ACL_GROUP) ? (int)id : -1,
						NULL) != ARCHIVE_OK)
			return -EBADMSG;
	}
	return 0;
}

/*
 * Copy the xattrs a layer keeps into e (sorted, so the tar is stable);
 * note the overlay markers.  POSIX ACLs become the tar's ACL entries.
 */
static int get_xattrs(struct diff *d, int dfd, const char *name, const char *path,
		      struct archive_entry *e, bool *opaque, bool *metacopy)
{
	char pp[64], *list = NULL, **names = NULL, *val = NULL;
	ssize_t len, vlen;
	size_t n = 0;
	int r = 0, fd;

	*opaque = *metacopy = false;
	/* No *xattrat() in glibc 2.36: an O_PATH descriptor through /proc. */
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -EAGAIN : -errno;
	snprintf(pp, sizeof(pp), "/proc/self/fd/%d", fd);
	len = listxattr(pp, NULL, 0);
	if (len <= 0) {
		r = len == 0 || errno == ENOTSUP ? 0 : -errno;
		goto out;
	}
	list = malloc((size_t)len + 1);
	if (!list) {
		r = -ENOMEM;
		goto out;
	}
	len = listxattr(pp, list, (size_t)len);
	if (len < 0) {
		r = errno == ERANGE || errno == ENOENT ? -EAGAIN : -errno;
		goto out;
	}
	names = calloc((size_t)len, sizeof(*names));
	if (!names) {
		r = -ENOMEM;
		goto out;
	}
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		names[n++] = p;
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		const char *nm = names[i];

		if (!strncmp(nm, "trusted.overlay.", 16)) {
			if (!strcmp(nm, "trusted.overlay.redirect")) {
				log_err("%s/%s: has an overlayfs redirect (renamed lower "
					"directory), which a layer diff cannot express",
					d->upper, path);
				r = -ENOTSUP;
				goto out;
			}
			if (!strcmp(nm, "trusted.overlay.metacopy"))
				*metacopy = true;
			if (!strcmp(nm, "trusted.overlay.opaque")) {
				char v[4];

				vlen = getxattr(pp, nm, v, sizeof(v));
				if (vlen == 1 && v[0] == 'y')
					*opaque = true;
			}
			continue;
		}
		bool acl_a = !strcmp(nm, "system.posix_acl_access");
		bool acl_d = !strcmp(nm, "system.posix_acl_default");

		if (strncmp(nm, "user.", 5) && strncmp(nm, "security.", 9) &&
		    strncmp(nm, "trusted.", 8) && !acl_a && !acl_d)
			continue; /* other system.* and namespaces */
		vlen = getxattr(pp, nm, NULL, 0);
		if (vlen < 0) {
			r = errno == ENODATA || errno == ENOENT ? -EAGAIN : -errno;
			goto out;
		}
		free(val);
		val = malloc((size_t)vlen + 1);
		if (!val) {
			r = -ENOMEM;
			goto out;
		}
		vlen = getxattr(pp, nm, val, (size_t)vlen);
		if (vlen < 0) {
			r = errno == ERANGE || errno == ENODATA ? -EAGAIN : -errno;
			goto out;
		}
		if (acl_a || acl_d) {
			r = add_acl(e, acl_a ? ARCHIVE_ENTRY_ACL_TYPE_ACCESS :
					       ARCHIVE_ENTRY_ACL_TYPE_DEFAULT,
				    (const uint8_t *)val, (size_t)vlen);
			if (r) {
				log_err("%s/%s: %s: malformed ACL", d->upper, path, nm);
				goto out;
			}
			continue;
		}
		archive_entry_xattr_add_entry(e, nm, val, (size_t)vlen);
	}
out:
	free(val);
	free(names);
	free(list);
	close(fd);
	return r;
}

static void fill_meta(struct archive_entry *e, const struct stat *st)
{
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static int put_header(struct diff *d, struct archive_entry *e, const char *name)
{
	if (archive_write_header(d->a, e) != ARCHIVE_OK)
		return ar_err(d, name);
	d->st->entries++;
	return 0;
}

/* An empty marker file (whiteout or opaque marker): no attributes to leak. */
static int put_marker(struct diff *d, const char *name)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	r = put_header(d, e, name);
	archive_entry_free(e);
	return r;
}

static int put_data(struct diff *d, const char *path, const void *buf, size_t len)
{
	if (archive_write_data(d->a, buf, len) != (la_ssize_t)len)
		return ar_err(d, path);
	return 0;
}

/* Regular file data from the upper; -EAGAIN when it changes under us. */
static int copy_upper_data(struct diff *d, int dfd, const char *name, const char *path,
			   const struct stat *st)
{
	struct stat now;
	uint64_t off = 0;
	int fd, r = 0;

	/* O_NONBLOCK: something swapped in for the file must not block us. */
	fd = openat(dfd, name,
		    O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? -EAGAIN : -errno;
	if (fstat(fd, &now) || !same(&now, st)) {
		r = -EAGAIN;
		goto out;
	}
	while (off < (uint64_t)st->st_size) {
		size_t want = (uint64_t)st->st_size - off < DATA_BUF
				  ? (size_t)((uint64_t)st->st_size - off)
				  : DATA_BUF;
		ssize_t n = pread(fd, d->buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			log_err("%s/%s: %s", d->upper, path, strerror(errno));
			goto out;
		}
		if (n == 0) { /* shrank */
			r = -EAGAIN;
			goto out;
		}
		r = put_data(d, path, d->buf, (size_t)n);
		if (r)
			goto out;
		off += (uint64_t)n;
	}
	if (fstat(fd, &now) || !same(&now, st))
		r = -EAGAIN;
out:
	close(fd);
	return r;
}

/* A metacopy file's data: the parent image's file at the same path. */
static int copy_lower_data(struct diff *d, const char *path, const struct stat *st)
{
	struct layer *l;
	uint64_t ino, size, off = 0;
	int r;

	if (!d->lw) {
		log_err("%s/%s: metacopy file but no lower layers to take its data from", d->upper,
			path);
		return -EBADMSG;
	}
	r = commit_lower_find(d->lw, path, &l, &ino, &size);
	if (r) {
		log_err("%s/%s: metacopy file without data in the image's layers: %s", d->upper,
			path, strerror(-r));
		return r == -ENOENT || r == -EISDIR || r == -EINVAL ? -EBADMSG : r;
	}
	if (size != (uint64_t)st->st_size) {
		log_err("%s/%s: metacopy file of %lld bytes, its lower data has %llu", d->upper,
			path, (long long)st->st_size, (unsigned long long)size);
		return -EBADMSG;
	}
	while (off < size) {
		ssize_t n = layer_read(l, ino, d->buf, DATA_BUF, off);

		if (n < 0) {
			log_err("%s: reading lower data: %s", path, strerror((int)-n));
			return (int)n;
		}
		if (n == 0) {
			log_err("%s: lower data ends early", path);
			return -EBADMSG;
		}
		r = put_data(d, path, d->buf, (size_t)n);
		if (r)
			return r;
		off += (uint64_t)n;
	}
	d->st->metacopy++;
	return 0;
}

static const char *find_link(struct diff *d, const struct stat *st)
{
	for (size_t i = 0; i < d->nlinks; i++)
		if (d->links[i].dev == st->st_dev && d->links[i].ino == st->st_ino)
			return d->links[i].path;
	return NULL;
}

static int add_link(struct diff *d, const struct stat *st, const char *name)
{
	if (d->nlinks == d->caplinks) {
		size_t cap = d->caplinks ? d->caplinks * 2 : 64;
		struct link *n = realloc(d->links, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->links = n;
		d->caplinks = cap;
	}
	d->links[d->nlinks].path = strdup(name);
	if (!d->links[d->nlinks].path)
		return -ENOMEM;
	d->links[d->nlinks].dev = st->st_dev;
	d->links[d->nlinks++].ino = st->st_ino;
	return 0;
}

static int walk_dir(struct diff *d, const char *path, int fd);

/* One object of the upper at path (dir/name; dfd: dir), already lstat'ed. */
static int put_object(struct diff *d, int dfd, const char *path, const char *dir, const char *name,
		      const struct stat *st)
{
	char tname[PATH_MAX + 16], target[PATH_MAX + 1];
	struct archive_entry *e = NULL;
	bool opaque = false, metacopy = false;
	const char *first;
	int r;

	/* Whiteouts: char 0/0 (kernel overlayfs, strata-fuse) or ".wh.NAME". */
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
		snprintf(tname, sizeof(tname), "%s%s" WH_PREFIX "%s", dir, *dir ? "/" : "", name);
		return put_marker(d, tname);
	}
	if (!strncmp(name, WH_PREFIX, 4)) {
		if (!S_ISREG(st->st_mode)) {
			log_err("%s/%s: a whiteout name that is not a regular file", d->upper,
				path);
			return -ENOTSUP;
		}
		if (!strcmp(name, WH_OPAQUE))
			return 0; /* emitted with its directory */
		return put_marker(d, path);
	}
	if (S_ISSOCK(st->st_mode)) {
		log_warn("%s/%s: socket not committed (a tar cannot hold sockets)", d->upper, path);
		return 0;
	}
	e = archive_entry_new();
	if (!e)
		return -ENOMEM;
	snprintf(tname, sizeof(tname), "%s%s", path, S_ISDIR(st->st_mode) ? "/" : "");
	archive_entry_set_pathname(e, tname);
	fill_meta(e, st);
	first = !S_ISDIR(st->st_mode) && st->st_nlink > 1 ? find_link(d, st) : NULL;
	if (first) {
		archive_entry_set_hardlink(e, first);
		archive_entry_set_size(e, 0);
		r = put_header(d, e, path);
		goto out;
	}
	r = get_xattrs(d, dfd, name, path, e, &opaque, &metacopy);
	if (r)
		goto out;
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		r = add_link(d, st, path);
		if (r)
			goto out;
	}
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		archive_entry_set_size(e, st->st_size);
		r = put_header(d, e, path);
		if (!r)
			r = metacopy ? copy_lower_data(d, path, st)
				     : copy_upper_data(d, dfd, name, path, st);
		break;
	case S_IFLNK: {
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

		if (n < 0 || n != st->st_size) { /* changed or gone */
			r = n < 0 && errno != ENOENT && errno != EINVAL ? -errno : -EAGAIN;
			break;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
		r = put_header(d, e, path);
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
		r = put_header(d, e, path);
		break;
	case S_IFIFO:
		r = put_header(d, e, path);
		break;
	case S_IFDIR: {
		struct stat mk;
		int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (cfd < 0) {
			r = errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? -EAGAIN
										  : -errno;
			break;
		}
		/* A ".wh..wh..opq" file marks the directory opaque too. */
		if (!opaque)
			opaque = !fstatat(cfd, WH_OPAQUE, &mk, AT_SYMLINK_NOFOLLOW);
		r = put_header(d, e, path);
		if (!r && opaque) {
			snprintf(tname, sizeof(tname), "%s/" WH_OPAQUE, path);
			r = put_marker(d, tname);
		}
		if (!r)
			r = walk_dir(d, path, cfd); /* takes cfd */
		else
			close(cfd);
		break;
	}
	default:
		log_err("%s/%s: unsupported file type", d->upper, path);
		r = -ENOTSUP;
	}
out:
	archive_entry_free(e);
	return r;
}

/*
 * The entries of directory path (already lstat'ed and remembered; fd open
 * on it, closed here), sorted.
 */
static int walk_dir(struct diff *d, const char *path, int fd)
{
	char **names = NULL, child[PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int r = 0;

	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while ((errno = 0, de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		r = -errno;
		goto out;
	}
	if (n) /* an empty directory has no array at all */
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && !r; i++) {
		struct stat st;

		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "",
				     names[i]) >= sizeof(child)) {
			log_err("%s/%s/%s: path too long", d->upper, path, names[i]);
			r = -ENAMETOOLONG;
			break;
		}
		if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW)) {
			r = errno == ENOENT ? -EAGAIN : -errno;
			break;
		}
		r = remember(d, child, &st);
		if (!r)
			r = put_object(d, dirfd(dir), child, path, names[i], &st);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return r;
}

/*
 * Second pass: everything as it was, and nothing changed since the start
 * of the attempt (ctime in [t0, now]: a ctime after now is a clock that
 * went backwards, not a change made during the attempt).
 */
static int recheck(struct diff *d)
{
	struct timespec end;

	for (size_t i = 0; i < d->nseen; i++) {
		if (fstatat(d->upper_fd, *d->seen[i].path ? d->seen[i].path : ".", &d->seen[i].now,
			    AT_SYMLINK_NOFOLLOW))
			return -EAGAIN;
		if (!same(&d->seen[i].now, &d->seen[i].st))
			return -EAGAIN;
	}
	clock_gettime(CLOCK_REALTIME, &end);
	for (size_t i = 0; i < d->nseen; i++) {
		const struct timespec *c = &d->seen[i].st.st_ctim;

		if (ts_ge(c, &d->t0) && ts_ge(&end, c))
			return -EAGAIN;
	}
	return 0;
}

int commit_diff_write(const char *upper, struct commit_lower *lw, int fd,
		      struct commit_diff_stats *st)
{
	struct diff d = {.upper = upper, .lw = lw, .fd = fd, .st = st};
	struct stat root;
	int r;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_REALTIME_COARSE, &d.t0);
	d.upper_fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.upper_fd < 0) {
		r = -errno;
		log_err("%s: %s", upper, strerror(errno));
		return r;
	}
	d.buf = malloc(DATA_BUF);
	r = d.buf ? image_sha256_create(&d.h) : -ENOMEM;
	if (r)
		goto out;
	d.a = archive_write_new();
	if (!d.a) {
		r = -ENOMEM;
		goto out;
	}
	if (archive_write_set_format_pax(d.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(d.a) != ARCHIVE_OK ||
	    archive_write_open2(d.a, &d, NULL, tar_out, NULL, NULL) != ARCHIVE_OK) {
		r = ar_err(&d, "diff tar");
		goto out;
	}
	if (fstat(d.upper_fd, &root)) {
		r = -errno;
		goto out;
	}
	r = remember(&d, "", &root);
	if (!r) {
		int rfd = dup(d.upper_fd);

		r = rfd < 0 ? -errno : walk_dir(&d, "", rfd);
	}
	if (r)
		goto out;
	if (archive_write_close(d.a) != ARCHIVE_OK) {
		r = ar_err(&d, "diff tar");
		goto out;
	}
	r = recheck(&d);
	if (r)
		goto out;
	image_sha256_final(d.h, &st->diff_id);
	st->tar_size = d.written;
out:
	if (d.a)
		archive_write_free(d.a);
	for (size_t i = 0; i < d.nseen; i++)
		free(d.seen[i].path);
	free(d.seen);
	for (size_t i = 0; i < d.nlinks; i++)
		free(d.links[i].path);
	free(d.links);
	image_sha256_destroy(d.h);
	free(d.buf);
	close(d.upper_fd);
	return r;
}
