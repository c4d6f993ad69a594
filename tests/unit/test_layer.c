// SPDX-License-Identifier: GPL-2.0-or-later
/* Layer indexes: build from in-memory tars, read back through the read API,
 * rebuild the tar byte for byte; hostile entries; store faults on open. */
#include "tests/unit/store-test-lib.h"

#include <sys/stat.h>

#include "strata/chunkcache.h"
#include "strata/layer.h"
#include "tests/unit/tarhelp.h"

static int fail_get_piece = 0; /* -errno for the next store_get of a META record */

int __real_store_get(struct store *s, const struct store_key *key, void *buf, size_t bufsize,
		     size_t *len, struct store_rec_info *info);
int __wrap_store_get(struct store *s, const struct store_key *key, void *buf, size_t bufsize,
		     size_t *len, struct store_rec_info *info)
{
	if (fail_get_piece) {
		int r = fail_get_piece;

		fail_get_piece = 0;
		return r;
	}
	return __real_store_get(s, key, buf, bufsize, len, info);
}

static int fail_get_batch = 0; /* -errno for every store_get_batch while set */

int __real_store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n);
int __wrap_store_get_batch(struct store *s, struct store_get_req *reqs, unsigned n)
{
	if (fail_get_batch) {
		for (unsigned i = 0; i < n; i++)
			reqs[i].res = fail_get_batch;
		return fail_get_batch;
	}
	return __real_store_get_batch(s, reqs, n);
}

static struct store *st;
static struct chunkstore *cs;
static const char *spath;

static int setup(void **state)
{
	spath = tpath("/tmp", "layer");
	assert_int_equal(create_store(spath, 256 << 20, 1 << 20), 0);
	st = open_store(spath, false, 0);
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	return 0;
}

static int teardown(void **state)
{
	chunkstore_destroy(cs);
	store_close(st);
	unlink(spath);
	return 0;
}

struct rd {
	const unsigned char *p;
	size_t len, pos;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct rd *r = arg;
	size_t n = MIN(len, r->len - r->pos);

	memcpy(buf, r->p + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static ssize_t tw_read(void *arg, void *buf, size_t len)
{
	return image_tarwalk_read(arg, buf, len);
}

/* Import tar into the store; returns 0 or the first error, and the DiffID. */
static int import_tar(const struct mbuf *tar, struct image_digest *diff,
		      struct layer_build_stats *bs)
{
	struct image_tarwalk_opts o = { .comp = IMAGE_COMP_NONE, .name = "t",
					.expect_blob_size = -1 };
	struct rd r = { tar->p, tar->len, 0 };
	struct image_tarwalk *tw;
	struct layer_builder *b;
	struct image_skeleton *sk = NULL;
	const struct image_entry *e;
	struct image_digest blob;
	uint64_t bsz, tsz;
	int ret;

	assert_int_equal(image_tarwalk_create(&o, mem_read, &r, &tw), 0);
	assert_int_equal(layer_builder_create(cs, NULL, &b), 0);
	while ((ret = image_tarwalk_next(tw, &e)) == 1) {
		ret = layer_builder_add(b, e, tw_read, tw);
		if (ret)
			break;
	}
	if (ret == 0)
		ret = image_tarwalk_result(tw, diff, &blob, &bsz, &tsz, &sk);
	if (ret == 0)
		ret = layer_builder_commit(b, diff, tsz, sk, bs);
	image_skeleton_destroy(sk);
	layer_builder_destroy(b);
	image_tarwalk_destroy(tw);
	return ret;
}

static void add_entry(struct archive *a, const char *path, unsigned type, unsigned mode,
		      int64_t uid, const void *data, size_t size, const char *link,
		      const char *hardlink)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, uid + 1);
	archive_entry_set_size(e, type == AE_IFREG && !hardlink ? (la_int64_t)size : 0);
	archive_entry_set_mtime(e, 1700000000, 123456789);
	archive_entry_set_atime(e, 1700000001, 5);
	if (link)
		archive_entry_set_symlink(e, link);
	if (hardlink)
		archive_entry_set_hardlink(e, hardlink);
	if (type == AE_IFCHR) {
		archive_entry_set_rdevmajor(e, 1);
		archive_entry_set_rdevminor(e, 3);
	}
	if (!strcmp(path, "etc/caps"))
		archive_entry_xattr_add_entry(e, "security.capability", "\x01\x02\x03", 3);
	if (!strcmp(path, "etc/caps"))
		archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (type == AE_IFREG && size && !hardlink)
		assert_int_equal(archive_write_data(a, data, size), (la_ssize_t)size);
	archive_entry_free(e);
}

