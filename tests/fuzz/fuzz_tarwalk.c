// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: a layer blob (tar, tar+gzip or tar+zstd, by magic)
 * through the walker.  Oracle: whenever the walk succeeds, the tar rebuilt
 * from the skeleton and the data read must hash to the DiffID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "strata/image.h"
#include "strata/log.h"

struct src {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t rd(void *arg, void *buf, size_t len)
{
	struct src *s = arg;
	size_t n = s->len - s->pos;

	/* Odd short reads exercise the decompressors' refill paths. */
	if (n > 4093)
		n = 4093;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

struct chunk {
	uint64_t index;
	uint8_t *data;
	size_t len;
};

struct store {
	struct chunk *c;
	size_t n;
};

static int data_cb(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *pa)
{
	struct store *st = arg;

	for (size_t i = 0; i < st->n; i++)
		if (st->c[i].index == index)
			return st->c[i].len ? put(pa, st->c[i].data, st->c[i].len) : 0;
	return -2;
}

static int out_cb(void *arg, const void *buf, size_t len)
{
	image_sha256_update(arg, buf, len);
	return 0;
}

/* Rejections are the normal case: keep their messages off stderr. */
static void quiet(enum strata_log_level lvl, const char *line, void *arg)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct image_tarwalk_opts o = {
	    .comp = IMAGE_COMP_AUTO, .name = "fuzz", .expect_blob_size = -1};
	struct src s = {data, size, 0};
	struct store st = {0};
	struct image_tarwalk *tw;
	const struct image_entry *e;
	struct image_skeleton *sk = NULL;
	struct image_digest diff, re;
	struct image_sha256 *h;
	uint8_t buf[8192];
	int r;

	if (!init) {
		strata_log_init("fuzz", STRATA_LOG_ERR);
		strata_log_set_sink(quiet, NULL);
		init = 1;
	}
	if (image_tarwalk_create(&o, rd, &s, &tw))
		return 0;
	while ((r = image_tarwalk_next(tw, &e)) == 1) {
		ssize_t n;
		struct chunk *c = NULL;

		if (e->flags & IMAGE_EF_DATA) {
			st.c = realloc(st.c, (st.n + 1) * sizeof(*st.c));
			c = &st.c[st.n++];
			c->index = e->index;
			c->data = NULL;
			c->len = 0;
		}
		while ((n = image_tarwalk_read(tw, buf, sizeof(buf))) > 0) {
			if (c) {
				c->data = realloc(c->data, c->len + (size_t)n);
				memcpy(c->data + c->len, buf, (size_t)n);
				c->len += (size_t)n;
			}
		}
		if (n < 0)
			break;
	}
	if (r == 0 && !image_tarwalk_result(tw, &diff, NULL, NULL, NULL, &sk)) {
		void *ser;
		size_t serlen;
		struct image_skeleton *sk2;

		image_sha256_create(&h);
		if (image_tar_rebuild(sk, data_cb, &st, out_cb, h))
			abort();
		image_sha256_final(h, &re);
		image_sha256_destroy(h);
		if (!image_digest_equal(&re, &diff))
			abort(); /* the skeleton lost or invented bytes */
		if (image_skeleton_serialize(sk, &ser, &serlen) ||
		    image_skeleton_parse(ser, serlen, &sk2))
			abort();
		image_skeleton_destroy(sk2);
		free(ser);
	}
	image_skeleton_destroy(sk);
	image_tarwalk_destroy(tw);
	for (size_t i = 0; i < st.n; i++)
		free(st.c[i].data);
	free(st.c);
	return 0;
}
