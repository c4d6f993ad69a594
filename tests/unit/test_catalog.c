// SPDX-License-Identifier: GPL-2.0-or-later
/* The image catalog: names, resolution, tags, crash-visible states, blobs,
 * df and gc over real layer indexes; store faults injected. */
#include "tests/unit/store-test-lib.h"

#include <sys/file.h>

#include "strata/catalog.h"
#include "strata/layer.h"
#include "tests/unit/tarhelp.h"

static int fail_put_user = 0;  /* fail store_put of a META record with this user word */
static int fail_put_err = 0;
static int fail_sync = 0;

int __real_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user);
int __wrap_store_put(struct store *s, uint16_t type, const struct store_key *key,
		     const void *data, size_t len, uint16_t flags, uint32_t user)
{
	if (fail_put_err && type == STORE_REC_META && user == (uint32_t)fail_put_user) {
		int r = fail_put_err;

		fail_put_err = 0;
		return r;
	}
	return __real_store_put(s, type, key, data, len, flags, user);
}

int __real_store_sync(struct store *s);
int __wrap_store_sync(struct store *s)
{
	if (fail_sync) {
		int r = fail_sync;

		fail_sync = 0;
		return r;
	}
	return __real_store_sync(s);
}

/* Keys deleted, in order (for the gc order check). */
static struct store_key deleted[4096];
static size_t ndeleted;

int __real_store_delete(struct store *s, const struct store_key *key);
int __wrap_store_delete(struct store *s, const struct store_key *key)
{
	if (ndeleted < sizeof(deleted) / sizeof(deleted[0]))
		deleted[ndeleted++] = *key;
	return __real_store_delete(s, key);
}

static size_t deleted_at(const struct store_key *k)
{
	for (size_t i = 0; i < ndeleted; i++)
		if (!memcmp(deleted[i].b, k->b, STORE_KEY_LEN))
			return i;
	return SIZE_MAX;
}

static struct store *st;
static struct chunkstore *cs;
static const char *spath;

