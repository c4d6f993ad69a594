// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The per-store dedup policy (compression, chunking) and the parsers of
 * its command-line forms.  The policy is one small META record (user word
 * DEDUP_POLICY_KIND) in one of two slots; see strata-store(5), STORE
 * POLICY, for the layout and why two slots make an update crash-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/dedup.h"
#include "strata/log.h"
#include "strata/util.h"

#define POLICY_MAGIC "STPOLCY1"
#define POLICY_LEN 48
#define POLICY_F_COMPRESS 0x1u
#define POLICY_F_CHUNKING 0x2u

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void dedup_store_policy_default(struct dedup_store_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->compress.algo = DEDUP_COMPRESS_ZSTD;
	p->compress.level = DEDUP_ZSTD_LEVEL_DEFAULT;
	dedup_chunker_params_default(&p->chunking);
}

/* Slot keys: SHA-256("strata-policy-v1" NUL slot). */
static int slot_key(unsigned slot, struct store_key *key)
{
	static const char tag[] = "strata-policy-v1";
	uint8_t buf[sizeof(tag) + 1];
	struct dedup_cid cid;
	int r;

	memcpy(buf, tag, sizeof(tag));
	buf[sizeof(tag)] = (uint8_t)slot;
	r = dedup_cid_compute(buf, sizeof(buf), &cid);
	if (!r)
		dedup_cid_to_key(&cid, key);
	return r;
}

static void encode(const struct dedup_store_policy *p, uint8_t *b)
{
	uint32_t flags = (p->has_compress ? POLICY_F_COMPRESS : 0) |
			 (p->has_chunking ? POLICY_F_CHUNKING : 0);

	memset(b, 0, POLICY_LEN);
	memcpy(b, POLICY_MAGIC, 8);
	put_le64(b + 8, p->generation);
	put_le32(b + 16, flags);
	put_le32(b + 20, (uint32_t)p->compress.algo);
	put_le32(b + 24, (uint32_t)p->compress.level);
	put_le32(b + 28, p->chunking.min_size);
	put_le32(b + 32, p->chunking.avg_size);
	put_le32(b + 36, p->chunking.max_size);
	put_le32(b + 40, p->chunking.whole_max);
}

/* Decode and validate; a set field that does not check out is -EBADMSG. */
static int decode(const uint8_t *b, size_t len, struct dedup_store_policy *p)
{
	uint32_t flags;
	struct dedup_zctx *z;

	if (len != POLICY_LEN || memcmp(b, POLICY_MAGIC, 8))
		return -EBADMSG;
	dedup_store_policy_default(p);
	p->generation = get_le64(b + 8);
	flags = get_le32(b + 16);
	if (flags & ~(POLICY_F_COMPRESS | POLICY_F_CHUNKING) || get_le32(b + 44))
		return -EBADMSG;
	if (flags & POLICY_F_COMPRESS) {
		p->has_compress = true;
		p->compress.algo = (enum dedup_compress_algo)get_le32(b + 20);
		p->compress.level = (int)get_le32(b + 24);
		/* dedup_zctx_create() is the one check of algorithm and level. */
		if (dedup_zctx_create(&p->compress, &z))
			return -EBADMSG;
		dedup_zctx_destroy(z);
	}
	if (flags & POLICY_F_CHUNKING) {
		p->has_chunking = true;
		p->chunking.min_size = get_le32(b + 28);
		p->chunking.avg_size = get_le32(b + 32);
		p->chunking.max_size = get_le32(b + 36);
		p->chunking.whole_max = get_le32(b + 40);
		if (dedup_chunker_params_check(&p->chunking))
			return -EBADMSG;
	}
	return 0;
}

/* Read slot; -ENOENT when empty, -EBADMSG when it does not decode. */
static int read_slot(struct store *s, unsigned slot, struct dedup_store_policy *p)
{
	struct store_rec_info info;
	struct store_key key;
	uint8_t buf[POLICY_LEN];
	size_t len = 0;
	int r = slot_key(slot, &key);

	if (r)
		return r;
	r = store_get(s, &key, buf, sizeof(buf), &len, &info);
	if (r == -ENOBUFS)
		r = -EBADMSG;
	if (!r && (info.type != STORE_REC_META || info.user != DEDUP_POLICY_KIND))
		r = -EBADMSG;
	if (!r)
		r = decode(buf, len, p);
	if (r == -EBADMSG)
		log_warn("store policy slot %u is unreadable; ignored", slot);
	return r;
}

