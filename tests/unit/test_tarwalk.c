// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/tarwalk.c and tarbuild.c: normalized entries, DiffID, skeleton and
 * byte-exact rebuild, over tars generated here with libarchive's writer,
 * and a corpus of bad input.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/image.h"
#include "strata/log.h"
#include "tarhelp.h"

struct rd {
	const unsigned char *p;
	size_t len, pos, chunk;
	int fail_at; /* return -EIO once pos >= fail_at (if > 0) */
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct rd *r = arg;
	size_t n = r->len - r->pos;

	if (r->fail_at > 0 && r->pos >= (size_t)r->fail_at)
		return -EIO;
	if (r->chunk && n > r->chunk)
		n = r->chunk;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, r->p + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

#define MAXE 64
struct walked {
	size_t n;
	char *path[MAXE], *link[MAXE];
	enum image_entry_type type[MAXE];
	unsigned flags[MAXE], mode[MAXE];
	uint64_t uid[MAXE], gid[MAXE], size[MAXE];
	long nsec[MAXE];
	uint32_t maj[MAXE], min[MAXE];
	char xnames[MAXE][256];
	struct mbuf xval[MAXE]; /* the first xattr's value */
	struct mbuf data[MAXE];
	struct image_digest diff_id, blob;
	uint64_t tar_size;
	struct image_skeleton *sk;
};

static void walked_free(struct walked *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->path[i]);
		free(w->link[i]);
		free(w->data[i].p);
		free(w->xval[i].p);
	}
	image_skeleton_destroy(w->sk);
	memset(w, 0, sizeof(*w));
}

static int walk_opts(const struct mbuf *in, const struct image_tarwalk_opts *o, size_t chunk,
		     bool read_data, struct walked *w)
{
	struct rd r = {in->p, in->len, 0, chunk, 0};
	struct image_tarwalk *tw;
	const struct image_entry *e;
	int rc;

	memset(w, 0, sizeof(*w));
	assert_int_equal(image_tarwalk_create(o, mem_read, &r, &tw), 0);
	while ((rc = image_tarwalk_next(tw, &e)) == 1) {
		size_t i = w->n++;
		char buf[777];
		ssize_t n;

		assert_true(i < MAXE);
		assert_int_equal(e->index, i);
		w->path[i] = strdup(e->path);
		w->link[i] = e->link_target ? strdup(e->link_target) : NULL;
		w->type[i] = e->type;
		w->flags[i] = e->flags;
		w->mode[i] = e->mode;
		w->uid[i] = e->uid;
		w->gid[i] = e->gid;
		w->size[i] = e->size;
		w->nsec[i] = e->mtime.tv_nsec;
		w->maj[i] = e->rdev_major;
		w->min[i] = e->rdev_minor;
		for (size_t x = 0; x < e->nxattrs; x++) {
			strcat(w->xnames[i], e->xattrs[x].name);
			strcat(w->xnames[i], ";");
		}
		if (e->nxattrs)
			mbuf_add(&w->xval[i], e->xattrs[0].value, e->xattrs[0].size);
		if (read_data)
			while ((n = image_tarwalk_read(tw, buf, sizeof(buf))) > 0)
				mbuf_add(&w->data[i], buf, (size_t)n);
	}
	if (rc == 0)
		assert_int_equal(image_tarwalk_result(tw, &w->diff_id, &w->blob, NULL, &w->tar_size,
						      o->no_skeleton ? NULL : &w->sk),
				 0);
	image_tarwalk_destroy(tw);
	return rc;
}

static int walk(const struct mbuf *in, enum image_compression c, struct walked *w)
{
	struct image_tarwalk_opts o = {.comp = c, .name = "test", .expect_blob_size = -1};

	return walk_opts(in, &o, 0, true, w);
}

static int data_cb(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *pa)
{
	struct walked *w = arg;

	if (index >= w->n || w->data[index].len != size)
		return -ENOENT;
	return put(pa, w->data[index].p, size);
}

static int out_cb(void *arg, const void *buf, size_t len)
{
	mbuf_add(arg, buf, len);
	return 0;
}

