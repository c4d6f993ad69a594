// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Content ids: SHA-256 through OpenSSL's EVP interface (which picks SHA-NI
 * or the best assembly for the CPU), the "sha256:<hex>" text form, and XXH3
 * for in-memory tables.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "strata/dedup.h"
#include "strata/log.h"
#include "strata/util.h"

struct dedup_hasher {
	EVP_MD_CTX *ctx;
};

/*
 * Fetched once: an explicit fetch keeps OpenSSL 3 from looking the
 * algorithm up in its provider store on every digest.  The EVP_MD lives as
 * long as the process (it is reachable from here, so not a leak).
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

/* Log libcrypto's reason and return the errno callers get. */
static int crypto_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[256];

	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	log_err("SHA-256: %s failed: %s", what, e ? msg : "no reason given");
	return -EIO;
}

int dedup_cid_compute(const void *buf, size_t len, struct dedup_cid *out)
{
	const EVP_MD *md = sha256();
	unsigned int n = 0;

	if (!md)
		return crypto_error("fetch");
	if (!EVP_Digest(buf, len, out->b, &n, md, NULL) || n != DEDUP_CID_LEN)
		return crypto_error("digest");
	return 0;
}

int dedup_hasher_create(struct dedup_hasher **out)
{
	struct dedup_hasher *h;
	int ret;

	if (!sha256())
		return crypto_error("fetch");
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx) {
		free(h);
		return -ENOMEM;
	}
	ret = dedup_hasher_reset(h);
	if (ret) {
		dedup_hasher_destroy(h);
		return ret;
	}
	*out = h;
	return 0;
}

int dedup_hasher_reset(struct dedup_hasher *h)
{
	if (!EVP_DigestInit_ex(h->ctx, sha256(), NULL))
		return crypto_error("init");
	return 0;
}

int dedup_hasher_update(struct dedup_hasher *h, const void *buf, size_t len)
{
	if (!EVP_DigestUpdate(h->ctx, buf, len))
		return crypto_error("update");
	return 0;
}

int dedup_hasher_final(struct dedup_hasher *h, struct dedup_cid *out)
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(h->ctx, out->b, &n) || n != DEDUP_CID_LEN)
		return crypto_error("final");
	return dedup_hasher_reset(h);
}

void dedup_hasher_destroy(struct dedup_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

char *dedup_cid_format(const struct dedup_cid *cid, char out[DEDUP_CID_STR_SIZE])
{
	memcpy(out, DEDUP_CID_PREFIX, sizeof(DEDUP_CID_PREFIX) - 1);
	strata_hex(cid->b, DEDUP_CID_LEN, out + sizeof(DEDUP_CID_PREFIX) - 1);
	return out;
}

/* Lowercase only, as OCI digests: one id must have one spelling. */
static int lower_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int dedup_cid_parse_n(const char *s, size_t len, struct dedup_cid *out)
{
	const size_t plen = sizeof(DEDUP_CID_PREFIX) - 1;
	struct dedup_cid cid;

	if (!s || len != DEDUP_CID_STR_LEN || memcmp(s, DEDUP_CID_PREFIX, plen))
		return -EINVAL;
	s += plen;
	for (size_t i = 0; i < DEDUP_CID_LEN; i++) {
		int hi = lower_hex(s[2 * i]), lo = lower_hex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		cid.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = cid;
	return 0;
}

int dedup_cid_parse(const char *s, struct dedup_cid *out)
{
	if (!s)
		return -EINVAL;
	/* strnlen: an overlong string is rejected without reading all of it. */
	return dedup_cid_parse_n(s, strnlen(s, DEDUP_CID_STR_LEN + 1), out);
}

int dedup_cid_cmp(const struct dedup_cid *a, const struct dedup_cid *b)
{
	return memcmp(a->b, b->b, DEDUP_CID_LEN);
}

bool dedup_cid_equal(const struct dedup_cid *a, const struct dedup_cid *b)
{
	return !memcmp(a->b, b->b, DEDUP_CID_LEN);
}

uint64_t dedup_hash64(const void *buf, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(buf, len, seed);
}

uint64_t dedup_cid_hash(const struct dedup_cid *cid, uint64_t seed)
{
	/*
	 * Not just the first 8 bytes of the SHA-256: ids can come from
	 * outside, and picking ids that share their leading bits is cheap.
	 */
	return XXH3_64bits_withSeed(cid->b, DEDUP_CID_LEN, seed);
}
