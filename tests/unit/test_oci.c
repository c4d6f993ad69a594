// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/oci.c, archive.c, json.c: OCI layouts, nested indexes and platform
 * selection, manifest/config validation, oci-archive, docker-archive and
 * rootfs sources, and the bad-input corpus (wrong digests, missing blobs,
 * path escapes in archives).  Layouts are generated here.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/image.h"
#include "strata/log.h"
#include "strata/util.h"
#include "tarhelp.h"

static char root[256];

static void write_file(const char *rel, const void *buf, size_t len)
{
	char path[512], *s;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		mkdir(path, 0755);
		*s = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Store a blob; returns its "sha256:..." in dg. */
static void put_blob(const void *buf, size_t len, char *dg)
{
	struct image_digest d;
	char rel[128];

	image_sha256_buf(buf, len, &d);
	image_digest_format(&d, dg);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", dg + 7);
	write_file(rel, buf, len);
}

static void put_json(const char *json, char *dg, size_t *len)
{
	*len = strlen(json);
	put_blob(json, *len, dg);
}

struct layer {
	char dg[IMAGE_DIGEST_STRLEN], diff[IMAGE_DIGEST_STRLEN];
	size_t size;
	const char *mt;
};

static void make_layer(struct layer *l, const char *fname, bool zstd)
{
	struct mbuf tar = {0}, c = {0};
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct image_digest d;

	tar_add(a, fname, AE_IFREG, 0644, fname, strlen(fname), NULL);
	tar_add(a, ".wh.old", AE_IFREG, 0, NULL, 0, NULL);
	tar_close(a);
	image_sha256_buf(tar.p, tar.len, &d);
	image_digest_format(&d, l->diff);
	if (zstd)
		zstd_buf(&tar, &c);
	else
		gzip_buf(&tar, &c);
	put_blob(c.p, c.len, l->dg);
	l->size = c.len;
	l->mt = zstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
		     : "application/vnd.oci.image.layer.v1.tar+gzip";
	free(tar.p);
	free(c.p);
}

static void make_config(const struct layer *ls, size_t n, const char *arch, char *dg, size_t *len)
{
	char json[4096];
	size_t o;

	o = (size_t)snprintf(
	    json, sizeof(json),
	    "{\"architecture\":\"%s\",\"os\":\"linux\",\"x-unknown\":{\"keep\":1},"
	    "\"config\":{\"Cmd\":[\"/bin/sh\",\"-c\"],\"Env\":[\"A=1\",\"PATH=/bin\"],"
	    "\"WorkingDir\":\"/w\",\"User\":\"1000:1000\",\"Entrypoint\":null,"
	    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Labels\":{\"k\":\"v\"}},"
	    "\"history\":[{\"created_by\":\"x\",\"empty_layer\":true}",
	    arch);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, ",{\"created_by\":\"l%zu\"}", i);
	o += (size_t)snprintf(json + o, sizeof(json) - o,
			      "],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, "%s\"%s\"", i ? "," : "",
				      ls[i].diff);
	snprintf(json + o, sizeof(json) - o, "]}}");
	put_json(json, dg, len);
}

static void make_manifest(const struct layer *ls, size_t n, const char *arch, char *dg, size_t *len)
{
	char json[4096], cdg[IMAGE_DIGEST_STRLEN];
	size_t clen, o;

	make_config(ls, n, arch, cdg, &clen);
	o = (size_t)snprintf(
	    json, sizeof(json),
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
	    cdg, clen);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o,
				      "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
				      i ? "," : "", ls[i].mt, ls[i].dg, ls[i].size);
	snprintf(json + o, sizeof(json) - o, "],\"annotations\":{\"unknown.field\":\"kept\"}}");
	put_json(json, dg, len);
}

static void write_layout_files(void)
{
	write_file("oci-layout", "{\"imageLayoutVersion\": \"1.0.0\"}", 31);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/test_oci.XXXXXX");
	assert_non_null(mkdtemp(root));
	last_log[0] = 0;
	return 0;
}