/* The rebuilt tar must be the original uncompressed tar, byte for byte. */
static void assert_rebuild(struct walked *w, const struct mbuf *tar)
{
	struct mbuf out = {0};
	struct image_digest d;
	void *ser;
	size_t serlen;
	struct image_skeleton *sk2;

	assert_int_equal(image_tar_rebuild(w->sk, data_cb, w, out_cb, &out), 0);
	assert_int_equal(out.len, tar->len);
	assert_memory_equal(out.p, tar->p, tar->len);
	image_sha256_buf(out.p, out.len, &d);
	assert_true(image_digest_equal(&d, &w->diff_id));
	/* Through the serialized form too. */
	assert_int_equal(image_skeleton_serialize(w->sk, &ser, &serlen), 0);
	assert_int_equal(image_skeleton_parse(ser, serlen, &sk2), 0);
	out.len = 0;
	assert_int_equal(image_tar_rebuild(sk2, data_cb, w, out_cb, &out), 0);
	assert_int_equal(out.len, tar->len);
	assert_memory_equal(out.p, tar->p, tar->len);
	image_skeleton_destroy(sk2);
	free(ser);
	free(out.p);
}

static size_t find(struct walked *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->path[i], path))
			return i;
	fail_msg("entry %s not found", path);
	return 0;
}

static void add_full(struct archive *a, const char *path, unsigned type, const char *hardlink,
		     int64_t uid, int64_t gid, unsigned maj, unsigned min)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, 1700000000, 987654321);
	if (hardlink)
		archive_entry_set_hardlink(e, hardlink);
	if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, maj);
		archive_entry_set_rdevminor(e, min);
	}
	archive_entry_set_size(e, 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
}

static void build_rich(struct mbuf *tar, int format)
{
	struct archive *a = tar_new(tar, format);
	char longname[300], longlink[400], big[70000];
	struct archive_entry *e;

	memset(longname, 0, sizeof(longname));
	memset(longname, 'n', 150);
	memcpy(longname + 150, "/file-with-a-long-name", 22);
	memset(longlink, 'l', 300);
	longlink[300] = 0;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	tar_add(a, "./", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "./etc/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "./etc/passwd", AE_IFREG, 0644, "root:x:0:0\n", 11, NULL);
	tar_add(a, "./big", AE_IFREG, 0600, big, sizeof(big), NULL);
	tar_add(a, "./empty", AE_IFREG, 0600, NULL, 0, NULL);
	tar_add(a, longname, AE_IFREG, 0644, "long\n", 5, NULL);
	tar_add(a, "./sym", AE_IFLNK, 0777, NULL, 0, longlink);
	add_full(a, "./hard", AE_IFREG, "./etc/passwd", 0, 0, 0, 0);
	add_full(a, "./dev/null", AE_IFCHR, NULL, 0, 0, 1, 3);
	add_full(a, "./dev/sda", AE_IFBLK, NULL, 0, 6, 8, 0);
	add_full(a, "./fifo", AE_IFIFO, NULL, 0, 0, 0, 0);
	add_full(a, "./bigids", AE_IFDIR, NULL, 100000, 4000000000LL, 0, 0);
	/* xattrs (pax only) */
	if (format == ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE) {
		static const unsigned char cap[20] = {1, 0, 0, 2, 0x20};

		e = archive_entry_new();
		archive_entry_set_pathname(e, "bin/ping");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 04755);
		archive_entry_set_size(e, 4);
		archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof(cap));
		archive_entry_xattr_add_entry(e, "user.comment", "hello", 5);
		archive_entry_xattr_add_entry(e, "trusted.overlay.x", "y", 1);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		archive_write_data(a, "ping", 4);
		archive_entry_free(e);
	}
	tar_close(a);
}

