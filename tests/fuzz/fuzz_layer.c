// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for layer indexes (build: tests/fuzz/build-layer-fuzzers.sh).
 * First input byte even: the rest is a layer tar, taken through the tar
 * walker into a layer index (import's path), then the whole tree is read
 * back through the read API and the tar rebuilt; a rebuilt tar whose
 * SHA-256 is not the DiffID aborts.  Odd: the rest patches a valid index
 * (built once from a tar made here: 3-byte offset, 1-byte value, ...), as
 * a damaged store would hand it to the reader, which must then fail
 * cleanly or work: never crash or hang.
 * The store lives in /dev/shm and is re-created every few hundred inputs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"

static struct store *st;
static struct chunkstore *cs;
static char path[64];
static unsigned runs;

static void remove_store(void)
{
	unlink(path);
}

static void reset_store(void)
{
	struct store_create_opts co = { .size = 64 << 20, .segment_size = 1 << 20 };
	struct store_open_opts oo = { .direct = 0 };

	chunkstore_destroy(cs);
	store_close(st);
	snprintf(path, sizeof(path), "/dev/shm/fuzz-layer-%d.img", (int)getpid());
	unlink(path);
	if (!runs || runs == 1)
		atexit(remove_store);
	co.path = oo.path = path;
	if (store_create(&co) || store_open(&oo, &st) || chunkstore_create(st, NULL, &cs))
		abort();
}

struct rd {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct rd *r = arg;
	size_t n = r->len - r->pos < len ? r->len - r->pos : len;

	memcpy(buf, r->p + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static ssize_t tw_read(void *arg, void *buf, size_t len)
{
	return image_tarwalk_read(arg, buf, len);
}

static unsigned budget; /* bounds the walk of a hostile index */

static void walk(struct layer *l, uint64_t ino, int depth);

static int dirent_cb(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode,
		     uint64_t next)
{
	struct layer *l = arg;
	uint64_t again;

	if (!budget--)
		return 1;
	if (len < 256) {
		char n[256];

		memcpy(n, name, len);
		n[len] = 0;
		(void)layer_lookup(l, ino, n, len, &again);
	}
	walk(l, ino, 1);
	return 0;
}

static void walk(struct layer *l, uint64_t ino, int depth)
{
	struct layer_attr a;
	char buf[4096];
	size_t len;

	if (layer_getattr(l, ino, &a))
		return;
	(void)layer_listxattr(l, ino, buf, sizeof(buf), &len);
	(void)layer_getxattr(l, ino, "user.x", buf, sizeof(buf), &len);
	if (S_ISLNK(a.mode))
		(void)layer_readlink(l, ino, buf, sizeof(buf), &len);
	if (S_ISREG(a.mode)) {
		(void)layer_read(l, ino, buf, sizeof(buf), 0);
		(void)layer_read(l, ino, buf, sizeof(buf), a.size > 100 ? a.size - 100 : 0);
	}
	/* The root's children only: a hostile index may link directories in a loop. */
	if (S_ISDIR(a.mode) && depth == 0)
		(void)layer_readdir(l, ino, 0, dirent_cb, l);
}

static int hash_put(void *arg, const void *buf, size_t len)
{
	image_sha256_update(arg, buf, len);
	return 0;
}

static void check(struct image_digest *diff, bool must_match)
{
	struct image_sha256 *h;
	struct image_digest got;
	struct layer *l;
	int r;

	if (layer_open(cs, diff, &l))
		return;
	budget = 5000;
	walk(l, LAYER_ROOT_INO, 0);
	if (image_sha256_create(&h) == 0) {
		r = layer_rebuild_tar(l, hash_put, h);
		image_sha256_final(h, &got);
		image_sha256_destroy(h);
		if (must_match && (r || !image_digest_equal(&got, diff)))
			abort();
	}
	layer_close(l);
	layer_delete(st, diff);
}

/* ---- the valid index that odd inputs patch ---- */

static uint8_t *golden;
static size_t golden_len;

static la_ssize_t grow_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct rd *m = arg;
	uint8_t *p = realloc((void *)m->p, m->len + n);

	if (!p)
		return -1;
	memcpy(p + m->len, buf, n);
	m->p = p;
	m->len += n;
	return (la_ssize_t)n;
}

static void add(struct archive *a, const char *path, unsigned type, const char *data,
		const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_uid(e, 100000);
	archive_entry_set_mtime(e, 1700000000, 5);
	archive_entry_set_size(e, type == AE_IFREG && data && !link ? (la_int64_t)strlen(data) : 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	archive_entry_xattr_add_entry(e, "user.x", "v", 1);
	archive_write_header(a, e);
	if (type == AE_IFREG && data && !link)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

static int make_golden(void)
{
	struct rd tar = { 0 };
	struct archive *a = archive_write_new();
	struct image_tarwalk_opts o = { .comp = IMAGE_COMP_NONE, .name = "golden",
					.expect_blob_size = -1 };
	struct image_tarwalk *tw;
	struct layer_builder *b;
	struct image_skeleton *sk;
	const struct image_entry *e;
	struct image_digest diff, blob;
	uint64_t bsz, tsz, total;
	char name[64];
	int r;

	archive_write_set_format_pax_restricted(a);
	archive_write_open(a, &tar, NULL, grow_cb, NULL);
	add(a, "d/", AE_IFDIR, NULL, NULL);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "d/f%02d", i);
		add(a, name, AE_IFREG, name, NULL);
	}
	add(a, "d/sub/x", AE_IFREG, "x", NULL);
	add(a, "d/h", AE_IFREG, NULL, "d/f01");
	add(a, "l", AE_IFLNK, NULL, "/etc/passwd");
	add(a, "d/.wh.gone", AE_IFREG, NULL, NULL);
	archive_write_close(a);
	archive_write_free(a);
	struct rd r0 = { tar.p, tar.len, 0 };

	if (image_tarwalk_create(&o, mem_read, &r0, &tw) || layer_builder_create(cs, NULL, &b))
		abort();
	while ((r = image_tarwalk_next(tw, &e)) == 1)
		if (layer_builder_add(b, e, tw_read, tw))
			abort();
	if (r || image_tarwalk_result(tw, &diff, &blob, &bsz, &tsz, &sk) ||
	    layer_builder_commit(b, &diff, tsz, sk, NULL))
		abort();
	image_skeleton_destroy(sk);
	layer_builder_destroy(b);
	image_tarwalk_destroy(tw);
	free((void *)tar.p);
	/* Read the index back, piece by piece. */
	{
		struct layer *l;
		struct layer_info li;

		if (layer_open(cs, &diff, &l))
			abort();
		layer_get_info(l, &li);
		layer_close(l);
		total = li.index_bytes;
		golden = malloc(total);
		for (uint32_t p = 0; p < li.npieces; p++) {
			struct store_key k;
			size_t len;

			layer_piece_key(&diff, p, &k);
			if (store_get(st, &k, golden + (size_t)p * LAYER_PIECE_SIZE,
				      total - (size_t)p * LAYER_PIECE_SIZE, &len, NULL))
				abort();
		}
		golden_len = total;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_digest diff;

	if (size < 1)
		return 0;
	if (!st || ++runs % 300 == 0)
		reset_store();
	strata_log_init("fuzz_layer", STRATA_LOG_ERR + 0);
	strata_log_set_sink(NULL, NULL);
	if (!(data[0] & 1)) {
		struct image_tarwalk_opts o = { .comp = IMAGE_COMP_AUTO, .name = "fuzz",
						.expect_blob_size = -1 };
		struct rd r = { data + 1, size - 1, 0 };
		struct image_tarwalk *tw = NULL;
		struct layer_builder *b = NULL;
		struct image_skeleton *sk = NULL;
		const struct image_entry *e;
		struct image_digest blob;
		uint64_t bsz, tsz;
		int ret;

		if (image_tarwalk_create(&o, mem_read, &r, &tw) ||
		    layer_builder_create(cs, NULL, &b))
			goto out;
		while ((ret = image_tarwalk_next(tw, &e)) == 1)
			if (layer_builder_add(b, e, tw_read, tw))
				goto out;
		if (ret || image_tarwalk_result(tw, &diff, &blob, &bsz, &tsz, &sk) ||
		    layer_builder_commit(b, &diff, tsz, sk, NULL))
			goto out;
		check(&diff, true);
out:
		image_skeleton_destroy(sk);
		layer_builder_destroy(b);
		image_tarwalk_destroy(tw);
	} else {
		/* A valid index with bytes changed, as pieces under a fixed DiffID. */
		size_t len, off = 0;
		uint32_t piece = 0;
		uint8_t *copy;

		if (!golden && make_golden())
			abort();
		len = golden_len;
		copy = malloc(len);
		if (!copy)
			return 0;
		memcpy(copy, golden, len);
		for (size_t i = 1; i + 4 <= size; i += 4) {
			size_t at = ((size_t)data[i] | (size_t)data[i + 1] << 8 |
				     (size_t)data[i + 2] << 16) % len;

			if (at < 16 || at >= 48) /* keep the DiffID so the header is taken */
				copy[at] = data[i + 3];
		}
		memset(&diff, 0x5a, sizeof(diff));
		memcpy(&diff, golden + 16, sizeof(diff));
		for (uint32_t i = 0; i < 64; i++) {
			struct store_key k;

			layer_piece_key(&diff, i, &k);
			store_delete(st, &k);
		}
		do {
			size_t n = len - off < LAYER_PIECE_SIZE ? len - off : LAYER_PIECE_SIZE;
			struct store_key k;

			layer_piece_key(&diff, piece++, &k);
			store_put(st, STORE_REC_META, &k, copy + off, n, 0, LAYER_META_KIND);
			off += n;
		} while (off < len && piece < 64);
		free(copy);
		check(&diff, false);
	}
	return 0;
}