static uint8_t *big;
#define BIG_SIZE (3u << 20)

static void build_rich(struct mbuf *tar)
{
	struct archive *a = tar_new(tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);

	big = malloc(BIG_SIZE);
	fill(big, BIG_SIZE, 42);
	add_entry(a, "./", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
	add_entry(a, "etc/", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
	add_entry(a, "etc/passwd", AE_IFREG, 0644, 0, "root:x:0:0\n", 11, NULL, NULL);
	add_entry(a, "etc/caps", AE_IFREG, 04755, 100000, "x", 1, NULL, NULL);
	add_entry(a, "big", AE_IFREG, 0600, 70000, big, BIG_SIZE, NULL, NULL);
	add_entry(a, "hard", AE_IFREG, 0600, 70000, NULL, 0, NULL, "big");
	add_entry(a, "empty", AE_IFREG, 0600, 0, NULL, 0, NULL, NULL);
	add_entry(a, "link", AE_IFLNK, 0777, 0, NULL, 0, "../../etc/shadow", NULL);
	add_entry(a, "abs", AE_IFLNK, 0777, 0, NULL, 0, "/etc/passwd", NULL);
	add_entry(a, "dev/null", AE_IFCHR, 0666, 0, NULL, 0, NULL, NULL); /* implicit dev/ */
	add_entry(a, "fifo", AE_IFIFO, 0644, 0, NULL, 0, NULL, NULL);
	add_entry(a, "gone/.wh.old", AE_IFREG, 0, 0, NULL, 0, NULL, NULL);
	add_entry(a, "opq/.wh..wh..opq", AE_IFREG, 0, 0, NULL, 0, NULL, NULL);
	add_entry(a, "opq/", AE_IFDIR, 0700, 0, NULL, 0, NULL, NULL);
	add_entry(a, "dup", AE_IFREG, 0644, 0, "first", 5, NULL, NULL);
	add_entry(a, "dup", AE_IFREG, 0600, 0, "second!", 7, NULL, NULL);
	add_entry(a, "etc/", AE_IFDIR, 0750, 0, NULL, 0, NULL, NULL); /* again: keeps children */
	tar_close(a);
}

struct collect {
	char names[64][64];
	uint64_t inos[64];
	int n;
};

static int collect_cb(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode,
		      uint64_t next)
{
	struct collect *c = arg;

	assert_true(len < 64);
	memcpy(c->names[c->n], name, len);
	c->names[c->n][len] = 0;
	c->inos[c->n++] = ino;
	return 0;
}

static uint64_t lookup_path(struct layer *l, const char *path)
{
	uint64_t ino = LAYER_ROOT_INO;
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save))
		assert_int_equal(layer_lookup(l, ino, c, strlen(c), &ino), 0);
	return ino;
}

struct hashout {
	struct image_sha256 *h;
	struct mbuf out;
};

static int hash_put(void *arg, const void *buf, size_t len)
{
	struct hashout *o = arg;

	image_sha256_update(o->h, buf, len);
	mbuf_add(&o->out, buf, len);
	return 0;
}