static int teardown(void **state)
{
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Walk every layer of img; returns the first error. */
static int walk_all(struct image *img, size_t *nentries)
{
	for (size_t i = 0; i < image_layer_count(img); i++) {
		struct image_tarwalk *tw;
		const struct image_entry *e;
		int r = image_layer_walk(img, i, false, &tw);

		if (r)
			return r;
		while ((r = image_tarwalk_next(tw, &e)) == 1)
			if (nentries)
				(*nentries)++;
		image_tarwalk_destroy(tw);
		if (r)
			return r;
	}
	return 0;
}

/* A layout with two tagged images; returns v2's manifest digest. */
static void build_two_images(struct layer *ls, char *m1, char *m2)
{
	char idx[2048];
	size_t l1, l2;

	make_layer(&ls[0], "one", false);
	make_layer(&ls[1], "two", true);
	make_manifest(ls, 1, "amd64", m1, &l1);
	make_manifest(ls, 2, "amd64", m2, &l2);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/"
		 "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
		 "{\"mediaType\":\"application/"
		 "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v2\"}}]}",
		 m1, l1, m2, l2);
	write_file("index.json", idx, strlen(idx));
	write_layout_files();
}

static void test_layout_basic(void **state)
{
	struct layer ls[2];
	char m1[IMAGE_DIGEST_STRLEN], m2[IMAGE_DIGEST_STRLEN], dg[IMAGE_DIGEST_STRLEN], path[512];
	struct image_source *src;
	struct image *img;
	const struct image_config_info *ci;
	const void *raw;
	size_t len, n = 0;
	void *file;

	build_two_images(ls, m1, m2);
	assert_int_equal(image_source_open(root, NULL, &src), 0);
	assert_int_equal(image_source_kind(src), IMAGE_SRC_OCI_LAYOUT);
	assert_int_equal(image_source_count(src), 2);
	assert_string_equal(image_source_ref(src, 0), "v1");
	assert_int_equal(image_source_find(src, NULL, &img), -EINVAL);
	assert_int_equal(image_source_find(src, "nope", &img), -ENOENT);
	assert_int_equal(image_source_find(src, "v2", &img), 0);
	assert_string_equal(image_ref(img), "v2");
	assert_string_equal(image_digest_format(&image_manifest_desc(img)->digest, dg), m2);
	/* Raw bytes exactly as stored (unknown fields included). */
	raw = image_manifest_raw(img, &len);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", root, m2 + 7);
	file = malloc(len + 1);
	assert_int_equal(strata_pread_full(open(path, O_RDONLY), file, len, 0), 0);
	assert_memory_equal(raw, file, len);
	free(file);
	assert_non_null(strstr(image_config_raw(img, &len), "x-unknown"));
	ci = image_config(img);
	assert_string_equal(ci->architecture, "amd64");
	assert_int_equal(ci->ncmd, 2);
	assert_string_equal(ci->cmd[1], "-c");
	assert_false(ci->has_entrypoint);
	assert_int_equal(ci->nenv, 2);
	assert_string_equal(ci->working_dir, "/w");
	assert_string_equal(ci->user, "1000:1000");
	assert_int_equal(ci->nexposed_ports, 2);
	assert_int_equal(ci->nlabels, 1);
	assert_string_equal(ci->label_values[0], "v");
	assert_int_equal(ci->nhistory, 3);
	assert_int_equal(ci->nhistory_empty, 1);
	assert_int_equal(image_layer_count(img), 2);
	assert_string_equal(image_layer_desc(img, 1)->media_type,
			    "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_int_equal(walk_all(img, &n), 0);
	assert_int_equal(n, 4);
	image_destroy(img);
	image_source_destroy(src);
	/* NULL is accepted by every destroy. */
	image_destroy(NULL);
	image_source_destroy(NULL);
	image_tarwalk_destroy(NULL);
	image_skeleton_destroy(NULL);
}

static void test_nested_index_platform(void **state)
{
	struct layer l;
	char ma[IMAGE_DIGEST_STRLEN], mb[IMAGE_DIGEST_STRLEN], ni[IMAGE_DIGEST_STRLEN],
	    dg[IMAGE_DIGEST_STRLEN], json[2048];
	size_t la, lb, lni;
	struct image_source_opts o = {0};
	struct image_source *src;
	struct image *img;

	make_layer(&l, "f", false);
	make_manifest(&l, 1, "arm64", ma, &la);
	make_manifest(&l, 1, "amd64", mb, &lb);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/"
		 "vnd.oci.image.index.v1+json\",\"manifests\":["
		 "{\"mediaType\":\"application/"
		 "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
		 "{\"mediaType\":\"application/"
		 "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
		 ma, la, mb, lb);
	put_json(json, ni, &lni);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
		 "vnd.oci.image.index.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref."
		 "name\":\"multi\"}}]}",
		 ni, lni);
	write_file("index.json", json, strlen(json));
	write_layout_files();

	assert_int_equal(image_source_open(root, NULL, &src), 0);
	assert_int_equal(image_source_count(src), 1);
	assert_int_equal(image_source_find(src, "multi", &img), 0);
	assert_string_equal(image_digest_format(&image_manifest_desc(img)->digest, dg), mb);
	image_destroy(img);
	image_source_destroy(src);

	o.arch = "arm64";
	o.variant = "v8";
	assert_int_equal(image_source_open(root, &o, &src), 0);
	assert_int_equal(image_source_find(src, "multi", &img), 0);
	assert_string_equal(image_digest_format(&image_manifest_desc(img)->digest, dg), ma);
	assert_string_equal(image_config(img)->architecture, "arm64");
	image_destroy(img);
	image_source_destroy(src);

	o.arch = "s390x";
	o.variant = NULL;
	assert_int_equal(image_source_open(root, &o, &src), -ENOENT);
	assert_non_null(strstr(last_log, "s390x"));
}

