// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * export_images(): formats, the kept-or-rewritten manifest, and the
 * failures that must leave nothing at the target or its temporary: a
 * rebuilt tar that does not match its DiffID (layer_rebuild_tar wrapped to
 * flip a byte), ENOSPC while writing (write wrapped), a missing layer, an
 * existing target.
 */
#include "tests/unit/store-test-lib.h"

#include <dirent.h>
#include <ftw.h>
#include <json-c/json.h>

#include "strata/catalog.h"
#include "strata/export.h"
#include "strata/import.h"
#include "strata/layer.h"
#include "store/export-internal.h"
#include "tests/unit/tarhelp.h"

/* ---- fault injection ---- */

static bool corrupt_rebuild;
struct flip {
	image_put_fn out;
	void *arg;
	bool done;
};

static int flip_put(void *arg, const void *buf, size_t len)
{
	struct flip *f = arg;
	uint8_t *copy;
	int r;

	if (f->done || !len)
		return f->out(f->arg, buf, len);
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	copy[len / 2] ^= 0x40;
	f->done = true;
	r = f->out(f->arg, copy, len);
	free(copy);
	return r;
}

int __real_layer_rebuild_tar(struct layer *l, image_put_fn out, void *out_arg);
int __wrap_layer_rebuild_tar(struct layer *l, image_put_fn out, void *out_arg)
{
	struct flip f = { out, out_arg, false };

	if (!corrupt_rebuild)
		return __real_layer_rebuild_tar(l, out, out_arg);
	return __real_layer_rebuild_tar(l, flip_put, &f);
}

/* write(2) to files (not stdio) fails with ENOSPC after this many bytes; -1: never. */
static long long write_budget = -1;

ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	if (write_budget >= 0 && fd > 2) {
		if ((long long)len > write_budget) {
			write_budget = 0;
			errno = ENOSPC;
			return -1;
		}
		write_budget -= (long long)len;
	}
	return __real_write(fd, buf, len);
}

/* ---- fixture: a store with one imported rootfs tar ---- */

static struct store *st;
static struct chunkstore *cs;
static struct catalog *cat;
static const struct catalog_image *img;
static char spath[256], dir[256], tarpath[300];

