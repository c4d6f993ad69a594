// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: layer tar walker.  We decompress ourselves (zlib, zstd, on a
 * thread of their own: store/tarstream.c) and feed the raw tar bytes to
 * libarchive through its read callback, so that we see every byte of the
 * uncompressed stream: that gives the DiffID and the skeleton (the stream
 * minus regular-file data) needed to re-create the tar byte for byte.
 * Headers are only ever parsed by libarchive.
 *
 * Skeleton bookkeeping: bytes handed to libarchive are "pending" until we
 * know whether they are file data.  After each header, libarchive has
 * consumed exactly up to the data start D (archive_filter_bytes(a, 0)); for
 * a plain regular file the data is [D, D+size).  Everything pending below D
 * goes to the skeleton, the data range is dropped (but hashed with XXH3 and
 * compared with what libarchive delivers as the entry's data, so a header
 * encoding we misjudge is an error, never a silently wrong skeleton).
 *
 * A plain (uncompressed) blob is its own stream: hashed once, the blob
 * digest being the DiffID.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <xxhash.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/image-internal.h"

#define PATH_LEN_MAX 4096
#define NAME_LEN_MAX 255
#define XATTR_NAME_MAX_ 255
#define XATTR_VALUE_MAX (64u << 10)
#define XATTR_COUNT_MAX 1024
#define ACL_XATTR_ENTRIES_MAX 1024

struct image_tarwalk {
	struct image_tarwalk_opts opts;
	char *name;
	int own_fd;
	int err; /* first error; sticky */
	bool done;

	/* the uncompressed stream (store/tarstream.c) */
	struct tw_stream *st;
	const uint8_t *cur; /* the chunk tw_stream_next() gave */
	uint64_t fed; /* bytes produced so far */
	uint64_t nentries;
	char last_name[256]; /* for messages about the next, unreadable header */

	/* skeleton */
	struct image_skeleton *skel;
	uint8_t *pend;          /* the window is pend[pend_start, pend_start + pend_len) */
	size_t pend_start, pend_len, pend_cap;
	uint64_t pend_off; /* stream offset of pend[pend_start]; below it: decided */
	XXH3_state_t *raw_x, *data_x;

	/* libarchive */
	struct archive *a;
	bool started;
	bool first_chunk; /* out holds a chunk produced before archive_read_open */
	size_t first_len;

	/* current entry */
	struct image_entry ent;
	bool has_entry, hole;
	uint64_t data_read;
	char *path;
	char *link;
	struct image_xattr *xattrs;
	size_t nxattrs, xattrs_cap;
	uint8_t *acl_buf[2];
};