static void check_rich(struct walked *w, bool pax)
{
	size_t i;

	assert_int_equal(w->flags[find(w, ".")] & IMAGE_EF_ROOT, IMAGE_EF_ROOT);
	i = find(w, "etc/passwd");
	assert_int_equal(w->type[i], IMAGE_ENTRY_REG);
	assert_int_equal(w->size[i], 11);
	assert_int_equal(w->data[i].len, 11);
	assert_memory_equal(w->data[i].p, "root:x:0:0\n", 11);
	assert_true(w->flags[i] & IMAGE_EF_DATA);
	assert_int_equal(w->nsec[i], pax ? 123456789 : 0);
	i = find(w, "big");
	assert_int_equal(w->data[i].len, 70000);
	assert_int_equal(w->data[i].p[69999], (unsigned char)(69999 * 7));
	assert_false(w->flags[find(w, "empty")] & IMAGE_EF_DATA);
	i = find(w, "sym");
	assert_int_equal(w->type[i], IMAGE_ENTRY_SYMLINK);
	assert_int_equal(strlen(w->link[i]), 300);
	i = find(w, "hard");
	assert_int_equal(w->type[i], IMAGE_ENTRY_HARDLINK);
	assert_string_equal(w->link[i], "etc/passwd");
	i = find(w, "dev/null");
	assert_int_equal(w->type[i], IMAGE_ENTRY_CHR);
	assert_int_equal(w->maj[i], 1);
	assert_int_equal(w->min[i], 3);
	i = find(w, "dev/sda");
	assert_int_equal(w->type[i], IMAGE_ENTRY_BLK);
	assert_int_equal(w->maj[i], 8);
	assert_int_equal(w->gid[i], 6);
	assert_int_equal(w->type[find(w, "fifo")], IMAGE_ENTRY_FIFO);
	i = find(w, "bigids");
	assert_int_equal(w->uid[i], 100000);
	assert_int_equal(w->gid[i], 4000000000ULL);
	assert_int_equal(w->nsec[i], pax ? 987654321 : 0);
	find(
	    w,
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn/file-with-a-long-name");
	if (pax) {
		i = find(w, "bin/ping");
		assert_int_equal(w->mode[i], 04755);
		assert_non_null(strstr(w->xnames[i], "security.capability;"));
		assert_non_null(strstr(w->xnames[i], "user.comment;"));
		assert_non_null(strstr(w->xnames[i], "trusted.overlay.x;"));
	}
}

static void test_pax_rich(void **state)
{
	struct mbuf tar = {0};
	struct walked w;

	build_rich(&tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	check_rich(&w, true);
	assert_int_equal(w.tar_size, tar.len);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

static void test_gnu_rich(void **state)
{
	struct mbuf tar = {0};
	struct walked w;

	build_rich(&tar, ARCHIVE_FORMAT_TAR_GNUTAR);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	check_rich(&w, false);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

/* Short reads of every size and unread data must not change anything. */
static void test_short_reads_and_skipped_data(void **state)
{
	struct image_tarwalk_opts o = {
	    .comp = IMAGE_COMP_NONE, .name = "t", .expect_blob_size = -1};
	struct mbuf tar = {0};
	struct walked w, w2;

	build_rich(&tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	assert_int_equal(walk_opts(&tar, &o, 1, true, &w), 0);
	assert_rebuild(&w, &tar);
	assert_int_equal(walk_opts(&tar, &o, 511, false, &w2), 0);
	assert_true(image_digest_equal(&w.diff_id, &w2.diff_id));
	assert_int_equal(image_skeleton_bytes(w.sk), image_skeleton_bytes(w2.sk));
	walked_free(&w);
	walked_free(&w2);
	free(tar.p);
}

static void test_sparse(void **state)
{
	struct archive *a;
	struct archive_entry *e;
	struct mbuf tar = {0};
	struct walked w;
	char blk[4096];
	size_t i;

	memset(blk, 'S', sizeof(blk));
	a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	tar_add(a, "before", AE_IFREG, 0644, "b", 1, NULL);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 1 << 20);
	archive_entry_sparse_add_entry(e, 0, 4096);
	archive_entry_sparse_add_entry(e, 512 * 1024, 4096);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	/* libarchive's pax writer takes the logical content and skips the holes. */
	for (size_t off = 0; off < (1 << 20); off += sizeof(blk)) {
		static const char zero[4096];

		archive_write_data(a, off == 0 || off == 512 * 1024 ? blk : zero, sizeof(blk));
	}
	archive_entry_free(e);
	tar_add(a, "after", AE_IFREG, 0644, "a", 1, NULL);
	tar_close(a);

	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	i = find(&w, "sparse");
	assert_true(w.flags[i] & IMAGE_EF_SPARSE);
	assert_false(w.flags[i] & IMAGE_EF_DATA);
	assert_int_equal(w.size[i], 1 << 20);
	assert_int_equal(w.data[i].len, 1 << 20);
	assert_int_equal(w.data[i].p[0], 'S');
	assert_int_equal(w.data[i].p[4096], 0);
	assert_int_equal(w.data[i].p[512 * 1024 + 10], 'S');
	assert_true(w.flags[find(&w, "after")] & IMAGE_EF_DATA);
	/* Sparse data stays in the skeleton: two holes only. */
	assert_int_equal(image_skeleton_nholes(w.sk), 2);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

static void test_acl(void **state)
{
	struct archive *a;
	struct archive_entry *e;
	struct mbuf tar = {0};
	struct walked w;
	const unsigned char *v;
	size_t i;

	a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "acl");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_size(e, 0);
	archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 6, ARCHIVE_ENTRY_ACL_USER_OBJ,
				    -1, NULL);
	archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 4, ARCHIVE_ENTRY_ACL_USER,
				    1234, "bob");
	archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 4,
				    ARCHIVE_ENTRY_ACL_GROUP_OBJ, -1, NULL);
	archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 4, ARCHIVE_ENTRY_ACL_MASK, -1,
				    NULL);
	archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, 0, ARCHIVE_ENTRY_ACL_OTHER,
				    -1, NULL);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	tar_close(a);

	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	i = find(&w, "acl");
	assert_string_equal(w.xnames[i], "system.posix_acl_access;");
	/* version 2, then USER_OBJ, USER 1234, GROUP_OBJ, MASK, OTHER */
	v = w.xval[i].p;
	assert_int_equal(w.xval[i].len, 4 + 5 * 8);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[4], 0x01);
	assert_int_equal(v[6], 6);
	assert_int_equal(v[12], 0x02);
	assert_int_equal(v[16] | v[17] << 8, 1234);
	assert_int_equal(v[20], 0x04);
	assert_int_equal(v[28], 0x10);
	assert_int_equal(v[36], 0x20);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