static void test_wrong_digest_and_missing_blobs(void **state)
{
	struct layer ls[2];
	char m1[IMAGE_DIGEST_STRLEN], m2[IMAGE_DIGEST_STRLEN], path[512];
	struct image_source *src;
	struct image *img;
	struct stat st;
	int fd;

	build_two_images(ls, m1, m2);
	/* Same size, different content: digest mismatch naming both digests. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", root, m1 + 7);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, " ", 1, 0), 1);
	close(fd);
	assert_int_equal(image_source_open(root, NULL, &src), 0);
	assert_int_equal(image_source_find(src, "v1", &img), -EBADMSG);
	assert_non_null(strstr(last_log, "digest mismatch"));
	assert_non_null(strstr(last_log, m1));
	/* Corrupt a layer blob (same size): caught by the walker. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", root, ls[1].dg + 7);
	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "\0", 1, st.st_size - 1), 1);
	close(fd);
	assert_int_equal(image_source_find(src, "v2", &img), 0);
	assert_int_equal(walk_all(img, NULL), -EBADMSG);
	/* Missing layer blob. */
	unlink(path);
	assert_int_equal(walk_all(img, NULL), -ENOENT);
	image_destroy(img);
	/* Manifest pointing at a missing config blob. */
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", root, m2 + 7);
	{
		char buf[4096];
		ssize_t n;
		char *c;

		fd = open(path, O_RDONLY);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n] = 0;
		c = strstr(buf, "\"digest\":\"sha256:") + 17;
		memset(c, 'a', 64);
		assert_int_equal(unlink(path), 0);
		put_blob(buf, (size_t)n, m2);
		snprintf(buf, sizeof(buf),
			 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
			 "vnd.oci.image.manifest.v1+json\","
			 "\"digest\":\"%s\",\"size\":%zd}]}",
			 m2, n);
		write_file("index.json", buf, strlen(buf));
	}
	image_source_destroy(src);
	assert_int_equal(image_source_open(root, NULL, &src), 0);
	assert_int_equal(image_source_find(src, NULL, &img), -ENOENT);
	assert_non_null(strstr(last_log, "blobs/sha256/aaaa"));
	image_source_destroy(src);
}