static int setup(void **state)
{
	spath = tpath("/tmp", "catalog");
	assert_int_equal(create_store(spath, 128 << 20, 1 << 20), 0);
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

static struct catalog *reopen(void)
{
	struct catalog *c = NULL;

	assert_int_equal(catalog_open(st, &c), 0);
	return c;
}

/* A minimal image whose ID bytes are chosen: id[0..1] = a, b. */
static void mkimage(struct catalog_image *im, struct catalog_layer *l, uint8_t a, uint8_t b,
		    const struct image_digest *diff)
{
	memset(im, 0, sizeof(*im));
	memset(&im->id, 0x11, sizeof(im->id));
	im->id.sha256[0] = a;
	im->id.sha256[1] = b;
	memset(&im->config, 0x22, sizeof(im->config));
	im->manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
	im->source = "test";
	im->imported = 1700000000 + a * 256 + b;
	memset(l, 0, sizeof(*l));
	if (diff)
		l->diff_id = *diff;
	l->digest = l->diff_id;
	l->media_type = "application/vnd.oci.image.layer.v1.tar";
	l->size = 10;
	l->tar_size = 10;
	im->layers = l;
	im->nlayers = 1;
}

static void test_names(void **state)
{
	char out[CATALOG_NAME_MAX + 1], long_name[300];

	assert_int_equal(catalog_normalize_name("debian", out), 0);
	assert_string_equal(out, "debian:latest");
	assert_int_equal(catalog_normalize_name("debian:12", out), 0);
	assert_string_equal(out, "debian:12");
	assert_int_equal(catalog_normalize_name("localhost:5000/app", out), 0);
	assert_string_equal(out, "localhost:5000/app:latest");
	assert_int_equal(catalog_normalize_name("localhost:5000/app:v1", out), 0);
	assert_string_equal(out, "localhost:5000/app:v1");
	assert_int_equal(catalog_normalize_name("", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("a b", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("a@sha256:00", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("sha256:abcd", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("name:", out), -EINVAL);
	assert_int_equal(catalog_normalize_name(":tag", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("dir/", out), -EINVAL);
	assert_int_equal(catalog_normalize_name("x\001", out), -EINVAL);
	memset(long_name, 'a', sizeof(long_name));
	long_name[256] = 0;
	assert_int_equal(catalog_normalize_name(long_name, out), -EINVAL);
	long_name[250] = 0; /* fits, but not with ":latest" */
	assert_int_equal(catalog_normalize_name(long_name, out), -EINVAL);
	memset(long_name, 'a', 64);
	long_name[64] = 0; /* looks like a bare image ID */
	assert_int_equal(catalog_normalize_name(long_name, out), -EINVAL);
}

static void test_add_resolve_tag(void **state)
{
	struct catalog_image a, b, c3;
	struct catalog_layer la, lb, lc;
	const struct catalog_image *got;
	const char *na[] = { "app", "app:v1" };
	const char *nb[] = { "other:1" };
	char full[IMAGE_DIGEST_STRLEN];
	struct catalog *c = reopen();

	mkimage(&a, &la, 0xab, 0xcd, NULL);
	mkimage(&b, &lb, 0xab, 0xce, NULL);
	mkimage(&c3, &lc, 0x01, 0x02, NULL);
	assert_int_equal(catalog_add_image(st, c, &a, na, 2), 0);
	assert_int_equal(catalog_add_image(st, c, &b, nb, 1), 0);
	assert_int_equal(catalog_add_image(st, c, &c3, NULL, 0), 0);
	/* Adding again is fine (same record). */
	assert_int_equal(catalog_add_image(st, c, &a, NULL, 0), 0);
	assert_int_equal(catalog_count(c), 3);
	/* Newest first. */
	assert_int_equal(catalog_image_at(c, 0)->id.sha256[1], 0xce);

	assert_int_equal(catalog_resolve(c, "app", &got), 0);
	assert_int_equal(got->id.sha256[1], 0xcd);
	assert_int_equal(got->ntags, 2);
	assert_string_equal(got->tags[0], "app:latest");
	assert_string_equal(got->tags[1], "app:v1");
	assert_int_equal(catalog_resolve(c, "app:v1", &got), 0);
	assert_int_equal(catalog_resolve(c, "app:v2", &got), -ENOENT);
	assert_int_equal(catalog_resolve(c, "abc", &got), -ENOENT); /* a name, not a 4-digit ID */
	assert_int_equal(catalog_resolve(c, "abcd", &got), 0);
	assert_int_equal(catalog_resolve(c, "ab", &got), -ENOENT);
	assert_int_equal(catalog_resolve(c, "abc1", &got), -ENOENT);
	assert_int_equal(catalog_resolve(c, "sha256:abc", &got), -EINVAL);
	assert_int_equal(catalog_resolve(c, "sha256:abcd", &got), 0);
	assert_int_equal(catalog_resolve(c, "0102", &got), 0);
	assert_int_equal(got->ntags, 0);
	assert_int_equal(catalog_resolve(c, "sha256:abcX", &got), -EINVAL);
	assert_int_equal(catalog_resolve(c, "abcd1111", &got), 0);
	{
		/* Ambiguous prefix of 4 digits: make a third image 0xabcd.. with other bytes. */
		struct catalog_image d;
		struct catalog_layer ld;

		mkimage(&d, &ld, 0xab, 0xcd, NULL);
		d.id.sha256[5] = 0x99;
		assert_int_equal(catalog_add_image(st, c, &d, NULL, 0), 0);
		assert_int_equal(catalog_resolve(c, "abcd", &got), -ENOTUNIQ);
		assert_int_equal(catalog_resolve(c, image_digest_format(&d.id, full), &got), 0);
		assert_int_equal(got->id.sha256[5], 0x99);
		assert_int_equal(catalog_remove_image(st, c, &d.id), 0);
	}
	catalog_close(c);

	/* Everything comes back from the store. */
	c = reopen();
	assert_int_equal(catalog_count(c), 3);
	assert_int_equal(catalog_resolve(c, "app:v1", &got), 0);
	assert_int_equal(got->nlayers, 1);
	assert_string_equal(got->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
	assert_string_equal(got->source, "test");

	/* Move a tag: the old record is replaced, not just outvoted. */
	assert_int_equal(catalog_tag(st, c, "app:v1", &b.id), 0);
	assert_int_equal(catalog_resolve(c, "app:v1", &got), 0);
	assert_int_equal(got->id.sha256[1], 0xce);
	catalog_close(c);
	c = reopen();
	assert_int_equal(catalog_resolve(c, "app:v1", &got), 0);
	assert_int_equal(got->id.sha256[1], 0xce);
	assert_int_equal(catalog_resolve(c, "app", &got), 0);
	assert_int_equal(got->ntags, 1);
	{
		struct image_digest none;

		memset(&none, 0x42, sizeof(none));
		assert_int_equal(catalog_tag(st, c, "x:1", &none), -ENOENT);
		assert_int_equal(catalog_tag(st, c, "bad name", &a.id), -EINVAL);
	}
	/* Untag and remove. */
	assert_int_equal(catalog_untag(st, c, "app:v1"), 0);
	assert_int_equal(catalog_untag(st, c, "app:v1"), -ENOENT);
	assert_int_equal(catalog_remove_image(st, c, &a.id), 0);
	assert_int_equal(catalog_remove_image(st, c, &a.id), -ENOENT);
	assert_int_equal(catalog_resolve(c, "app", &got), -ENOENT);
	catalog_close(c);
	c = reopen();
	assert_int_equal(catalog_count(c), 2);
	assert_int_equal(catalog_resolve(c, "app", &got), -ENOENT);
	assert_int_equal(catalog_resolve(c, "other:1", &got), 0);
	catalog_close(c);
}

static void test_crash_states(void **state)
{
	struct catalog_image a, b;
	struct catalog_layer la, lb;
	const struct catalog_image *got;
	const char *n[] = { "web:1" };
	struct catalog *c = reopen();

	mkimage(&a, &la, 0x10, 0x01, NULL);
	mkimage(&b, &lb, 0x20, 0x02, NULL);
	assert_int_equal(catalog_add_image(st, c, &a, n, 1), 0);
	/* The image record of b cannot be written (ENOSPC): its tag was, but the
	 * name keeps pointing at a, and b is not visible -- now or after a reopen. */
	fail_put_user = CATALOG_KIND_IMAGE;
	fail_put_err = -ENOSPC;
	assert_int_equal(catalog_add_image(st, c, &b, n, 1), -ENOSPC);
	catalog_close(c);
	c = reopen();
	assert_int_equal(catalog_count(c), 1);
	assert_int_equal(catalog_resolve(c, "web:1", &got), 0);
	assert_int_equal(got->id.sha256[0], 0x10);
	/* A sync failure before the commit point: also not visible. */
	fail_sync = -EIO;
	assert_int_equal(catalog_add_image(st, c, &b, n, 1), -EIO);
	catalog_close(c);
	c = reopen();
	assert_int_equal(catalog_resolve(c, "web:1", &got), 0);
	assert_int_equal(got->id.sha256[0], 0x10);
	/* The retry succeeds and moves the name. */
	assert_int_equal(catalog_add_image(st, c, &b, n, 1), 0);
	assert_int_equal(catalog_resolve(c, "web:1", &got), 0);
	assert_int_equal(got->id.sha256[0], 0x20);
	catalog_close(c);
	c = reopen();
	assert_int_equal(catalog_resolve(c, "web:1", &got), 0);
	assert_int_equal(got->id.sha256[0], 0x20);
	catalog_close(c);

	/* A record that does not parse is an error naming it, not a silent skip. */
	{
		struct store_key k;

		mkkey(&k, 7, 7);
		assert_int_equal(store_put(st, STORE_REC_META, &k, "{nope", 5, 0,
					   CATALOG_KIND_IMAGE), 0);
		strata_log_set_sink(capture_sink, NULL);
		assert_int_equal(catalog_open(st, &c), -EBADMSG);
		strata_log_set_sink(NULL, NULL);
		assert_non_null(strstr(last_log, "catalog record"));
		assert_int_equal(store_delete(st, &k), 0);
	}
}

static void test_blobs_and_lock(void **state)
{
	struct image_digest d, wrong;
	const char *blob = "{\"schemaVersion\":2}";
	void *buf;
	size_t len;
	int fd1, fd2, fd3;

	image_sha256_buf(blob, strlen(blob), &d);
	memset(&wrong, 0, sizeof(wrong));
	assert_int_equal(catalog_put_blob(st, &wrong, blob, strlen(blob)), -EBADMSG);
	assert_int_equal(catalog_put_blob(st, &d, blob, strlen(blob)), 0);
	assert_int_equal(catalog_put_blob(st, &d, blob, strlen(blob)), 0);
	assert_int_equal(catalog_get_blob(st, &d, &buf, &len), 0);
	assert_int_equal(len, strlen(blob));
	assert_memory_equal(buf, blob, len);
	free(buf);
	assert_int_equal(catalog_get_blob(st, &wrong, &buf, &len), -ENOENT);

	assert_int_equal(catalog_lock(spath, true, false, &fd1), 0);
	assert_int_equal(catalog_lock(spath, false, false, &fd2), -EWOULDBLOCK);
	catalog_unlock(fd1);
	assert_int_equal(catalog_lock(spath, false, false, &fd1), 0);
	assert_int_equal(catalog_lock(spath, false, false, &fd2), 0); /* readers share */
	assert_int_equal(catalog_lock(spath, true, false, &fd3), -EWOULDBLOCK);
	catalog_unlock(fd1);
	catalog_unlock(fd2);
	assert_int_equal(catalog_lock("/nonexistent/store", true, false, &fd1), -ENOENT);
}

/* A real layer from an in-memory tar; returns its DiffID. */
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

static void mklayer(uint32_t seed, size_t size, struct image_digest *diff, uint64_t *tar_size,
		    int nsmall)
{
	struct image_tarwalk_opts o = { .comp = IMAGE_COMP_NONE, .name = "t",
					.expect_blob_size = -1 };
	struct mbuf tar = { 0 };
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	uint8_t *data = malloc(size);
	struct image_tarwalk *tw;
	struct layer_builder *b;
	struct image_skeleton *sk;
	const struct image_entry *e;
	struct image_digest blob;
	uint64_t bsz;
	struct rd r;

	fill(data, size, seed);
	tar_add(a, "file", AE_IFREG, 0644, data, size, NULL);
	for (int i = 0; i < nsmall; i++) {
		char name[32];

		snprintf(name, sizeof(name), "small-%d", i);
		tar_add(a, name, AE_IFREG, 0644, name, strlen(name), NULL);
	}
	tar_close(a);
	r = (struct rd){ tar.p, tar.len, 0 };
	assert_int_equal(image_tarwalk_create(&o, mem_read, &r, &tw), 0);
	assert_int_equal(layer_builder_create(cs, NULL, &b), 0);
	while (image_tarwalk_next(tw, &e) == 1)
		assert_int_equal(layer_builder_add(b, e, tw_read, tw), 0);
	assert_int_equal(image_tarwalk_result(tw, diff, &blob, &bsz, tar_size, &sk), 0);
	assert_int_equal(layer_builder_commit(b, diff, *tar_size, sk, NULL), 0);
	image_skeleton_destroy(sk);
	layer_builder_destroy(b);
	image_tarwalk_destroy(tw);
	free(data);
	free(tar.p);
}

static void test_df_gc(void **state)
{
	struct image_digest base, top, orphan;
	uint64_t tsb, tst, tso;
	struct catalog_image a, b;
	struct catalog_layer la[2], lb;
	struct catalog_df df;
	struct catalog_gc_stats gs;
	const char *na[] = { "a:1" }, *nb[] = { "b:1" };
	struct catalog *c;
	struct layer *l;

	mklayer(1, 2 << 20, &base, &tsb, 0);
	mklayer(2, 1 << 20, &top, &tst, 0);
	/* An interrupted import: no image names it.  Several index pieces. */
	mklayer(3, 1 << 20, &orphan, &tso, 15000);
	c = reopen();
	mkimage(&a, &la[0], 0x30, 0, &base);
	la[0].tar_size = tsb;
	la[1] = la[0];
	la[1].diff_id = top;
	la[1].tar_size = tst;
	a.nlayers = 2;
	mkimage(&b, &lb, 0x40, 0, &base);
	lb.tar_size = tsb;
	assert_int_equal(catalog_add_image(st, c, &a, na, 1), 0);
	assert_int_equal(catalog_add_image(st, c, &b, nb, 1), 0);

	assert_int_equal(catalog_df(cs, c, &df), 0);
	assert_int_equal(df.nimages, 2);
	/* Image order: b (newer) then a. */
	assert_int_equal(df.images[1].logical, tsb + tst);
	assert_int_equal(df.images[0].logical, tsb);
	assert_true(df.images[1].data >= (3u << 20));
	assert_true(df.images[0].unique == 0); /* everything of b is shared with a */
	assert_true(df.images[1].unique >= (1u << 20)); /* a's top layer */
	assert_int_equal(df.total.logical, 2 * tsb + tst);
	assert_true(df.total.data < df.total.logical);
	assert_true(df.garbage_bytes >= (1u << 20)); /* the orphan layer */
	catalog_df_free(&df);

	/* gc: the orphan goes, everything named stays. */
	assert_int_equal(catalog_gc(cs, c, true, true, &gs), 0); /* dry run */
	assert_true(layer_exists(st, &orphan));
	ndeleted = 0;
	assert_int_equal(catalog_gc(cs, c, false, false, &gs), 0);
	{
		/* The orphan's piece 0 is deleted before each of its other pieces
		 * (about a dozen: an unordered delete would rarely get this right). */
		struct store_key k0, k;
		uint32_t p;

		layer_piece_key(&orphan, 0, &k0);
		assert_true(deleted_at(&k0) != SIZE_MAX);
		for (p = 1;; p++) {
			layer_piece_key(&orphan, p, &k);
			if (deleted_at(&k) == SIZE_MAX)
				break;
			assert_true(deleted_at(&k0) < deleted_at(&k));
		}
		assert_true(p >= 8);
	}
	assert_int_equal(gs.live_images, 2);
	assert_int_equal(gs.live_layers, 2);
	assert_true(gs.chunks_deleted >= 8); /* 1 MiB of random data, ~64 KiB chunks */
	assert_true(gs.meta_deleted >= 1);
	assert_int_equal(gs.missing_chunks, 0);
	assert_false(layer_exists(st, &orphan));
	assert_true(layer_exists(st, &base));
	assert_int_equal(layer_open(cs, &top, &l), 0);
	layer_close(l);
	assert_int_equal(catalog_df(cs, c, &df), 0);
	assert_int_equal(df.garbage_bytes, 0);
	catalog_df_free(&df);

	/* Remove a: its top layer becomes garbage, the shared base stays. */
	assert_int_equal(catalog_remove_image(st, c, &a.id), 0);
	assert_int_equal(catalog_gc(cs, c, false, true, &gs), 0);
	assert_false(layer_exists(st, &top));
	assert_true(layer_exists(st, &base));
	/* A layer the catalog names but that is gone stops gc before any delete. */
	assert_int_equal(layer_delete(st, &base), 0);
	strata_log_set_sink(capture_sink, NULL);
	assert_int_equal(catalog_gc(cs, c, false, true, &gs), -ENOENT);
	strata_log_set_sink(NULL, NULL);
	assert_non_null(strstr(last_log, "missing from the store"));
	assert_int_equal(gs.chunks_deleted, 0);
	catalog_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_add_resolve_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blobs_and_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_df_gc, setup, teardown),
	};

	strata_log_init("test_catalog", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, tpath_cleanup);
}