/* Load both slots; *cur: the slot holding the newest policy, or -1. */
static int load(struct store *s, struct dedup_store_policy *out, int *cur)
{
	struct dedup_store_policy p[2];
	int r[2], bad = 0;

	*cur = -1;
	dedup_store_policy_default(out);
	for (unsigned i = 0; i < 2; i++) {
		r[i] = read_slot(s, i, &p[i]);
		if (r[i] == -EBADMSG)
			bad++;
		else if (r[i] && r[i] != -ENOENT)
			return r[i];
	}
	for (int i = 0; i < 2; i++)
		if (!r[i] && (*cur < 0 || p[i].generation > p[*cur].generation))
			*cur = i;
	if (*cur >= 0) {
		*out = p[*cur];
		return 0;
	}
	/* Nothing usable, but something was there: do not silently default. */
	return bad ? -EBADMSG : 0;
}

int dedup_store_policy_load(struct store *s, struct dedup_store_policy *out)
{
	int cur;

	if (!s || !out)
		return -EINVAL;
	return load(s, out, &cur);
}

int dedup_store_policy_save(struct store *s, struct dedup_store_policy *p)
{
	struct dedup_store_policy old;
	struct store_key key;
	uint8_t buf[POLICY_LEN];
	int cur, r, slot;

	if (!s || !p)
		return -EINVAL;
	if (p->has_chunking && dedup_chunker_params_check(&p->chunking))
		return -EINVAL;
	if (p->has_compress) {
		struct dedup_zctx *z;

		r = dedup_zctx_create(&p->compress, &z);
		if (r)
			return r;
		dedup_zctx_destroy(z);
	}
	r = load(s, &old, &cur);
	if (r == -EBADMSG)
		cur = -1; /* both slots bad: overwrite slot 0 */
	else if (r)
		return r;
	/*
	 * Write the slot that does not hold the current policy: until the
	 * new record is synced, the current one is still there to be found.
	 */
	slot = cur == 0 ? 1 : 0;
	r = slot_key((unsigned)slot, &key);
	if (r)
		return r;
	r = store_delete(s, &key);
	if (r && r != -ENOENT)
		return r;
	p->generation = (cur >= 0 ? old.generation : 0) + 1;
	encode(p, buf);
	r = store_put(s, STORE_REC_META, &key, buf, sizeof(buf), 0, DEDUP_POLICY_KIND);
	if (!r)
		r = store_sync(s);
	return r;
}

/* ---- command-line forms ---- */

const char *dedup_chunker_params_why(const struct dedup_chunker_params *p)
{
	if (p->avg_size < DEDUP_CHUNK_AVG_LIMIT_LO)
		return "the average chunk size must be at least 256 bytes";
	if (p->avg_size & (p->avg_size - 1))
		return "the average chunk size must be a power of two";
	if (p->min_size < DEDUP_CHUNK_MIN_LIMIT)
		return "the minimum chunk size must be at least 64 bytes";
	if (p->min_size >= p->avg_size)
		return "the minimum chunk size must be below the average";
	if (p->max_size <= p->avg_size)
		return "the maximum chunk size must be above the average";
	if (p->max_size > DEDUP_CHUNK_MAX_LIMIT)
		return "the maximum chunk size must be at most 1 MiB";
	if (p->whole_max > p->max_size)
		return "the whole-file threshold must not exceed the maximum chunk size";
	return NULL;
}

static int size32(const char *s, size_t n, uint32_t *out)
{
	char buf[32];
	uint64_t v;

	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (strata_parse_size(buf, &v) || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int dedup_chunking_parse(const char *s, struct dedup_chunker_params *p, const char **why)
{
	struct dedup_chunker_params q = { 0 };
	const char *c1, *c2;
	const char *w;

	*why = "expected MIN:AVG:MAX, sizes in bytes or with K/M suffixes (e.g. 16K:64K:256K)";
	if (!s || !(c1 = strchr(s, ':')) || !(c2 = strchr(c1 + 1, ':')) || strchr(c2 + 1, ':'))
		return -EINVAL;
	if (size32(s, (size_t)(c1 - s), &q.min_size) ||
	    size32(c1 + 1, (size_t)(c2 - c1 - 1), &q.avg_size) ||
	    size32(c2 + 1, strlen(c2 + 1), &q.max_size))
		return -EINVAL;
	w = dedup_chunker_params_why(&q);
	if (w) {
		*why = w;
		return -EINVAL;
	}
	*why = NULL;
	*p = q;
	return 0;
}

int dedup_whole_max_parse(const char *s, uint32_t *out, const char **why)
{
	*why = "expected a size in bytes or with a K/M suffix, at most 1 MiB "
	       "(0: the average chunk size)";
	if (!s || size32(s, strlen(s), out) || *out > DEDUP_CHUNK_MAX_LIMIT)
		return -EINVAL;
	*why = NULL;
	return 0;
}

char *dedup_compress_policy_format(const struct dedup_compress_policy *p, char *buf, size_t len)
{
	if (p->algo == DEDUP_COMPRESS_NONE)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "zstd:%d", p->level ? p->level : DEDUP_ZSTD_LEVEL_DEFAULT);
	return buf;
}