static void test_diff_id_mismatch(void **state)
{
	struct layer l[2];
	char m[IMAGE_DIGEST_STRLEN], idx[1024];
	size_t len;
	struct image_source *src;
	struct image *img;

	make_layer(&l[0], "x", false);
	make_layer(&l[1], "y", false);
	strcpy(l[0].diff, l[1].diff); /* config names the wrong DiffID */
	make_manifest(l, 1, "amd64", m, &len);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
		 "vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu}]}",
		 m, len);
	write_file("index.json", idx, strlen(idx));
	write_layout_files();
	assert_int_equal(image_source_open(root, NULL, &src), 0);
	assert_int_equal(image_source_find(src, NULL, &img), 0);
	assert_int_equal(walk_all(img, NULL), -EBADMSG);
	assert_non_null(strstr(last_log, "DiffID mismatch"));
	image_destroy(img);
	image_source_destroy(src);
}

#define D64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CFG                                                                                        \
	"\"config\":{\"mediaType\":\"application/"                                                 \
	"vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" D64 "\",\"size\":2}"
#define LAYER                                                                                      \
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" D64       \
	"\",\"size\":0}"

static void test_json_validation(void **state)
{
	static const struct {
		const char *kind, *json;
		int want;
	} cases[] = {
	    {"manifest", "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER "],\"x\":[1,2]}", 0},
	    {"manifest", "{\"schemaVersion\":1," CFG ",\"layers\":[]}", -ENOTSUP},
	    {"manifest", "{\"schemaVersion\":\"2\"," CFG ",\"layers\":[]}", -EBADMSG},
	    {"manifest", "{\"schemaVersion\":2,\"layers\":[]}", -EBADMSG},
	    {"manifest", "{\"schemaVersion\":2," CFG "}", -EBADMSG},
	    {"manifest",
	     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," CFG
	     ",\"layers\":[]}",
	     -EBADMSG},
	    {"manifest",
	     "{\"schemaVersion\":2," CFG
	     ",\"layers\":[{\"mediaType\":\"application/x-foo\",\"digest\":\"sha256:" D64
	     "\",\"size\":1}]}",
	     -ENOTSUP},
	    {"manifest",
	     "{\"schemaVersion\":2," CFG ",\"layers\":[{\"mediaType\":\"application/"
					 "vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" D64
	     "\",\"size\":-1}]}",
	     -EBADMSG},
	    {"manifest",
	     "{\"schemaVersion\":2," CFG
	     ",\"layers\":[{\"mediaType\":\"application/"
	     "vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:E3B0\",\"size\":1}]}",
	     -EBADMSG},
	    {"manifest",
	     "{\"schemaVersion\":2," CFG
	     ",\"layers\":[{\"mediaType\":\"application/"
	     "vnd.oci.image.layer.v1.tar\",\"digest\":\"sha512:abcd\",\"size\":1}]}",
	     -ENOTSUP},
	    {"manifest",
	     "{\"schemaVersion\":2," CFG ",\"layers\":[{\"mediaType\":\"application/"
					 "vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" D64
	     "\",\"size\":\"1\"}]}",
	     -EBADMSG},
	    {"manifest",
	     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
	     "vnd.example+json\",\"digest\":\"sha256:" D64 "\",\"size\":2},\"layers\":[]}",
	     -ENOTSUP},
	    {"manifest", "{\"schemaVersion\":2," CFG ",\"layers\":[]} trailing", -EBADMSG},
	    {"manifest", "[1,2]", -EBADMSG},
	    {"manifest", "{\"schemaVersion\":2,", -EBADMSG},
	    {"manifest", "", -EBADMSG},
	    {"index", "{\"schemaVersion\":2,\"manifests\":[" LAYER "]}", 0},
	    {"index", "{\"schemaVersion\":2,\"manifests\":{}}", -EBADMSG},
	    {"index",
	     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a\",\"digest\":\"sha256:" D64
	     "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
	     -EBADMSG},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_"
	     "ids\":[\"sha256:" D64 "\"]}}",
	     0},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_"
	     "ids\":[\"md5:x\"]}}",
	     -EBADMSG},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"foo\",\"diff_"
	     "ids\":[]}}",
	     -EBADMSG},
	    {"config", "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
	     -EBADMSG},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_"
	     "ids\":[]},\"config\":{\"Cmd\":\"sh\"}}",
	     -EBADMSG},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_"
	     "ids\":[]},\"config\":{\"Labels\":{\"a\":1}}}",
	     -EBADMSG},
	    {"config",
	     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_"
	     "ids\":[]},\"history\":[{\"empty_layer\":\"yes\"}]}",
	     -EBADMSG},
	};
	char nul[] = "{\"schemaVersion\":2}\0{}";

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = image_json_validate(cases[i].kind, cases[i].json, strlen(cases[i].json));

		if (r != cases[i].want)
			fail_msg("case %zu (%s): got %d want %d: %s", i, cases[i].json, r,
				 cases[i].want, last_log);
	}
	assert_int_equal(image_json_validate("manifest", nul, sizeof(nul) - 1), -EBADMSG);
}