static void build_small(struct mbuf *tar)
{
	struct archive *a = tar_new(tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

	tar_add(a, "a", AE_IFREG, 0644, "hello", 5, NULL);
	tar_add(a, "d/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "d/b", AE_IFREG, 0644, "world", 5, NULL);
	tar_close(a);
}

static void test_gzip_zstd(void **state)
{
	struct mbuf tar = {0}, gz = {0}, zs = {0};
	struct image_digest want_diff, want_blob;
	struct walked w;

	build_small(&tar);
	gzip_buf(&tar, &gz);
	zstd_buf(&tar, &zs);
	image_sha256_buf(tar.p, tar.len, &want_diff);

	struct image_tarwalk_opts o = {.comp = IMAGE_COMP_GZIP,
				       .name = "gz",
				       .expect_diff_id = &want_diff,
				       .expect_blob_digest = &want_blob,
				       .expect_blob_size = (int64_t)gz.len};

	image_sha256_buf(gz.p, gz.len, &want_blob);
	assert_int_equal(walk_opts(&gz, &o, 0, true, &w), 0);
	assert_int_equal(w.n, 3);
	assert_true(image_digest_equal(&w.blob, &want_blob));
	assert_rebuild(&w, &tar);
	walked_free(&w);

	o.comp = IMAGE_COMP_ZSTD;
	o.expect_blob_size = (int64_t)zs.len;
	image_sha256_buf(zs.p, zs.len, &want_blob);
	assert_int_equal(walk_opts(&zs, &o, 7, true, &w), 0);
	assert_rebuild(&w, &tar);
	walked_free(&w);

	/* docker-archive and rootfs tarballs: by magic */
	assert_int_equal(walk(&gz, IMAGE_COMP_AUTO, &w), 0);
	assert_true(image_digest_equal(&w.diff_id, &want_diff));
	walked_free(&w);
	assert_int_equal(walk(&zs, IMAGE_COMP_AUTO, &w), 0);
	assert_true(image_digest_equal(&w.diff_id, &want_diff));
	walked_free(&w);
	assert_int_equal(walk(&tar, IMAGE_COMP_AUTO, &w), 0);
	walked_free(&w);
	free(tar.p);
	free(gz.p);
	free(zs.p);
}

static void test_media_type_vs_magic(void **state)
{
	struct mbuf tar = {0}, gz = {0};
	struct walked w;

	build_small(&tar);
	gzip_buf(&tar, &gz);
	assert_int_equal(walk(&tar, IMAGE_COMP_GZIP, &w), -EBADMSG);
	assert_non_null(strstr(last_log, "media type says gzip but the data is tar"));
	assert_int_equal(walk(&gz, IMAGE_COMP_NONE, &w), -EBADMSG);
	assert_int_equal(walk(&gz, IMAGE_COMP_ZSTD, &w), -EBADMSG);
	free(tar.p);
	free(gz.p);
}

static void test_truncated_and_corrupt_gzip(void **state)
{
	struct mbuf tar = {0}, gz = {0};
	struct walked w;
	size_t full;

	build_small(&tar);
	gzip_buf(&tar, &gz);
	full = gz.len;
	gz.len = full / 2;
	assert_int_equal(walk(&gz, IMAGE_COMP_GZIP, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "gzip"));
	gz.len = full - 4; /* trailer cut: data complete, ISIZE missing */
	assert_int_equal(walk(&gz, IMAGE_COMP_GZIP, &w), -EBADMSG);
	walked_free(&w);
	gz.len = full;
	gz.p[full - 6] ^= 0xff; /* CRC */
	assert_int_equal(walk(&gz, IMAGE_COMP_GZIP, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "corrupt gzip"));
	gz.p[full - 6] ^= 0xff;
	mbuf_add(&gz, "garbage", 7);
	assert_int_equal(walk(&gz, IMAGE_COMP_GZIP, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "trailing garbage"));
	free(tar.p);
	free(gz.p);
}

static void test_wrong_digests(void **state)
{
	struct mbuf tar = {0};
	struct image_digest good, bad;
	struct walked w;
	struct image_tarwalk_opts o = {
	    .comp = IMAGE_COMP_NONE, .name = "sha256:blob", .expect_blob_size = -1};

	build_small(&tar);
	image_sha256_buf(tar.p, tar.len, &good);
	bad = good;
	bad.sha256[0] ^= 1;
	o.expect_blob_digest = &bad;
	assert_int_equal(walk_opts(&tar, &o, 0, true, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "digest mismatch"));
	assert_non_null(strstr(last_log, "sha256:blob"));
	o.expect_blob_digest = &good;
	o.expect_blob_size = (int64_t)tar.len - 1;
	assert_int_equal(walk_opts(&tar, &o, 0, true, &w), -EBADMSG);
	walked_free(&w);
	o.expect_blob_size = (int64_t)tar.len + 1;
	assert_int_equal(walk_opts(&tar, &o, 0, true, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "descriptor says"));
	o.expect_blob_size = -1;
	o.expect_diff_id = &bad;
	assert_int_equal(walk_opts(&tar, &o, 0, true, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "DiffID mismatch"));
	free(tar.p);
}

static void test_read_error(void **state)
{
	struct mbuf tar = {0};
	struct image_tarwalk *tw;
	const struct image_entry *e;
	struct image_tarwalk_opts o = {.name = "t", .expect_blob_size = -1};
	struct rd r;
	int rc;

	build_small(&tar);
	r = (struct rd){tar.p, tar.len, 0, 512, 1024};
	assert_int_equal(image_tarwalk_create(&o, mem_read, &r, &tw), 0);
	while ((rc = image_tarwalk_next(tw, &e)) == 1)
		;
	assert_int_equal(rc, -EIO);
	image_tarwalk_destroy(tw);
	free(tar.p);
}

/* A read callback that records its thread and whether it ran after the
 * walker was destroyed. */
struct trd {
	struct rd r;
	pthread_t caller;
	int calls, on_caller, after;
	bool destroyed;
};

static ssize_t thread_read(void *arg, void *buf, size_t len)
{
	struct trd *t = arg;

	__atomic_add_fetch(&t->calls, 1, __ATOMIC_SEQ_CST);
	if (pthread_equal(pthread_self(), t->caller))
		__atomic_add_fetch(&t->on_caller, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->destroyed, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&t->after, 1, __ATOMIC_SEQ_CST);
	return mem_read(&t->r, buf, len);
}

/*
 * The blob is read and decompressed on a thread of its own (ahead of the
 * walker), never on the caller's: a big gzip layer walked whole gives the
 * DiffID; a walker destroyed after its first entry, with the reader
 * blocked on a full ring, stops it; no read happens after destroy.
 */
static void test_reader_thread(void **state)
{
	struct mbuf tar = {0}, gz = {0};
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct image_digest want;
	struct image_tarwalk_opts o = {.comp = IMAGE_COMP_GZIP, .name = "big",
				       .expect_diff_id = &want, .expect_blob_size = -1};
	struct image_tarwalk *tw;
	const struct image_entry *e;
	struct trd t;
	uint8_t *data = malloc(1u << 20), buf[4096];
	int rc, n = 0;

	(void)state;
	assert_non_null(data);
	for (int f = 0; f < 24; f++) {
		char name[16];

		for (size_t i = 0; i < (1u << 20); i++)
			data[i] = (uint8_t)((i * 7 + (size_t)f) % 251 + (i >> 12));
		snprintf(name, sizeof(name), "f%02d", f);
		tar_add(a, name, AE_IFREG, 0644, data, 1u << 20, NULL);
	}
	tar_close(a);
	gzip_buf(&tar, &gz);
	image_sha256_buf(tar.p, tar.len, &want);

	memset(&t, 0, sizeof(t));
	t.r = (struct rd){gz.p, gz.len, 0, 0, 0};
	t.caller = pthread_self();
	assert_int_equal(image_tarwalk_create(&o, thread_read, &t, &tw), 0);
	while ((rc = image_tarwalk_next(tw, &e)) == 1) {
		while (image_tarwalk_read(tw, buf, sizeof(buf)) > 0)
			;
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 24);
	assert_true(t.calls > 2);
	assert_int_equal(t.on_caller, 0);
	image_tarwalk_destroy(tw);

	/* Stop early: one entry, then destroy while the reader is ahead. */
	memset(&t, 0, sizeof(t));
	t.r = (struct rd){gz.p, gz.len, 0, 0, 0};
	t.caller = pthread_self();
	assert_int_equal(image_tarwalk_create(&o, thread_read, &t, &tw), 0);
	assert_int_equal(image_tarwalk_next(tw, &e), 1);
	usleep(20000); /* let the reader fill its ring and wait */
	image_tarwalk_destroy(tw);
	__atomic_store_n(&t.destroyed, true, __ATOMIC_SEQ_CST);
	usleep(20000);
	assert_int_equal(t.after, 0);
	assert_int_equal(t.on_caller, 0);
	assert_true(t.r.pos < gz.len); /* it did not read the whole blob */

	/* Destroyed before any entry was asked for. */
	memset(&t, 0, sizeof(t));
	t.r = (struct rd){gz.p, gz.len, 0, 0, 0};
	t.caller = pthread_self();
	assert_int_equal(image_tarwalk_create(&o, thread_read, &t, &tw), 0);
	image_tarwalk_destroy(tw);
	free(data);
	free(tar.p);
	free(gz.p);
}

static int walk_one_bad(const char *name, unsigned type, const char *link)
{
	struct mbuf tar = {0};
	struct walked w;
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	int r;

	tar_add(a, "ok", AE_IFREG, 0644, "x", 1, NULL);
	if (type == 0)
		add_full(a, name, AE_IFREG, link, 0, 0, 0, 0);
	else
		tar_add(a, name, type, 0644, "y", 1, link);
	tar_close(a);
	r = walk(&tar, IMAGE_COMP_NONE, &w);
	walked_free(&w);
	free(tar.p);
	return r;
}

static void test_unsafe_names(void **state)
{
	assert_int_equal(walk_one_bad("../etc/passwd", AE_IFREG, NULL), -EBADMSG);
	assert_non_null(strstr(last_log, "\"../etc/passwd\""));
	assert_non_null(strstr(last_log, ".."));
	assert_int_equal(walk_one_bad("a/b/../../../x", AE_IFREG, NULL), -EBADMSG);
	assert_int_equal(walk_one_bad("a/..", AE_IFDIR, NULL), -EBADMSG);
	assert_int_equal(walk_one_bad("x", 0, "../outside"), -EBADMSG);
	assert_non_null(strstr(last_log, "hardlink target"));
	assert_int_equal(walk_one_bad("x", 0, "/"), -EBADMSG);
	assert_int_equal(walk_one_bad("./", AE_IFREG, NULL), -EBADMSG);

	assert_int_equal(walk_one_bad(".wh.", AE_IFREG, NULL), -EBADMSG);
	assert_int_equal(walk_one_bad("d/.wh...", AE_IFREG, NULL), -EBADMSG);
	assert_int_equal(walk_one_bad("s", AE_IFLNK, ""), -EBADMSG);
}

static void test_normalization(void **state)
{
	struct mbuf tar = {0};
	struct walked w;
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

	tar_add(a, "/etc/abs", AE_IFREG, 0644, "1", 1, NULL);
	tar_add(a, "./a/./b//c", AE_IFREG, 0644, "2", 1, NULL);
	tar_add(a, "//x/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "/", AE_IFDIR, 0755, NULL, 0, NULL);
	add_full(a, "h", AE_IFREG, "/etc//abs", 0, 0, 0, 0);
	/* symlink-then-file: recorded as names, never resolved */
	tar_add(a, "a", AE_IFLNK, 0777, NULL, 0, "/etc");
	tar_add(a, "a/passwd", AE_IFREG, 0644, "evil", 4, NULL);
	tar_add(a, "l", AE_IFLNK, 0777, NULL, 0, "../../../../etc/shadow");
	tar_close(a);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(w.n, 8);
	assert_string_equal(w.path[0], "etc/abs");
	assert_string_equal(w.path[1], "a/b/c");
	assert_string_equal(w.path[2], "x");
	assert_string_equal(w.path[3], ".");
	assert_true(w.flags[3] & IMAGE_EF_ROOT);
	assert_string_equal(w.link[4], "etc/abs");
	assert_int_equal(w.type[5], IMAGE_ENTRY_SYMLINK);
	assert_string_equal(w.link[5], "/etc");
	assert_string_equal(w.path[6], "a/passwd");
	assert_int_equal(w.type[6], IMAGE_ENTRY_REG);
	assert_string_equal(w.link[7], "../../../../etc/shadow");
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

static void test_whiteouts_and_duplicates(void **state)
{
	struct mbuf tar = {0};
	struct walked w;
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

	tar_add(a, ".wh.gone", AE_IFREG, 0, NULL, 0, NULL);
	tar_add(a, "d/.wh.x", AE_IFREG, 0, NULL, 0, NULL);
	tar_add(a, "d/.wh..wh..opq", AE_IFREG, 0, NULL, 0, NULL);
	tar_add(a, ".wh..wh..opq", AE_IFREG, 0, NULL, 0, NULL);
	tar_add(a, ".wh..wh.plnk", AE_IFDIR, 0700, NULL, 0, NULL);
	tar_add(a, "dup", AE_IFREG, 0644, "first", 5, NULL);
	tar_add(a, "dup", AE_IFREG, 0644, "second", 6, NULL);
	tar_close(a);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(w.n, 7);
	assert_string_equal(w.path[0], "gone");
	assert_int_equal(w.flags[0], IMAGE_EF_WHITEOUT);
	assert_string_equal(w.path[1], "d/x");
	assert_int_equal(w.flags[1], IMAGE_EF_WHITEOUT);
	assert_string_equal(w.path[2], "d");
	assert_int_equal(w.flags[2], IMAGE_EF_OPAQUE);
	assert_string_equal(w.path[3], ".");
	assert_int_equal(w.flags[3], IMAGE_EF_OPAQUE);
	assert_int_equal(w.flags[4], IMAGE_EF_AUFS_META);
	/* Duplicates: both reported in order; the later one wins when applied. */
	assert_string_equal(w.path[5], "dup");
	assert_string_equal(w.path[6], "dup");
	assert_memory_equal(w.data[6].p, "second", 6);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
}

static void test_huge_headers(void **state)
{
	char *name = malloc(100001), *val = malloc(100000);
	struct mbuf tar = {0};
	struct walked w;
	struct archive *a;
	struct archive_entry *e;

	memset(name, 'a', 100000);
	name[100000] = 0;
	assert_int_equal(walk_one_bad(name, AE_IFREG, NULL), -EBADMSG);
	assert_non_null(strstr(last_log, "too long"));
	memcpy(name, "dir/", 4);
	name[4 + 300] = 0; /* one component longer than NAME_MAX */
	assert_int_equal(walk_one_bad(name, AE_IFREG, NULL), -EBADMSG);

	a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "xattr-bomb");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, 0);
	memset(val, 'v', 100000);
	archive_entry_xattr_add_entry(e, "user.big", val, 100000);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	tar_close(a);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "\"xattr-bomb\""));
	free(tar.p);
	free(name);
	free(val);
}

