/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by test_tarwalk and test_oci: build tars in memory, compress them,
 * capture log lines. */
#ifndef STRATA_TESTS_TARHELP_H
#define STRATA_TESTS_TARHELP_H

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "strata/log.h"

struct mbuf {
	unsigned char *p;
	size_t len, cap;
};

static inline void mbuf_add(struct mbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 1024;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static inline la_ssize_t mbuf_write_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	mbuf_add(arg, buf, n);
	return (la_ssize_t)n;
}

/* A tar writer into *out; format is ARCHIVE_FORMAT_TAR_*. */
static inline struct archive *tar_new(struct mbuf *out, int format)
{
	struct archive *a = archive_write_new();

	archive_write_set_format(a, format);
	archive_write_add_filter_none(a);
	archive_write_set_bytes_per_block(a, 10240);
	archive_write_open(a, out, NULL, mbuf_write_cb, NULL);
	return a;
}

/* Add an entry; data may be NULL for size 0 or non-regular types. */
static inline void tar_add(struct archive *a, const char *path, unsigned type, unsigned mode,
			   const void *data, size_t size, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)size : 0);
	archive_entry_set_mtime(e, 1700000000, 123456789);
	if (link && type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		abort();
	if (type == AE_IFREG && size)
		archive_write_data(a, data, size);
	archive_entry_free(e);
}

static inline void tar_close(struct archive *a)
{
	archive_write_close(a);
	archive_write_free(a);
}

static inline void gzip_buf(const struct mbuf *in, struct mbuf *out)
{
	z_stream z = {0};
	unsigned char tmp[65536];
	int r;

	deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	z.next_in = in->p;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = tmp;
		z.avail_out = sizeof(tmp);
		r = deflate(&z, Z_FINISH);
		mbuf_add(out, tmp, sizeof(tmp) - z.avail_out);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
}

static inline void zstd_buf(const struct mbuf *in, struct mbuf *out)
{
	size_t cap = ZSTD_compressBound(in->len);
	unsigned char *tmp = malloc(cap);
	size_t n = ZSTD_compress(tmp, cap, in->p, in->len, 3);

	mbuf_add(out, tmp, n);
	free(tmp);
}

/* Log capture: the last error line. */
static char last_log[2048];
static inline void capture_sink(enum strata_log_level lvl, const char *line, void *arg)
{
	if (lvl == STRATA_LOG_ERR)
		snprintf(last_log, sizeof(last_log), "%s", line);
}

#endif