/* Write an archive file at path from a list of (name, type, data). */
struct member {
	const char *name;
	unsigned type;
	const char *data; /* symlink target for AE_IFLNK */
	size_t len;
};

static void write_archive(const char *path, const struct member *m, size_t n)
{
	struct mbuf tar = {0};
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	int fd;

	for (size_t i = 0; i < n; i++)
		tar_add(a, m[i].name, m[i].type, m[i].type == AE_IFDIR ? 0755 : 0644, m[i].data,
			m[i].len, m[i].data);
	tar_close(a);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, tar.p, tar.len), (ssize_t)tar.len);
	close(fd);
	free(tar.p);
}

static void *slurp(const char *rel, size_t *len)
{
	char path[512];
	struct stat st;
	void *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	fstat(fd, &st);
	buf = malloc((size_t)st.st_size + 1);
	assert_int_equal(strata_pread_full(fd, buf, (size_t)st.st_size, 0), 0);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int open_archive_members(const struct member *m, size_t n, enum image_source_kind kind)
{
	struct image_source_opts o = {.kind = kind};
	struct image_source *src = NULL;
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/x.tar", root);
	write_archive(path, m, n);
	r = image_source_open(path, &o, &src);
	image_source_destroy(src);
	return r;
}

static void test_oci_archive(void **state)
{
	struct layer ls[2];
	char m1[IMAGE_DIGEST_STRLEN], m2[IMAGE_DIGEST_STRLEN], path[512];
	char r1[128], r2[128], r3[128], r4[128], r5[128];
	struct image_source *src;
	struct image *img;
	struct member m[16];
	size_t n = 0, cnt = 0, len[8];
	void *data[8];
	const char *blobs[5];
	char cdg1[IMAGE_DIGEST_STRLEN], cdg2[IMAGE_DIGEST_STRLEN];

	build_two_images(ls, m1, m2);
	/* Config digests: read the manifests. */
	{
		size_t l;
		char *mj;

		snprintf(path, sizeof(path), "blobs/sha256/%s", m1 + 7);
		mj = slurp(path, &l);
		memcpy(cdg1, strstr(mj, "sha256:"), 71);
		cdg1[71] = 0;
		free(mj);
		snprintf(path, sizeof(path), "blobs/sha256/%s", m2 + 7);
		mj = slurp(path, &l);
		memcpy(cdg2, strstr(mj, "sha256:"), 71);
		cdg2[71] = 0;
		free(mj);
	}
	blobs[0] = m1;
	blobs[1] = m2;
	blobs[2] = ls[0].dg;
	blobs[3] = ls[1].dg;
	blobs[4] = cdg1;
	char *rels[5] = {r1, r2, r3, r4, r5};

	m[n++] = (struct member){"oci-layout", AE_IFREG, NULL, 0};
	data[cnt] = slurp("oci-layout", &len[cnt]);
	m[0].data = data[cnt];
	m[0].len = len[cnt++];
	m[n++] = (struct member){"blobs/", AE_IFDIR, NULL, 0};
	m[n++] = (struct member){"./blobs/sha256/", AE_IFDIR, NULL, 0};
	for (int i = 0; i < 5; i++) {
		snprintf(rels[i], 128, "blobs/sha256/%s", blobs[i] + 7);
		data[cnt] = slurp(rels[i], &len[cnt]);
		m[n++] = (struct member){rels[i], AE_IFREG, data[cnt], len[cnt]};
		cnt++;
	}
	char r6[128];

	snprintf(r6, sizeof(r6), "blobs/sha256/%s", cdg2 + 7);
	data[cnt] = slurp(r6, &len[cnt]);
	m[n++] = (struct member){r6, AE_IFREG, data[cnt], len[cnt]};
	cnt++;
	data[cnt] = slurp("index.json", &len[cnt]);
	m[n++] = (struct member){"index.json", AE_IFREG, data[cnt], len[cnt]};
	cnt++;

	snprintf(path, sizeof(path), "%s/x.tar", root);
	write_archive(path, m, n);
	if (image_source_open(path, NULL, &src))
		fail_msg("%s", last_log);
	assert_int_equal(image_source_kind(src), IMAGE_SRC_OCI_ARCHIVE);
	assert_int_equal(image_source_count(src), 2);
	assert_int_equal(image_source_find(src, "v2", &img), 0);
	assert_int_equal(walk_all(img, NULL), 0);
	image_destroy(img);
	image_source_destroy(src);

	/* Path escapes and anything unexpected are refused, naming the member. */
	struct member bad = m[n - 1];

	m[n - 1] = (struct member){"blobs/../../evil", AE_IFREG, "x", 1};
	assert_int_equal(open_archive_members(m, n, IMAGE_SRC_AUTO), -EBADMSG);
	assert_non_null(strstr(last_log, "\"blobs/../../evil\""));
	m[n - 1] = (struct member){"/index.json", AE_IFREG, "x", 1};
	assert_int_equal(open_archive_members(m, n, IMAGE_SRC_AUTO), -EBADMSG);
	m[n - 1] = (struct member){"index.json", AE_IFLNK, "/etc/passwd", 0};
	assert_int_equal(open_archive_members(m, n, IMAGE_SRC_AUTO), -EBADMSG);
	assert_non_null(strstr(last_log, "links are not allowed"));
	m[n - 1] = (struct member){"notes.txt", AE_IFREG, "x", 1};
	assert_int_equal(open_archive_members(m, n, IMAGE_SRC_AUTO), -EBADMSG);
	assert_non_null(strstr(last_log, "\"notes.txt\""));
	m[n - 1] = bad;
	m[n++] = bad; /* duplicate index.json */
	assert_int_equal(open_archive_members(m, n, IMAGE_SRC_AUTO), -EBADMSG);
	assert_non_null(strstr(last_log, "duplicate"));
	for (size_t i = 0; i < cnt; i++)
		free(data[i]);
}

static void test_docker_archive(void **state)
{
	struct mbuf tar = {0};
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_USTAR);
	struct image_digest d;
	char diff[IMAGE_DIGEST_STRLEN], cfg[2048], cname[600], man[2048], path[512], lname[80],
	    lname2[80];
	struct image_source *src;
	struct image *img;
	struct member m[8];
	size_t n;

	tar_add(a, "etc/os-release", AE_IFREG, 0644, "ID=test\n", 8, NULL);
	tar_close(a);
	image_sha256_buf(tar.p, tar.len, &d);
	image_digest_format(&d, diff);
	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":null,"
		 "\"Entrypoint\":[\"/init\"]},"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
		 diff, diff);
	image_sha256_buf(cfg, strlen(cfg), &d);
	image_digest_format(&d, path);
	snprintf(cname, sizeof(cname), "%s.json", path + 7);
	snprintf(lname, sizeof(lname), "%s/layer.tar",
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	snprintf(lname2, sizeof(lname2), "%s.tar", diff + 7);
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"%s\",\"RepoTags\":[\"test/img:1\",\"test/img:latest\"],"
		 "\"Layers\":[\"%s\",\"%s\"]}]",
		 cname, lname, lname2);
	n = 0;
	m[n++] = (struct member){cname, AE_IFREG, cfg, strlen(cfg)};
	m[n++] = (struct member){lname2, AE_IFREG, (char *)tar.p, tar.len};
	m[n++] = (struct member){lname, AE_IFLNK, NULL, 0};
	m[n++] = (struct member){"manifest.json", AE_IFREG, man, strlen(man)};
	char target[128];

	snprintf(target, sizeof(target), "../%s", lname2);
	m[2].data = target;
	snprintf(path, sizeof(path), "%s/d.tar", root);
	write_archive(path, m, n);
	assert_int_equal(image_source_open(path, NULL, &src), 0);
	assert_int_equal(image_source_kind(src), IMAGE_SRC_DOCKER_ARCHIVE);
	assert_string_equal(image_source_ref(src, 0), "test/img:1");
	assert_int_equal(image_source_find(src, "test/img:latest", &img), 0);
	assert_null(image_manifest_raw(img, &n));
	assert_true(image_config(img)->has_entrypoint);
	assert_false(image_config(img)->has_cmd);
	assert_int_equal(image_layer_count(img), 2);
	assert_int_equal(walk_all(img, NULL), 0);
	image_destroy(img);
	image_source_destroy(src);

	/* A Layers entry escaping the archive directory. */
	snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"Layers\":[\"../../etc/passwd\",\"%s\"]}]",
		 cname, lname2);
	m[3].len = strlen(man);
	write_archive(path, m, 4);
	assert_int_equal(image_source_open(path, NULL, &src), -EBADMSG);
	assert_non_null(strstr(last_log, "../../etc/passwd"));
	/* A symlink pointing anywhere but ../<hex>.tar. */
	snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"Layers\":[\"%s\",\"%s\"]}]", cname, lname,
		 lname2);
	m[3].len = strlen(man);
	m[2].data = "/etc/passwd";
	write_archive(path, m, 4);
	assert_int_equal(image_source_open(path, NULL, &src), -EBADMSG);
	assert_non_null(strstr(last_log, "links are not allowed"));
	free(tar.p);
}