static void test_empty_and_trailing(void **state)
{
	struct mbuf tar = {0}, gz = {0};
	struct image_digest d;
	struct walked w;
	unsigned char zeros[1024] = {0};

	/* A zero-length blob is a layer without entries. */
	assert_int_equal(walk(&tar, IMAGE_COMP_GZIP, &w), 0);
	assert_int_equal(w.n, 0);
	image_sha256_buf("", 0, &d);
	assert_true(image_digest_equal(&d, &w.diff_id));
	walked_free(&w);
	/* Only the end-of-archive blocks. */
	mbuf_add(&tar, zeros, sizeof(zeros));
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(w.n, 0);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	gzip_buf(&tar, &gz);
	assert_int_equal(walk(&gz, IMAGE_COMP_GZIP, &w), 0);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
	memset(&tar, 0, sizeof(tar));
	/* Bytes after the end blocks are part of the DiffID and reproduced. */
	build_small(&tar);
	mbuf_add(&tar, "trailing junk after the archive", 31);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(w.n, 3);
	assert_rebuild(&w, &tar);
	walked_free(&w);
	free(tar.p);
	free(gz.p);
}

static void test_not_tar_and_bad_checksum(void **state)
{
	struct mbuf tar = {0};
	struct walked w;
	char junk[2048];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 31 + 7);
	mbuf_add(&tar, junk, sizeof(junk));
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), -EBADMSG);
	walked_free(&w);
	assert_non_null(strstr(last_log, "not a tar"));
	free(tar.p);
	memset(&tar, 0, sizeof(tar));
	build_small(&tar);
	/* Corrupt the second file's header (after "a": pax hdr+hdr+data = 4 blocks). */
	tar.p[1536 + 1024 + 100] ^= 0x55;
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), -EBADMSG);
	walked_free(&w);
	free(tar.p);
}