ssize_t image_fd_read(void *arg, void *buf, size_t len)
{
	int fd = (int)(intptr_t)arg;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

void tarwalk_own_fd(struct image_tarwalk *tw, int fd)
{
	tw->own_fd = fd;
}

static int fail(struct image_tarwalk *tw, int err)
{
	if (!tw->err)
		tw->err = err;
	return tw->err;
}

/* The next uncompressed chunk at tw->cur: its length, 0 at the end, -errno. */
static ssize_t decomp(struct image_tarwalk *tw)
{
	ssize_t n;

	if (tw->err)
		return tw->err;
	n = tw_stream_next(tw->st, &tw->cur);
	return n < 0 ? fail(tw, (int)n) : n;
}

/* ---- skeleton bookkeeping ---- */

static int pend_add(struct image_tarwalk *tw, const uint8_t *p, size_t n)
{
	if (tw->pend_start && tw->pend_start + tw->pend_len + n > tw->pend_cap) {
		/* Decided bytes are dropped from the front only here, and the
		 * buffer is kept at least twice what it holds: each byte is
		 * moved O(1) times, not once per entry. */
		memmove(tw->pend, tw->pend + tw->pend_start, tw->pend_len);
		tw->pend_start = 0;
	}
	if (2 * (tw->pend_len + n) > tw->pend_cap) {
		size_t cap = MAX(tw->pend_cap * 2, 2 * (tw->pend_len + n) + 4096);
		uint8_t *b = realloc(tw->pend, cap);

		if (!b)
			return fail(tw, -ENOMEM);
		tw->pend = b;
		tw->pend_cap = cap;
	}
	memcpy(tw->pend + tw->pend_start + tw->pend_len, p, n);
	tw->pend_len += n;
	return 0;
}

/* New stream bytes [tw->fed, tw->fed + n). */
static int stream_bytes(struct image_tarwalk *tw, const uint8_t *p, size_t n)
{
	uint64_t total = n;

	if (tw->skel) {
		uint64_t off = tw->fed;

		/* Below pend_off (ahead of the pending window) is file data. */
		if (off < tw->pend_off) {
			size_t d = (size_t)MIN((uint64_t)n, tw->pend_off - off);

			XXH3_64bits_update(tw->raw_x, p, d);
			p += d;
			n -= d;
		}
		if (n && pend_add(tw, p, n))
			return tw->err;
	}
	tw->fed += total;
	return 0;
}

/* Everything pending below `upto` is skeleton. */
static int pend_flush(struct image_tarwalk *tw, uint64_t upto)
{
	size_t n;
	int r;

	if (upto <= tw->pend_off)
		return 0;
	n = (size_t)MIN((uint64_t)tw->pend_len, upto - tw->pend_off);
	if ((r = skel_append(tw->skel, tw->pend + tw->pend_start, n)))
		return fail(tw, r);
	tw->pend_start += n;
	tw->pend_len -= n;
	tw->pend_off += n;
	return 0;
}

/* The current entry's data is [d, d + size): drop it from the pending window. */
static int pend_hole(struct image_tarwalk *tw, uint64_t d, uint64_t size)
{
	size_t n;
	int r;

	if (tw->pend_off != d) {
		log_err("layer %s: entry %s: data offset %llu does not follow its header", tw->name,
			tw->ent.raw_path, (unsigned long long)d);
		return fail(tw, -EBADMSG);
	}
	if ((r = skel_add_hole(tw->skel, size, tw->ent.index)))
		return fail(tw, r);
	XXH3_64bits_reset(tw->raw_x);
	XXH3_64bits_reset(tw->data_x);
	n = (size_t)MIN((uint64_t)tw->pend_len, size);
	XXH3_64bits_update(tw->raw_x, tw->pend + tw->pend_start, n);
	tw->pend_start += n;
	tw->pend_len -= n;
	tw->pend_off = d + size;
	return 0;
}

static la_ssize_t cb_read(struct archive *a, void *arg, const void **buf)
{
	struct image_tarwalk *tw = arg;
	ssize_t n;

	if (tw->first_chunk) {
		tw->first_chunk = false;
		*buf = tw->cur;
		return (la_ssize_t)tw->first_len;
	}
	n = decomp(tw);
	if (n < 0) {
		archive_set_error(a, (int)-n, "layer stream error");
		return -1;
	}
	*buf = tw->cur;
	if (n && stream_bytes(tw, tw->cur, (size_t)n)) {
		archive_set_error(a, ENOMEM, "out of memory");
		return -1;
	}
	return n;
}

/* ---- entries ---- */

/* Normalize a tar name; NULL path => reject.  root set for "/" and "./". */
static int normalize(const char *raw, char *out, size_t outlen, bool *root)
{
	const char *p = raw;
	size_t o = 0;

	*root = false;
	if (!raw || !*raw)
		return -EINVAL;
	if (strlen(raw) > PATH_LEN_MAX)
		return -ENAMETOOLONG;
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (!len || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return -EPERM;
		if (len > NAME_LEN_MAX)
			return -ENAMETOOLONG;
		if (o + len + 2 > outlen)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, len);
		o += len;
	}
	if (!o) {
		*root = true;
		out[o++] = '.';
	}
	out[o] = 0;
	return 0;
}

static const char *norm_err(int r)
{
	return r == -EPERM	    ? "has a \"..\" component"
	       : r == -ENAMETOOLONG ? "is too long"
				    : "is empty";
}