static void test_rootfs_tar(void **state)
{
	struct mbuf tar = {0}, gz = {0};
	struct archive *a = tar_new(&tar, ARCHIVE_FORMAT_TAR_GNUTAR);
	struct image_source *src;
	struct image *img;
	char path[512];
	size_t n = 0;
	int fd;

	tar_add(a, "./", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "./bin/", AE_IFDIR, 0755, NULL, 0, NULL);
	tar_add(a, "./bin/sh", AE_IFREG, 0755, "#!", 2, NULL);
	tar_close(a);
	gzip_buf(&tar, &gz);
	snprintf(path, sizeof(path), "%s/rootfs.tar.gz", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, gz.p, gz.len), (ssize_t)gz.len);
	close(fd);
	assert_int_equal(image_source_open(path, NULL, &src), 0);
	assert_int_equal(image_source_kind(src), IMAGE_SRC_ROOTFS_TAR);
	assert_int_equal(image_source_find(src, NULL, &img), 0);
	assert_null(image_config_desc(img));
	assert_int_equal(image_layer_count(img), 1);
	assert_int_equal(walk_all(img, &n), 0);
	assert_int_equal(n, 3);
	image_destroy(img);
	image_source_destroy(src);
	/* Not an archive at all. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hello, world, this is no tar", 28), 28);
	close(fd);
	assert_int_equal(image_source_open(path, NULL, &src), -EBADMSG);
	assert_int_equal(image_source_open("/nonexistent/x", NULL, &src), -ENOENT);
	free(tar.p);
	free(gz.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_index_platform, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_digest_and_missing_blobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_diff_id_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_archive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rootfs_tar, setup, teardown),
	};

	strata_log_init("test_oci", STRATA_LOG_ERR);
	strata_log_set_sink(capture_sink, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