static void test_skeleton_parse_rejects(void **state)
{
	struct mbuf tar = {0};
	struct walked w;
	struct image_skeleton *sk;
	unsigned char *ser;
	size_t len;

	build_small(&tar);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(image_skeleton_serialize(w.sk, (void **)&ser, &len), 0);
	assert_int_equal(image_skeleton_parse(ser, len - 1, &sk), -EBADMSG);
	assert_int_equal(image_skeleton_parse(ser, 10, &sk), -EBADMSG);
	ser[8] = 0xff; /* nholes */
	assert_int_equal(image_skeleton_parse(ser, len, &sk), -EBADMSG);
	ser[8] = 2;
	ser[24] = 0xff; /* hole offset past the bytes */
	ser[30] = 0xff;
	assert_int_equal(image_skeleton_parse(ser, len, &sk), -EBADMSG);
	free(ser);
	walked_free(&w);
	free(tar.p);
}

static int short_data_cb(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *pa)
{
	return put(pa, "x", 1);
}

static int long_data_cb(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *pa)
{
	char buf[64] = {0};

	return put(pa, buf, (size_t)size + 1);
}

static void test_rebuild_wrong_data(void **state)
{
	struct mbuf tar = {0}, out = {0};
	struct walked w;

	build_small(&tar);
	assert_int_equal(walk(&tar, IMAGE_COMP_NONE, &w), 0);
	assert_int_equal(image_tar_rebuild(w.sk, short_data_cb, NULL, out_cb, &out), -EBADMSG);
	assert_int_equal(image_tar_rebuild(w.sk, long_data_cb, NULL, out_cb, &out), -EBADMSG);
	walked_free(&w);
	free(tar.p);
	free(out.p);
}