static int setup(void **state)
{
	struct import_opts o = { .kind = IMAGE_SRC_ROOTFS_TAR };
	const char *names[] = { "t:1" };
	struct import_result *res = NULL;
	struct mbuf tar = { 0 };
	struct archive *a;
	size_t nres = 0;
	char *data;
	FILE *f;

	snprintf(spath, sizeof(spath), "%s", tpath("/tmp", "export.img"));
	snprintf(dir, sizeof(dir), "/tmp/strata-test-%d-export.d", (int)getpid());
	assert_int_equal(strata_mkdir_p(dir, 0755), 0);
	assert_int_equal(create_store(spath, 128 << 20, 1 << 20), 0);
	st = open_store(spath, false, 0);
	assert_int_equal(chunkstore_create(st, NULL, &cs), 0);
	assert_int_equal(catalog_open(st, &cat), 0);

	data = malloc(300000);
	assert_non_null(data);
	fill(data, 300000, 7);
	a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	tar_add(a, "etc/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "etc/hostname", AE_IFREG, 0644, "box\n", 4, NULL);
	tar_add(a, "bin/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "bin/blob", AE_IFREG, 0755, data, 300000, NULL);
	tar_add(a, "bin/link", AE_IFLNK, 0777, NULL, 0, "blob");
	tar_close(a);
	free(data);
	snprintf(tarpath, sizeof(tarpath), "%s/rootfs.tar", dir);
	f = fopen(tarpath, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(tar.p, 1, tar.len, f), tar.len);
	fclose(f);
	free(tar.p);

	o.names = names;
	o.nnames = 1;
	assert_int_equal(import_source(cs, cat, tarpath, &o, &res, &nres), 0);
	assert_int_equal(nres, 1);
	import_results_free(res, nres);
	assert_int_equal(catalog_resolve(cat, "t:1", &img), 0);
	return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	catalog_close(cat);
	chunkstore_destroy(cs);
	store_close(st);
	unlink(spath);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Entries of dir other than rootfs.tar. */
static int count_outputs(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "rootfs.tar"))
			n++;
	closedir(d);
	return n;
}

static void clear_outputs(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[600];

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "rootfs.tar"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

static int run(enum export_format fmt, enum image_compression comp, bool force, const char *name,
	       struct export_result *res)
{
	const char *names[] = { "t:1" };
	struct export_item it = { img, names, 1 };
	struct export_opts o = { .format = fmt, .comp = comp, .force = force };
	char target[600];

	snprintf(target, sizeof(target), "%s/%s", dir, name);
	return export_images(cs, &it, 1, target, &o, res);
}

static json_object *read_json(const char *rel)
{
	char p[600];
	json_object *o;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	o = json_object_from_file(p);
	assert_non_null(o);
	return o;
}

static void test_layout_manifest(void **state)
{
	struct export_result res;
	char dg[IMAGE_DIGEST_STRLEN], rel[300];
	json_object *idx, *m, *v;

	clear_outputs();
	/* Uncompressed: the blobs are the imported ones, the manifest is kept. */
	assert_int_equal(run(EXPORT_OCI_LAYOUT, IMAGE_COMP_NONE, false, "none", &res), 0);
	assert_true(res.manifest_kept);
	assert_true(image_digest_equal(&res.manifest, &img->id));
	idx = read_json("none/index.json");
	assert_true(json_object_object_get_ex(idx, "manifests", &m));
	v = json_object_array_get_idx(m, 0);
	assert_true(json_object_object_get_ex(v, "digest", &v));
	assert_string_equal(json_object_get_string(v), image_digest_format(&img->id, dg));
	json_object_put(idx);

	/* gzip: a new manifest with gzip layers and the same config. */
	assert_int_equal(run(EXPORT_OCI_LAYOUT, IMAGE_COMP_GZIP, false, "gz", &res), 0);
	assert_false(res.manifest_kept);
	assert_false(image_digest_equal(&res.manifest, &img->id));
	assert_true(res.blob_bytes < res.tar_bytes);
	snprintf(rel, sizeof(rel), "gz/blobs/sha256/%s", image_digest_format(&res.manifest, dg) + 7);
	m = read_json(rel);
	assert_true(json_object_object_get_ex(m, "config", &v));
	assert_true(json_object_object_get_ex(v, "digest", &v));
	assert_string_equal(json_object_get_string(v), image_digest_format(&img->config, dg));
	assert_true(json_object_object_get_ex(m, "layers", &v));
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "mediaType", &v));
	assert_string_equal(json_object_get_string(v), "application/vnd.oci.image.layer.v1.tar+gzip");
	json_object_put(m);

	/* The same twice gives the same bytes (deterministic compressor). */
	{
		struct export_result res2;

		assert_int_equal(run(EXPORT_OCI_LAYOUT, IMAGE_COMP_GZIP, false, "gz2", &res2), 0);
		assert_true(image_digest_equal(&res.manifest, &res2.manifest));
	}
	assert_int_equal(run(EXPORT_OCI_ARCHIVE, IMAGE_COMP_ZSTD, false, "z.tar", &res), 0);
	assert_int_equal(run(EXPORT_DOCKER_ARCHIVE, IMAGE_COMP_AUTO, false, "d.tar", &res), 0);
	assert_int_equal(count_outputs(), 5);
	/* docker-archive layers are always uncompressed. */
	assert_int_equal(run(EXPORT_DOCKER_ARCHIVE, IMAGE_COMP_GZIP, false, "dg.tar", &res),
			 -EINVAL);
	assert_int_equal(count_outputs(), 5);
}

static void test_diffid_mismatch(void **state)
{
	static const enum export_format fmts[] = { EXPORT_OCI_LAYOUT, EXPORT_OCI_ARCHIVE,
						   EXPORT_DOCKER_ARCHIVE };

	clear_outputs();
	strata_log_set_sink(capture_sink, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		struct export_result res;

		corrupt_rebuild = true;
		assert_int_equal(run(fmts[i], IMAGE_COMP_AUTO, false, "bad", &res), -EBADMSG);
		corrupt_rebuild = false;
		assert_non_null(strstr(last_log, "hashes to"));
		assert_int_equal(count_outputs(), 0);
	}
	strata_log_set_sink(NULL, NULL);
}

static void test_enospc(void **state)
{
	static const struct {
		enum export_format f;
		enum image_compression c;
	} cases[] = {
		{ EXPORT_OCI_LAYOUT, IMAGE_COMP_GZIP },
		{ EXPORT_OCI_LAYOUT, IMAGE_COMP_NONE },
		{ EXPORT_OCI_ARCHIVE, IMAGE_COMP_ZSTD }, /* the staged blob */
	};

	clear_outputs();
	strata_log_set_sink(capture_sink, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct export_result res;

		write_budget = 1000;
		assert_int_equal(run(cases[i].f, cases[i].c, false, "full", &res), -ENOSPC);
		write_budget = -1;
		assert_int_equal(count_outputs(), 0);
	}
	strata_log_set_sink(NULL, NULL);
}

