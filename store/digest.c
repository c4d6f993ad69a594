// SPDX-License-Identifier: GPL-2.0-or-later
/* store/: SHA-256 streaming (OpenSSL EVP) and OCI digest strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "strata/image.h"
#include "strata/util.h"

struct image_sha256 {
	EVP_MD_CTX *ctx;
};

int image_sha256_create(struct image_sha256 **out)
{
	struct image_sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

void image_sha256_update(struct image_sha256 *h, const void *buf, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, buf, len);
}

void image_sha256_final(struct image_sha256 *h, struct image_digest *out)
{
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, out->sha256, &n);
}

void image_sha256_reset(struct image_sha256 *h)
{
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void image_sha256_destroy(struct image_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void image_sha256_buf(const void *buf, size_t len, struct image_digest *out)
{
	unsigned int n = 0;

	EVP_Digest(buf, len, out->sha256, &n, EVP_sha256(), NULL);
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int image_digest_parse(const char *s, struct image_digest *out)
{
	const char *colon;
	size_t alen;

	if (!s)
		return -EINVAL;
	colon = strchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	alen = (size_t)(colon - s);
	if (alen == 6 && !memcmp(s, "sha256", 6)) {
		if (strlen(colon + 1) != 64 || !is_lower_hex(colon + 1, 64))
			return -EINVAL;
		return strata_unhex(colon + 1, out->sha256, IMAGE_DIGEST_LEN);
	}
	/* The OCI grammar: algorithm [a-z0-9]+([+._-][a-z0-9]+)*, encoded [a-zA-Z0-9=_-]+. */
	for (size_t i = 0; i < alen; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' ||
		      c == '_' || c == '-'))
			return -EINVAL;
	}
	if (!colon[1])
		return -EINVAL;
	for (const char *p = colon + 1; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '=' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return -ENOTSUP;
}

char *image_digest_format(const struct image_digest *d, char *buf)
{
	memcpy(buf, "sha256:", 7);
	strata_hex(d->sha256, IMAGE_DIGEST_LEN, buf + 7);
	return buf;
}

bool image_digest_equal(const struct image_digest *a, const struct image_digest *b)
{
	return !memcmp(a->sha256, b->sha256, IMAGE_DIGEST_LEN);
}