static void test_digest_strings(void **state)
{
	struct image_digest d;
	char buf[IMAGE_DIGEST_STRLEN];
	const char *good =
	    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

	assert_int_equal(image_digest_parse(good, &d), 0);
	assert_string_equal(image_digest_format(&d, buf), good);
	assert_int_equal(
	    image_digest_parse(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &d),
	    -EINVAL);
	assert_int_equal(image_digest_parse("sha256:e3b0", &d), -EINVAL);
	assert_int_equal(
	    image_digest_parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			       &d),
	    -EINVAL);
	assert_int_equal(image_digest_parse("sha512:abc", &d), -ENOTSUP);
	assert_int_equal(image_digest_parse("sha256:", &d), -EINVAL);
	assert_int_equal(image_digest_parse(":abc", &d), -EINVAL);
	assert_int_equal(image_digest_parse("SHA256:abc", &d), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_digest_strings),
	    cmocka_unit_test(test_pax_rich),
	    cmocka_unit_test(test_gnu_rich),
	    cmocka_unit_test(test_short_reads_and_skipped_data),
	    cmocka_unit_test(test_sparse),
	    cmocka_unit_test(test_acl),
	    cmocka_unit_test(test_gzip_zstd),
	    cmocka_unit_test(test_media_type_vs_magic),
	    cmocka_unit_test(test_truncated_and_corrupt_gzip),
	    cmocka_unit_test(test_wrong_digests),
	    cmocka_unit_test(test_read_error),
	    cmocka_unit_test(test_reader_thread),
	    cmocka_unit_test(test_unsafe_names),
	    cmocka_unit_test(test_normalization),
	    cmocka_unit_test(test_whiteouts_and_duplicates),
	    cmocka_unit_test(test_huge_headers),
	    cmocka_unit_test(test_empty_and_trailing),
	    cmocka_unit_test(test_not_tar_and_bad_checksum),
	    cmocka_unit_test(test_skeleton_parse_rejects),
	    cmocka_unit_test(test_rebuild_wrong_data),
	};

	strata_log_init("test_tarwalk", STRATA_LOG_ERR);
	strata_log_set_sink(capture_sink, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