static int add_xattr(struct image_tarwalk *tw, const char *name, const void *v, size_t size)
{
	if (tw->nxattrs == tw->xattrs_cap) {
		size_t cap = tw->xattrs_cap ? tw->xattrs_cap * 2 : 8;
		struct image_xattr *x = realloc(tw->xattrs, cap * sizeof(*x));

		if (!x)
			return -ENOMEM;
		tw->xattrs = x;
		tw->xattrs_cap = cap;
	}
	tw->xattrs[tw->nxattrs++] = (struct image_xattr){name, v, size};
	return 0;
}

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static int acl_cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* POSIX.1e ACLs from libarchive into the kernel's system.posix_acl_* format. */
static int acl_to_xattr(struct image_tarwalk *tw, struct archive_entry *ae, int type, int slot,
			const char *xname)
{
	struct acl_ent *v;
	int n = archive_entry_acl_reset(ae, type), atype, perm, tag, qual, cnt = 0;
	const char *aname;
	uint8_t *b;

	if (n <= 0)
		return 0;
	for (size_t i = 0; i < tw->nxattrs; i++)
		if (!strcmp(tw->xattrs[i].name, xname))
			return 0; /* the raw xattr wins */
	if (n > ACL_XATTR_ENTRIES_MAX)
		return -E2BIG;
	v = calloc((size_t)n + 4, sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (cnt < n + 4 &&
	       archive_entry_acl_next(ae, type, &atype, &perm, &tag, &qual, &aname) == ARCHIVE_OK) {
		uint16_t kt;

		switch (tag) {
		case ARCHIVE_ENTRY_ACL_USER_OBJ:
			kt = 0x01;
			break;
		case ARCHIVE_ENTRY_ACL_USER:
			kt = 0x02;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
			kt = 0x04;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP:
			kt = 0x08;
			break;
		case ARCHIVE_ENTRY_ACL_MASK:
			kt = 0x10;
			break;
		case ARCHIVE_ENTRY_ACL_OTHER:
			kt = 0x20;
			break;
		default:
			continue;
		}
		v[cnt].tag = kt;
		v[cnt].perm = (uint16_t)(perm & 7);
		v[cnt].id = (kt == 0x02 || kt == 0x08) ? (uint32_t)qual : 0xffffffffu;
		cnt++;
	}
	qsort(v, (size_t)cnt, sizeof(*v), acl_cmp);
	/* libarchive synthesizes the owner/group/other entries from the mode
	 * for access ACLs; drop exact duplicates of a tag/id. */
	int m = 0;

	for (int i = 0; i < cnt; i++)
		if (!m || v[m - 1].tag != v[i].tag || v[m - 1].id != v[i].id)
			v[m++] = v[i];
	b = realloc(tw->acl_buf[slot], 4 + 8 * (size_t)m);
	if (!b) {
		free(v);
		return -ENOMEM;
	}
	tw->acl_buf[slot] = b;
	b[0] = 2; /* POSIX_ACL_XATTR_VERSION, little endian */
	b[1] = b[2] = b[3] = 0;
	for (int i = 0; i < m; i++) {
		uint8_t *e = b + 4 + 8 * i;

		e[0] = (uint8_t)v[i].tag;
		e[1] = (uint8_t)(v[i].tag >> 8);
		e[2] = (uint8_t)v[i].perm;
		e[3] = 0;
		for (int k = 0; k < 4; k++)
			e[4 + k] = (uint8_t)(v[i].id >> (8 * k));
	}
	free(v);
	return add_xattr(tw, xname, b, 4 + 8 * (size_t)m);
}

static int bad_entry(struct image_tarwalk *tw, const char *raw, const char *why)
{
	log_err("layer %s: entry \"%.300s\": %s", tw->name, raw ? raw : "", why);
	return fail(tw, -EBADMSG);
}

static int convert(struct image_tarwalk *tw, struct archive_entry *ae)
{
	struct image_entry *e = &tw->ent;
	const char *raw = archive_entry_pathname(ae), *hl;
	char *base;
	bool root;
	int r;

	if (!raw)
		raw = archive_entry_pathname_utf8(ae);
	memset(e, 0, sizeof(*e));
	e->raw_path = raw ? raw : "";
	if ((r = normalize(raw, tw->path, PATH_LEN_MAX + 2, &root)))
		return bad_entry(tw, raw, norm_err(r));
	e->path = tw->path;
	hl = archive_entry_hardlink(ae);
	if (hl) {
		bool hroot;

		e->type = IMAGE_ENTRY_HARDLINK;
		if ((r = normalize(hl, tw->link, PATH_LEN_MAX + 2, &hroot)))
			return bad_entry(tw, raw,
					 r == -EPERM ? "hardlink target has a \"..\" component"
						     : "hardlink target is empty or too long");
		if (hroot)
			return bad_entry(tw, raw, "hardlink to the root directory");
		e->link_target = tw->link;
	} else {
		switch (archive_entry_filetype(ae)) {
		case AE_IFREG:
			e->type = IMAGE_ENTRY_REG;
			break;
		case AE_IFDIR:
			e->type = IMAGE_ENTRY_DIR;
			break;
		case AE_IFLNK:
			e->type = IMAGE_ENTRY_SYMLINK;
			break;
		case AE_IFCHR:
			e->type = IMAGE_ENTRY_CHR;
			break;
		case AE_IFBLK:
			e->type = IMAGE_ENTRY_BLK;
			break;
		case AE_IFIFO:
			e->type = IMAGE_ENTRY_FIFO;
			break;
		case AE_IFSOCK:
			e->type = IMAGE_ENTRY_SOCK;
			break;
		default:
			return bad_entry(tw, raw, "unknown file type");
		}
	}
	if (e->type == IMAGE_ENTRY_SYMLINK) {
		const char *t = archive_entry_symlink(ae);

		if (!t)
			t = archive_entry_symlink_utf8(ae);
		if (!t || !*t)
			return bad_entry(tw, raw, "symlink without a target");
		if (strlen(t) > PATH_LEN_MAX)
			return bad_entry(tw, raw, "symlink target is too long");
		e->link_target = t; /* verbatim: never resolved */
	}
	if (root) {
		if (e->type != IMAGE_ENTRY_DIR)
			return bad_entry(tw, raw, "the root is not a directory");
		e->flags |= IMAGE_EF_ROOT;
	}
	base = strrchr(tw->path, '/');
	base = base ? base + 1 : tw->path;
	if (!strncmp(base, ".wh.", 4)) {
		if (root)
			return bad_entry(tw, raw, "whiteout of the root");
		if (!strcmp(base, ".wh..wh..opq")) {
			e->flags |= IMAGE_EF_OPAQUE;
			if (base == tw->path)
				strcpy(tw->path, ".");
			else
				base[-1] = 0;
		} else if (!strncmp(base, ".wh..wh.", 8)) {
			e->flags |= IMAGE_EF_AUFS_META;
		} else if (!base[4]) {
			return bad_entry(tw, raw, "whiteout without a name");
		} else {
			e->flags |= IMAGE_EF_WHITEOUT;
			memmove((char *)base, base + 4, strlen(base + 4) + 1);
			if (!strcmp(base, ".") || !strcmp(base, ".."))
				return bad_entry(tw, raw, "whiteout of \".\" or \"..\"");
		}
	}
	e->mode = archive_entry_mode(ae) & 07777;
	if (archive_entry_uid(ae) < 0 || archive_entry_uid(ae) > UINT32_MAX - 1 ||
	    archive_entry_gid(ae) < 0 || archive_entry_gid(ae) > UINT32_MAX - 1)
		return bad_entry(tw, raw, "uid or gid out of range");
	e->uid = (uint64_t)archive_entry_uid(ae);
	e->gid = (uint64_t)archive_entry_gid(ae);
	e->uname = archive_entry_uname(ae);
	e->gname = archive_entry_gname(ae);
	if (archive_entry_size(ae) < 0)
		return bad_entry(tw, raw, "negative size");
	e->size = e->type == IMAGE_ENTRY_REG ? (uint64_t)archive_entry_size(ae) : 0;
	e->mtime.tv_sec = archive_entry_mtime(ae);
	e->mtime.tv_nsec = archive_entry_mtime_nsec(ae);
	if ((e->has_atime = archive_entry_atime_is_set(ae))) {
		e->atime.tv_sec = archive_entry_atime(ae);
		e->atime.tv_nsec = archive_entry_atime_nsec(ae);
	}
	if ((e->has_ctime = archive_entry_ctime_is_set(ae))) {
		e->ctime.tv_sec = archive_entry_ctime(ae);
		e->ctime.tv_nsec = archive_entry_ctime_nsec(ae);
	}
	if (e->type == IMAGE_ENTRY_CHR || e->type == IMAGE_ENTRY_BLK) {
		e->rdev_major = (uint32_t)archive_entry_rdevmajor(ae);
		e->rdev_minor = (uint32_t)archive_entry_rdevminor(ae);
	}
	tw->nxattrs = 0;
	if (archive_entry_xattr_reset(ae) > XATTR_COUNT_MAX)
		return bad_entry(tw, raw, "too many xattrs");
	const char *xn;
	const void *xv;
	size_t xs;

	while (archive_entry_xattr_next(ae, &xn, &xv, &xs) == ARCHIVE_OK) {
		if (!xn || !*xn || strlen(xn) > XATTR_NAME_MAX_)
			return bad_entry(tw, raw, "xattr name empty or too long");
		if (xs > XATTR_VALUE_MAX)
			return bad_entry(tw, raw, "xattr value larger than 64 KiB");
		if (add_xattr(tw, xn, xv, xs))
			return fail(tw, -ENOMEM);
	}
	if ((r = acl_to_xattr(tw, ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 0,
			      "system.posix_acl_access")) ||
	    (r = acl_to_xattr(tw, ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, 1,
			      "system.posix_acl_default")))
		return r == -E2BIG ? bad_entry(tw, raw, "ACL too large") : fail(tw, r);
	e->xattrs = tw->xattrs;
	e->nxattrs = tw->nxattrs;
	if (e->type == IMAGE_ENTRY_REG && archive_entry_sparse_count(ae) > 0)
		e->flags |= IMAGE_EF_SPARSE;
	return 0;
}

/* The previous entry is finished: consume unread data and check its bytes. */
static int finish_entry(struct image_tarwalk *tw)
{
	char buf[16384];
	ssize_t n;

	if (!tw->has_entry)
		return 0;
	while ((n = image_tarwalk_read(tw, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		return (int)n;
	tw->has_entry = false;
	if (tw->hole && tw->skel &&
	    (tw->data_read != tw->ent.size ||
	     XXH3_64bits_digest(tw->raw_x) != XXH3_64bits_digest(tw->data_x)))
		return bad_entry(
		    tw, tw->ent.raw_path,
		    "data does not match its place in the tar stream (unsupported encoding)");
	return 0;
}

static int finish_stream(struct image_tarwalk *tw)
{
	struct image_digest d;
	char want[IMAGE_DIGEST_STRLEN], got[IMAGE_DIGEST_STRLEN];
	ssize_t n;

	/* Trailing bytes after the end-of-archive blocks belong to the DiffID
	 * and the skeleton; the blob must be read to its end to check its digest. */
	while ((n = decomp(tw)) > 0)
		if (stream_bytes(tw, tw->cur, (size_t)n))
			return tw->err;
	if (n < 0)
		return (int)n;
	if (tw->skel && pend_flush(tw, tw->fed))
		return tw->err;
	tw_stream_result(tw->st, &d, NULL, NULL);
	if (tw->opts.expect_diff_id && !image_digest_equal(&d, tw->opts.expect_diff_id)) {
		log_err("layer %s: DiffID mismatch: config says %s, uncompressed tar hashes to %s",
			tw->name, image_digest_format(tw->opts.expect_diff_id, want),
			image_digest_format(&d, got));
		return fail(tw, -EBADMSG);
	}
	tw->done = true;
	return 0;
}

int image_tarwalk_next(struct image_tarwalk *tw, const struct image_entry **entry)
{
	struct archive_entry *ae;
	int r;

	if (tw->err)
		return tw->err;
	if (tw->done)
		return 0;
	if (!tw->started) {
		ssize_t n = decomp(tw);

		tw->started = true;
		if (n < 0)
			return (int)n;
		if (n == 0) {
			/* Empty stream: a layer without entries. */
			if ((r = finish_stream(tw)))
				return r;
			return 0;
		}
		if (stream_bytes(tw, tw->cur, (size_t)n))
			return tw->err;
		tw->first_chunk = true;
		tw->first_len = (size_t)n;
		tw->a = archive_read_new();
		if (!tw->a)
			return fail(tw, -ENOMEM);
		archive_read_support_format_tar(tw->a);
		if (archive_read_open(tw->a, tw, NULL, cb_read, NULL) != ARCHIVE_OK) {
			if (!tw->err)
				log_err("layer %s: not a tar archive: %s", tw->name,
					archive_error_string(tw->a));
			return fail(tw, -EBADMSG);
		}
	}
	if ((r = finish_entry(tw)))
		return r;
	r = archive_read_next_header(tw->a, &ae);
	if (r == ARCHIVE_EOF) {
		if ((r = finish_stream(tw)))
			return r;
		return 0;
	}
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
		if (!tw->err) {
			const char *msg = archive_error_string(tw->a);

			if (msg && !strcmp(msg, "Unrecognized archive format") && !tw->ent.index)
				log_err("layer %s: not a tar archive", tw->name);
			else
				log_err("layer %s: bad tar header at offset %lld (after entry "
					"\"%s\"): %s",
					tw->name, (long long)archive_read_header_position(tw->a),
					tw->last_name, msg ? msg : "?");
		}
		return fail(tw, tw->err ? tw->err : -EBADMSG);
	}
	if (r == ARCHIVE_WARN)
		log_warn("layer %s: entry \"%s\": %s", tw->name,
			 archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "?",
			 archive_error_string(tw->a));
	if ((r = convert(tw, ae)))
		return r;
	tw->ent.index = tw->nentries++;
	snprintf(tw->last_name, sizeof(tw->last_name), "%s", tw->ent.raw_path);
	tw->has_entry = true;
	tw->data_read = 0;
	tw->hole = false;
	if (tw->skel) {
		uint64_t d = (uint64_t)archive_filter_bytes(tw->a, 0);

		if ((r = pend_flush(tw, d)))
			return r;
		if (tw->ent.type == IMAGE_ENTRY_REG && !(tw->ent.flags & IMAGE_EF_SPARSE) &&
		    tw->ent.size) {
			if ((r = pend_hole(tw, d, tw->ent.size)))
				return r;
			tw->hole = true;
			tw->ent.flags |= IMAGE_EF_DATA;
		}
	}
	*entry = &tw->ent;
	return 1;
}

ssize_t image_tarwalk_read(struct image_tarwalk *tw, void *buf, size_t len)
{
	la_ssize_t n;

	if (tw->err)
		return tw->err;
	if (!tw->has_entry || tw->ent.type != IMAGE_ENTRY_REG)
		return 0;
	n = archive_read_data(tw->a, buf, len);
	if (n < 0) {
		if (!tw->err)
			log_err("layer %s: entry \"%s\": %s", tw->name, tw->ent.raw_path,
				archive_error_string(tw->a));
		return fail(tw, tw->err ? tw->err : -EBADMSG);
	}
	if (tw->hole && tw->skel)
		XXH3_64bits_update(tw->data_x, buf, (size_t)n);
	tw->data_read += (uint64_t)n;
	return n;
}

int image_tarwalk_create(const struct image_tarwalk_opts *opts, image_read_fn rd, void *arg,
			 struct image_tarwalk **out)
{
	struct image_tarwalk *tw = calloc(1, sizeof(*tw));

	if (!tw)
		return -ENOMEM;
	tw->opts = *opts;
	tw->own_fd = -1;
	tw->name = strdup(opts->name ? opts->name : "(layer)");
	tw->path = malloc(PATH_LEN_MAX + 2);
	tw->link = malloc(PATH_LEN_MAX + 2);
	if (!tw->name || !tw->path || !tw->link)
		goto err;
	if (!opts->no_skeleton) {
		tw->skel = calloc(1, sizeof(*tw->skel));
		tw->raw_x = XXH3_createState();
		tw->data_x = XXH3_createState();
		if (!tw->skel || !tw->raw_x || !tw->data_x)
			goto err;
		XXH3_64bits_reset(tw->raw_x);
		XXH3_64bits_reset(tw->data_x);
	}
	/* Last: the thread starts reading at once. */
	{
		struct tw_stream_opts so = { .comp = opts->comp, .name = tw->name,
					     .expect_blob_digest = opts->expect_blob_digest,
					     .expect_blob_size = opts->expect_blob_size };
		int r = tw_stream_create(&so, rd, arg, &tw->st);

		if (r) {
			image_tarwalk_destroy(tw);
			return r;
		}
	}
	*out = tw;
	return 0;
err:
	image_tarwalk_destroy(tw);
	return -ENOMEM;
}

void image_tarwalk_destroy(struct image_tarwalk *tw)
{
	if (!tw)
		return;
	/* The reader thread first: it may be reading the caller's source. */
	tw_stream_destroy(tw->st);
	if (tw->a)
		archive_read_free(tw->a);
	image_skeleton_destroy(tw->skel);
	if (tw->raw_x)
		XXH3_freeState(tw->raw_x);
	if (tw->data_x)
		XXH3_freeState(tw->data_x);
	if (tw->own_fd >= 0)
		close(tw->own_fd);
	free(tw->pend);
	free(tw->xattrs);
	free(tw->acl_buf[0]);
	free(tw->acl_buf[1]);
	free(tw->path);
	free(tw->link);
	free(tw->name);
	free(tw);
}

int image_tarwalk_result(struct image_tarwalk *tw, struct image_digest *diff_id,
			 struct image_digest *blob_digest, uint64_t *blob_size, uint64_t *tar_size,
			 struct image_skeleton **skel)
{
	if (!tw->done)
		return tw->err ? tw->err : -EINVAL;
	tw_stream_result(tw->st, diff_id, blob_digest, blob_size);
	if (tar_size)
		*tar_size = tw->fed;
	if (skel) {
		*skel = tw->skel;
		tw->skel = NULL;
	}
	return 0;
}