static void test_missing_layer(void **state)
{
	struct catalog_image im = *img;
	struct catalog_layer l = img->layers[0];
	struct export_item it = { &im, NULL, 0 };
	struct export_opts o = { .format = EXPORT_OCI_LAYOUT };
	char target[600];

	clear_outputs();
	memset(&l.diff_id, 0x5a, sizeof(l.diff_id));
	im.layers = &l;
	snprintf(target, sizeof(target), "%s/missing", dir);
	strata_log_set_sink(capture_sink, NULL);
	assert_int_equal(export_images(cs, &it, 1, target, &o, NULL), -ENOENT);
	strata_log_set_sink(NULL, NULL);
	assert_non_null(strstr(last_log, "not in the store"));
	assert_int_equal(count_outputs(), 0);
}

static void test_exists_force(void **state)
{
	struct export_result res;
	char p[600];
	struct stat sb;
	FILE *f;

	clear_outputs();
	snprintf(p, sizeof(p), "%s/out", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/out/marker", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	strata_log_set_sink(capture_sink, NULL);
	assert_int_equal(run(EXPORT_OCI_LAYOUT, IMAGE_COMP_GZIP, false, "out", &res), -EEXIST);
	strata_log_set_sink(NULL, NULL);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(count_outputs(), 1);
	assert_int_equal(run(EXPORT_OCI_LAYOUT, IMAGE_COMP_GZIP, true, "out", &res), 0);
	assert_int_equal(stat(p, &sb), -1);
	snprintf(p, sizeof(p), "%s/out/index.json", dir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(count_outputs(), 1);
	/* A directory replaced by an archive. */
	assert_int_equal(run(EXPORT_DOCKER_ARCHIVE, IMAGE_COMP_AUTO, true, "out", &res), 0);
	snprintf(p, sizeof(p), "%s/out", dir);
	assert_int_equal(stat(p, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(count_outputs(), 1);
}

struct mem_sink {
	uint8_t *p;
	size_t len, cap;
};

static int mem_put(void *arg, const void *buf, size_t len)
{
	struct mem_sink *m = arg;

	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* Parallel gzip: every size around the block and batch edges inflates back. */
static void test_gzip_blocks(void **state)
{
	static const size_t sizes[] = { 0, 1, 4095, (1u << 20) - 1, 1u << 20, (1u << 20) + 1,
					(2u << 20), (5u << 20) + 12345, (16u << 20) };
	size_t max = 16u << 20;
	uint8_t *in = malloc(max), *back = malloc(max + 1);

	assert_non_null(in);
	assert_non_null(back);
	/* Compressible, with repeats across block edges. */
	for (size_t i = 0; i < max; i++)
		in[i] = (uint8_t)((i % 7919) * 31 / 97);
	fill(in + (3u << 20), 1u << 20, 3);
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		struct mem_sink m = { 0 }, m2 = { 0 };
		struct exp_comp *z;
		z_stream zs = { 0 };
		size_t off = 0;

		assert_int_equal(exp_comp_create(IMAGE_COMP_GZIP, 0, mem_put, &m, &z), 0);
		/* Odd write sizes. */
		while (off < sizes[k]) {
			size_t n = MIN(sizes[k] - off, 300007u);

			assert_int_equal(exp_comp_write(z, in + off, n), 0);
			off += n;
		}
		assert_int_equal(exp_comp_finish(z), 0);
		exp_comp_destroy(z);
		/* The same input in one write gives the same bytes. */
		assert_int_equal(exp_comp_create(IMAGE_COMP_GZIP, 0, mem_put, &m2, &z), 0);
		assert_int_equal(exp_comp_write(z, in, sizes[k]), 0);
		assert_int_equal(exp_comp_finish(z), 0);
		exp_comp_destroy(z);
		assert_int_equal(m.len, m2.len);
		assert_memory_equal(m.p, m2.p, m.len);

		assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
		zs.next_in = m.p;
		zs.avail_in = (uInt)m.len;
		zs.next_out = back;
		zs.avail_out = (uInt)(max + 1);
		assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
		assert_int_equal(zs.avail_in, 0);
		assert_int_equal(zs.total_out, sizes[k]);
		assert_memory_equal(back, in, sizes[k]);
		inflateEnd(&zs);
		free(m.p);
		free(m2.p);
	}
	free(in);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_manifest),
		cmocka_unit_test(test_diffid_mismatch),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_missing_layer),
		cmocka_unit_test(test_exists_force),
		cmocka_unit_test(test_gzip_blocks),
	};

	strata_log_init("test_export", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
