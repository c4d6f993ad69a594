// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: layer skeletons and the byte-exact tar rebuild.  A skeleton is
 * the uncompressed layer minus regular-file data, plus the holes where that
 * data goes; rebuilding interleaves the two.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/image-internal.h"

#define SKEL_MAGIC "STSKEL01"
#define SKEL_HDR 24
#define SKEL_HOLE 24

int skel_append(struct image_skeleton *sk, const void *buf, size_t len)
{
	if (sk->len + len > sk->cap) {
		uint64_t cap = MAX(sk->cap * 2, sk->len + len + 65536);
		uint8_t *b = realloc(sk->bytes, (size_t)cap);

		if (!b)
			return -ENOMEM;
		sk->bytes = b;
		sk->cap = cap;
	}
	memcpy(sk->bytes + sk->len, buf, len);
	sk->len += len;
	return 0;
}

int skel_add_hole(struct image_skeleton *sk, uint64_t size, uint64_t index)
{
	if (sk->nholes == sk->holes_cap) {
		size_t cap = sk->holes_cap ? sk->holes_cap * 2 : 64;
		struct skel_hole *h = realloc(sk->holes, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		sk->holes = h;
		sk->holes_cap = cap;
	}
	sk->holes[sk->nholes++] = (struct skel_hole){sk->len, size, index};
	return 0;
}

void image_skeleton_destroy(struct image_skeleton *sk)
{
	if (!sk)
		return;
	free(sk->bytes);
	free(sk->holes);
	free(sk);
}

uint64_t image_skeleton_bytes(const struct image_skeleton *sk)
{
	return sk->len;
}

size_t image_skeleton_nholes(const struct image_skeleton *sk)
{
	return sk->nholes;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int image_skeleton_parts(const struct image_skeleton *sk, void **head, size_t *head_len,
			 const void **bytes)
{
	size_t len = SKEL_HDR + SKEL_HOLE * sk->nholes;
	uint8_t *b = malloc(len), *p;

	if (!b)
		return -ENOMEM;
	memcpy(b, SKEL_MAGIC, 8);
	put64(b + 8, sk->nholes);
	put64(b + 16, sk->len);
	p = b + SKEL_HDR;
	for (size_t i = 0; i < sk->nholes; i++, p += SKEL_HOLE) {
		put64(p, sk->holes[i].off);
		put64(p + 8, sk->holes[i].size);
		put64(p + 16, sk->holes[i].index);
	}
	*head = b;
	*head_len = len;
	*bytes = sk->bytes;
	return 0;
}

int image_skeleton_serialize(const struct image_skeleton *sk, void **bufp, size_t *lenp)
{
	const void *bytes;
	size_t hlen;
	void *head;
	uint8_t *b;

	if (image_skeleton_parts(sk, &head, &hlen, &bytes))
		return -ENOMEM;
	b = realloc(head, hlen + (size_t)sk->len);
	if (!b) {
		free(head);
		return -ENOMEM;
	}
	if (sk->len)
		memcpy(b + hlen, bytes, (size_t)sk->len);
	*bufp = b;
	*lenp = hlen + (size_t)sk->len;
	return 0;
}

int image_skeleton_parse(const void *buf, size_t len, struct image_skeleton **out)
{
	const uint8_t *b = buf;
	struct image_skeleton *sk;
	uint64_t nholes, nbytes, prev_off = 0, prev_idx = 0;

	if (len < SKEL_HDR || memcmp(b, SKEL_MAGIC, 8))
		goto bad;
	nholes = get64(b + 8);
	nbytes = get64(b + 16);
	if (nholes > (len - SKEL_HDR) / SKEL_HOLE || nbytes != len - SKEL_HDR - SKEL_HOLE * nholes)
		goto bad;
	sk = calloc(1, sizeof(*sk));
	if (!sk)
		return -ENOMEM;
	sk->holes = calloc(nholes + 1, sizeof(*sk->holes));
	sk->bytes = malloc((size_t)nbytes + 1);
	if (!sk->holes || !sk->bytes) {
		image_skeleton_destroy(sk);
		return -ENOMEM;
	}
	sk->nholes = sk->holes_cap = (size_t)nholes;
	sk->len = sk->cap = nbytes;
	for (size_t i = 0; i < nholes; i++) {
		const uint8_t *p = b + SKEL_HDR + SKEL_HOLE * i;
		struct skel_hole *h = &sk->holes[i];

		h->off = get64(p);
		h->size = get64(p + 8);
		h->index = get64(p + 16);
		/* Holes are in stream order with increasing entry numbers. */
		if (h->off > nbytes || h->off < prev_off || (i && h->index <= prev_idx)) {
			image_skeleton_destroy(sk);
			goto bad;
		}
		prev_off = h->off;
		prev_idx = h->index;
	}
	memcpy(sk->bytes, b + SKEL_HDR + SKEL_HOLE * nholes, (size_t)nbytes);
	*out = sk;
	return 0;
bad:
	log_err("layer skeleton: malformed (%zu bytes)", len);
	return -EBADMSG;
}

struct count_put {
	image_put_fn out;
	void *out_arg;
	uint64_t written, limit;
};

static int count_put(void *arg, const void *buf, size_t len)
{
	struct count_put *c = arg;

	if (c->written + len > c->limit)
		return -EBADMSG;
	c->written += len;
	return len ? c->out(c->out_arg, buf, len) : 0;
}

int image_tar_rebuild(const struct image_skeleton *sk, image_data_fn data, void *arg,
		      image_put_fn out, void *out_arg)
{
	uint64_t pos = 0;
	int r;

	for (size_t i = 0; i < sk->nholes; i++) {
		const struct skel_hole *h = &sk->holes[i];
		struct count_put c = {out, out_arg, 0, h->size};

		if (h->off > pos && (r = out(out_arg, sk->bytes + pos, (size_t)(h->off - pos))))
			return r;
		pos = h->off;
		r = data(arg, h->index, h->size, count_put, &c);
		if (r == -EBADMSG || (!r && c.written != h->size)) {
			log_err("tar rebuild: entry %llu: data has %s bytes than its %llu",
				(unsigned long long)h->index,
				c.written < h->size ? "fewer" : "more",
				(unsigned long long)h->size);
			return -EBADMSG;
		}
		if (r)
			return r;
	}
	if (sk->len > pos)
		return out(out_arg, sk->bytes + pos, (size_t)(sk->len - pos));
	return 0;
}