static void test_rich_layer(void **state)
{
	struct mbuf tar = { 0 };
	struct image_digest diff, got;
	struct layer_build_stats bs;
	struct layer_attr a;
	struct layer_info li;
	struct collect c = { 0 };
	struct layer *l;
	uint64_t ino, ino2;
	char buf[256];
	size_t len;
	uint8_t *rb;
	struct hashout ho = { 0 };

	build_rich(&tar);
	assert_int_equal(import_tar(&tar, &diff, &bs), 0);
	assert_true(bs.new_chunks > 10); /* 3 MiB of random data: many chunks */
	assert_true(layer_exists(st, &diff));
	assert_int_equal(layer_open(cs, &diff, &l), 0);
	layer_get_info(l, &li);
	assert_int_equal(li.tar_size, tar.len);
	assert_true(li.skeleton_bytes > 0);

	/* Root: sorted entries, no "." or "..". */
	assert_int_equal(layer_readdir(l, LAYER_ROOT_INO, 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 11);
	assert_string_equal(c.names[0], "abs");
	assert_string_equal(c.names[1], "big");
	assert_string_equal(c.names[10], "opq");
	for (int i = 1; i < c.n; i++)
		assert_true(strcmp(c.names[i - 1], c.names[i]) < 0);
	/* Readdir resumes at a cookie. */
	c.n = 0;
	assert_int_equal(layer_readdir(l, LAYER_ROOT_INO, 7, collect_cb, &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.names[0], "gone");

	/* Attributes: big uid, nanoseconds, setuid, xattrs. */
	ino = lookup_path(l, "etc/caps");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 04755);
	assert_int_equal(a.uid, 100000);
	assert_int_equal(a.gid, 100001);
	assert_int_equal(a.mtime.tv_sec, 1700000000);
	assert_int_equal(a.mtime.tv_nsec, 123456789);
	assert_int_equal(a.atime.tv_sec, 1700000001);
	assert_int_equal(layer_listxattr(l, ino, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof("security.capability") + sizeof("user.note"));
	assert_string_equal(buf, "security.capability");
	assert_int_equal(layer_listxattr(l, ino, buf, 3, &len), -ERANGE);
	assert_int_equal(layer_getxattr(l, ino, "user.note", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(layer_getxattr(l, ino, "user.none", buf, sizeof(buf), &len), -ENODATA);
	assert_int_equal(layer_getxattr(l, ino, "user.note", buf, 2, &len), -ERANGE);
	assert_int_equal(layer_getxattr(l, ino, "user.note", NULL, 0, &len), 0);
	assert_int_equal(len, 5);
	/* "etc/" declared twice: the second's mode, children kept. */
	ino = lookup_path(l, "etc");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0750);
	assert_int_equal(layer_lookup(l, ino, "passwd", 6, &ino2), 0);
	assert_int_equal(layer_read(l, ino2, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "root:x:0:0\n", 11);
	assert_int_equal(layer_read(l, ino2, buf, sizeof(buf), 11), 0);
	assert_int_equal(layer_lookup(l, ino2, "x", 1, &ino), -ENOTDIR);
	assert_int_equal(layer_lookup(l, LAYER_ROOT_INO, "nope", 4, &ino), -ENOENT);

	/* Hardlink: one inode, two names, nlink 2. */
	ino = lookup_path(l, "big");
	ino2 = lookup_path(l, "hard");
	assert_int_equal(ino, ino2);
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.size, BIG_SIZE);
	rb = malloc(BIG_SIZE);
	/* Whole file, then odd ranges across chunk boundaries. */
	assert_int_equal(layer_read(l, ino, rb, BIG_SIZE, 0), BIG_SIZE);
	assert_memory_equal(rb, big, BIG_SIZE);
	for (uint64_t off = 1; off < BIG_SIZE; off += 300007) {
		ssize_t n = layer_read(l, ino, rb, 200001, off);

		assert_int_equal(n, MIN(200001, BIG_SIZE - off));
		assert_memory_equal(rb, big + off, (size_t)n);
	}
	assert_int_equal(layer_read(l, ino, rb, 10, BIG_SIZE + 5), 0);
	free(rb);

	/* Symlinks kept verbatim, never resolved. */
	ino = lookup_path(l, "link");
	assert_int_equal(layer_readlink(l, ino, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, strlen("../../etc/shadow"));
	assert_memory_equal(buf, "../../etc/shadow", len);
	assert_int_equal(layer_readlink(l, ino, buf, 3, &len), -ERANGE);
	assert_int_equal(layer_read(l, ino, buf, 3, 0), -EINVAL);
	ino = lookup_path(l, "abs");
	assert_int_equal(layer_readlink(l, ino, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "/etc/passwd", len);
	assert_int_equal(layer_readlink(l, LAYER_ROOT_INO, buf, sizeof(buf), &len), -EINVAL);

	/* Device in an implicit directory. */
	ino = lookup_path(l, "dev");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_true(a.flags & LAYER_F_IMPLICIT);
	ino = lookup_path(l, "dev/null");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_int_equal(a.mode, S_IFCHR | 0666);
	assert_int_equal(a.rdev_major, 1);
	assert_int_equal(a.rdev_minor, 3);
	ino = lookup_path(l, "fifo");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_true(S_ISFIFO(a.mode));

	/* Whiteout and opaque markers kept as such. */
	ino = lookup_path(l, "gone/old");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_true(a.flags & LAYER_F_WHITEOUT);
	assert_int_equal(a.mode, S_IFCHR);
	assert_int_equal(layer_readdir(l, ino, 0, collect_cb, &c), -ENOTDIR);
	ino = lookup_path(l, "opq");
	assert_int_equal(layer_getattr(l, ino, &a), 0);
	assert_true(a.flags & LAYER_F_OPAQUE);
	assert_false(a.flags & LAYER_F_IMPLICIT);
	assert_int_equal(a.mode, S_IFDIR | 0700);

	/* Duplicates: the last entry wins. */
	ino = lookup_path(l, "dup");
	assert_int_equal(layer_read(l, ino, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "second!", 7);
	assert_int_equal(layer_getattr(l, 999999, &a), -ENOENT);
	assert_int_equal(layer_getattr(l, 0, &a), -ENOENT);

	/* The tar comes back byte for byte (both duplicates' data included). */
	assert_int_equal(image_sha256_create(&ho.h), 0);
	assert_int_equal(layer_rebuild_tar(l, hash_put, &ho), 0);
	image_sha256_final(ho.h, &got);
	image_sha256_destroy(ho.h);
	assert_true(image_digest_equal(&got, &diff));
	assert_int_equal(ho.out.len, tar.len);
	assert_memory_equal(ho.out.p, tar.p, tar.len);
	free(ho.out.p);
	layer_close(l);

	/* Importing again writes no chunk. */
	{
		struct store_stats s0, s1;

		store_get_stats(st, &s0);
		assert_int_equal(import_tar(&tar, &diff, &bs), 0);
		assert_int_equal(bs.new_chunks, 0);
		store_get_stats(st, &s1);
		assert_int_equal(s0.records, s1.records);
	}
	free(tar.p);
	free(big);
}

static void test_open_cost_and_faults(void **state)
{
	struct mbuf tar = { 0 };
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct image_digest diff, none;
	struct layer_info li;
	struct layer *l;
	uint64_t ino;
	char name[64];
	size_t len;

	/* 20,000 entries: an index of several pieces. */
	add_entry(a, "d/", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "d/file-%05d", i);
		add_entry(a, name, AE_IFREG, 0644, i, name, strlen(name), NULL, NULL);
	}
	tar_close(a);
	assert_int_equal(import_tar(&tar, &diff, NULL), 0);
	assert_int_equal(layer_open(cs, &diff, &l), 0);
	layer_get_info(l, &li);
	assert_true(li.npieces > 4);
	assert_int_equal(li.ninodes, 20002);
	ino = lookup_path(l, "d/file-12345");
	assert_int_equal(layer_read(l, ino, name, sizeof(name), 0), 12);
	assert_memory_equal(name, "d/file-12345", 12);
	layer_close(l);

	/* A piece that cannot be read is that call's error, not a crash. */
	assert_int_equal(layer_open(cs, &diff, &l), 0);
	fail_get_piece = -EIO;
	assert_int_equal(layer_lookup(l, LAYER_ROOT_INO, "d", 1, &ino), -EIO);
	assert_int_equal(layer_lookup(l, LAYER_ROOT_INO, "d", 1, &ino), 0);
	layer_close(l);
	fail_get_piece = -EIO;
	assert_int_equal(layer_open(cs, &diff, &l), -EIO);

	/* A missing piece (torn import) is reported as corruption. */
	{
		struct store_key k;

		layer_piece_key(&diff, 3, &k);
		assert_int_equal(store_delete(st, &k), 0);
		assert_int_equal(layer_open(cs, &diff, &l), 0);
		len = 0;
		for (uint64_t i = 1; i <= 20002 && !len; i++) {
			struct layer_attr at;

			if (layer_getattr(l, i, &at) == -EBADMSG)
				len = 1;
		}
		layer_close(l);
		assert_int_equal(len, 1);
	}
	assert_int_equal(layer_delete(st, &diff), 0);
	assert_false(layer_exists(st, &diff));
	memset(&none, 1, sizeof(none));
	assert_int_equal(layer_open(cs, &none, &l), -ENOENT);
	free(tar.p);
}

static void test_hostile(void **state)
{
	struct image_digest diff;
	struct layer *l;
	uint64_t ino;

	/* Symlink then a file through it: refused, nothing written as a layer. */
	{
		struct mbuf tar = { 0 };
		struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

		add_entry(a, "esc", AE_IFLNK, 0777, 0, NULL, 0, "/etc", NULL);
		add_entry(a, "esc/passwd", AE_IFREG, 0644, 0, "owned", 5, NULL, NULL);
		tar_close(a);
		strata_log_set_sink(capture_sink, NULL);
		assert_int_equal(import_tar(&tar, &diff, NULL), -EBADMSG);
		strata_log_set_sink(NULL, NULL);
		assert_non_null(strstr(last_log, "esc/passwd"));
		assert_non_null(strstr(last_log, "symlink"));
		free(tar.p);
	}
	/* Hardlink to a name not in the layer, and to a directory. */
	{
		struct mbuf tar = { 0 };
		struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

		add_entry(a, "h", AE_IFREG, 0644, 0, NULL, 0, NULL, "missing");
		tar_close(a);
		strata_log_set_sink(capture_sink, NULL);
		assert_int_equal(import_tar(&tar, &diff, NULL), -EBADMSG);
		strata_log_set_sink(NULL, NULL);
		assert_non_null(strstr(last_log, "not in this layer"));
		free(tar.p);
	}
	{
		struct mbuf tar = { 0 };
		struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

		add_entry(a, "d/", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
		add_entry(a, "h", AE_IFREG, 0644, 0, NULL, 0, NULL, "d");
		tar_close(a);
		strata_log_set_sink(capture_sink, NULL);
		assert_int_equal(import_tar(&tar, &diff, NULL), -EBADMSG);
		strata_log_set_sink(NULL, NULL);
		assert_non_null(strstr(last_log, "directory"));
		free(tar.p);
	}
	/* A file replaced by a directory and back: last wins, names stay names. */
	{
		struct mbuf tar = { 0 };
		struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
		struct layer_attr at;

		add_entry(a, "x", AE_IFREG, 0644, 0, "file", 4, NULL, NULL);
		add_entry(a, "x/", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
		add_entry(a, "x/in", AE_IFREG, 0644, 0, "in", 2, NULL, NULL);
		add_entry(a, "y/", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
		add_entry(a, "y/child", AE_IFREG, 0644, 0, "c", 1, NULL, NULL);
		add_entry(a, "y", AE_IFREG, 0600, 0, "now a file", 10, NULL, NULL);
		tar_close(a);
		assert_int_equal(import_tar(&tar, &diff, NULL), 0);
		assert_int_equal(layer_open(cs, &diff, &l), 0);
		ino = lookup_path(l, "x/in");
		ino = lookup_path(l, "y");
		assert_int_equal(layer_getattr(l, ino, &at), 0);
		assert_true(S_ISREG(at.mode));
		assert_int_equal(at.size, 10);
		layer_close(l);
		free(tar.p);
	}
	/* An empty layer (only end blocks). */
	{
		struct mbuf tar = { 0 };
		struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
		struct collect c = { 0 };
		struct image_sha256 *h;
		struct hashout ho = { 0 };
		struct image_digest got;

		tar_close(a);
		assert_int_equal(import_tar(&tar, &diff, NULL), 0);
		assert_int_equal(layer_open(cs, &diff, &l), 0);
		assert_int_equal(layer_readdir(l, LAYER_ROOT_INO, 0, collect_cb, &c), 0);
		assert_int_equal(c.n, 0);
		assert_int_equal(image_sha256_create(&h), 0);
		ho.h = h;
		assert_int_equal(layer_rebuild_tar(l, hash_put, &ho), 0);
		image_sha256_final(h, &got);
		image_sha256_destroy(h);
		assert_true(image_digest_equal(&got, &diff));
		free(ho.out.p);
		layer_close(l);
		free(tar.p);
	}
}

/*
 * Reads through a chunk cache (strata/chunkcache.h): the bytes are those of
 * the file for any range, chunks a read used only part of are kept when
 * they were decompressed (text), raw chunks left in the store's buffer are
 * not, later reads inside kept chunks are served by the cache, and a
 * budget far below the file's size holds.
 */
static void test_read_cache(void **state)
{
	const size_t tlen = 2u << 20, rlen = 1u << 20;
	struct mbuf tar = { 0 };
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	struct image_digest diff;
	struct layer_build_stats bs;
	struct chunk_cache_stats cst0, cst;
	struct chunk_cache *cc;
	struct layer *l;
	uint8_t *text = malloc(tlen), *rnd = malloc(rlen), *rb = malloc(300000);
	uint64_t tino, rino;
	unsigned seed = 7;

	assert_non_null(text);
	assert_non_null(rnd);
	assert_non_null(rb);
	for (size_t i = 0; i < tlen; i++) /* compresses about 4x */
		text[i] = (uint8_t)"abcdefgh \n"[(i * 2654435761u >> 7) % 10] + (i % 3 == 0);
	fill(rnd, rlen, 99);
	add_entry(a, "./", AE_IFDIR, 0755, 0, NULL, 0, NULL, NULL);
	add_entry(a, "text", AE_IFREG, 0644, 0, text, tlen, NULL, NULL);
	add_entry(a, "rand", AE_IFREG, 0644, 0, rnd, rlen, NULL, NULL);
	tar_close(a);
	assert_int_equal(import_tar(&tar, &diff, &bs), 0);
	assert_int_equal(layer_open(cs, &diff, &l), 0);
	tino = lookup_path(l, "text");
	rino = lookup_path(l, "rand");

	assert_int_equal(chunk_cache_create(2u << 20, &cc), 0);
	chunkstore_set_cache(cs, cc);
	for (int k = 0; k < 3000; k++) {
		bool t = k % 3 != 0;
		size_t flen = t ? tlen : rlen, len = 1 + (size_t)rand_r(&seed) % 20000;
		uint64_t off = (uint64_t)rand_r(&seed) % flen;
		ssize_t n;

		if (k % 500 == 0)
			len = 300000; /* several chunks, whole ones in the middle */
		n = layer_read(l, t ? tino : rino, rb, len, off);
		assert_int_equal(n, (ssize_t)MIN((uint64_t)len, flen - off));
		assert_memory_equal(rb, (t ? text : rnd) + off, (size_t)n);
	}
	chunk_cache_get_stats(cc, &cst);
	assert_true(cst.hits > 1000);
	assert_true(cst.evictions > 0);
	assert_true(cst.bytes <= cst.budget);

	/* A read that the cache serves whole costs no store read: with the
	 * store's reads failing, it still succeeds. */
	assert_int_equal(layer_read(l, tino, rb, 100, 5000), 100);
	chunk_cache_get_stats(cc, &cst0);
	fail_get_batch = -EIO;
	assert_int_equal(layer_read(l, tino, rb, 100, 5000), 100);
	assert_memory_equal(rb, text + 5000, 100);
	fail_get_batch = 0;
	chunk_cache_get_stats(cc, &cst);
	assert_int_equal(cst.hits, cst0.hits + 1);

	chunkstore_set_cache(cs, NULL);
	chunk_cache_destroy(cc);
	/* Without a cache every range still reads right. */
	for (int k = 0; k < 200; k++) {
		uint64_t off = (uint64_t)rand_r(&seed) % tlen;
		ssize_t n = layer_read(l, tino, rb, 7000, off);

		assert_int_equal(n, (ssize_t)MIN((uint64_t)7000, tlen - off));
		assert_memory_equal(rb, text + off, (size_t)n);
	}
	layer_close(l);
	free(text);
	free(rnd);
	free(rb);
	free(tar.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rich_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_cost_and_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cache, setup, teardown),
	};

	strata_log_init("test_layer", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
