// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Encoding and verification of the on-disk structures: superblock,
 * checkpoint slots, segment headers and record headers.  Offsets here are
 * the normative ones of strata-store(5).
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__)
/* From libxxhash (xxh_x86dispatch.h cannot be included with XXH_INLINE_ALL);
 * the state layout is the same as the inlined XXH3_state_t's. */
XXH_errorcode XXH3_64bits_update_dispatch(void *state, const void *input, size_t len);
#endif

#include "strata/log.h"
#include "store/store-internal.h"

/*
 * Superblock: magic[8] version@8 incompat@12 uuid@16 label@32[64]
 * device_size@96 block_size@104 segment_size@108 data_start@112
 * nsegments@120 created@128 xxh3@136 (of bytes 0..135).
 */
void sb_encode(const struct sb *sb, uint8_t *b)
{
	memset(b, 0, SB_SIZE);
	memcpy(b, SB_MAGIC, SB_MAGIC_LEN);
	put_le32(b + 8, sb->version);
	put_le32(b + 12, sb->incompat);
	memcpy(b + 16, sb->uuid, 16);
	memcpy(b + 32, sb->label, strnlen(sb->label, STORE_LABEL_MAX - 1));
	put_le64(b + 96, sb->device_size);
	put_le32(b + 104, sb->block_size);
	put_le32(b + 108, sb->segment_size);
	put_le64(b + 112, sb->data_start);
	put_le64(b + 120, sb->nsegments);
	put_le64(b + 128, sb->created);
	put_le64(b + 136, XXH3_64bits(b, 136));
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int sb_decode(const uint8_t *b, size_t len, struct sb *sb, const char *path)
{
	if (len < SB_SIZE || memcmp(b, SB_MAGIC, SB_MAGIC_LEN)) {
		log_err("%s: not a strata store (no superblock magic)", path);
		return -EINVAL;
	}
	memset(sb, 0, sizeof(*sb));
	sb->version = get_le32(b + 8);
	/* A newer format may move everything else: check the version first. */
	if (sb->version > STORE_FORMAT_VERSION) {
		log_err("%s: store format version %u is newer than this strata (supports %u)",
			path, sb->version, STORE_FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (get_le64(b + 136) != XXH3_64bits(b, 136)) {
		log_err("%s: superblock checksum mismatch", path);
		return -EUCLEAN;
	}
	if (sb->version == 0) {
		log_err("%s: superblock has invalid version 0", path);
		return -EUCLEAN;
	}
	sb->incompat = get_le32(b + 12);
	if (sb->incompat) {
		log_err("%s: store uses unknown incompatible features 0x%x", path, sb->incompat);
		return -EPROTONOSUPPORT;
	}
	memcpy(sb->uuid, b + 16, 16);
	memcpy(sb->label, b + 32, STORE_LABEL_MAX - 1);
	sb->label[STORE_LABEL_MAX - 1] = 0;
	sb->device_size = get_le64(b + 96);
	sb->block_size = get_le32(b + 104);
	sb->segment_size = get_le32(b + 108);
	sb->data_start = get_le64(b + 112);
	sb->nsegments = get_le64(b + 120);
	sb->created = get_le64(b + 128);
	if (!pow2(sb->block_size) || sb->block_size < 512 || sb->block_size > (1u << 20) ||
	    !pow2(sb->segment_size) || sb->segment_size < SEG_MIN_SIZE ||
	    sb->segment_size > SEG_MAX_SIZE || sb->segment_size % sb->block_size ||
	    sb->data_start < 3ull * sb->block_size || sb->data_start % sb->block_size ||
	    sb->nsegments == 0 || sb->nsegments > (1ull << 32) ||
	    sb->data_start + sb->nsegments * sb->segment_size > sb->device_size) {
		log_err("%s: superblock geometry is inconsistent (block %u, segment %u, "
			"data at %llu, %llu segments, device %llu bytes)",
			path, sb->block_size, sb->segment_size, (unsigned long long)sb->data_start,
			(unsigned long long)sb->nsegments, (unsigned long long)sb->device_size);
		return -EUCLEAN;
	}
	return 0;
}

/* Segment header: magic@0 version@4 uuid@8 seq@24 index@32 xxh3@40. */
void seg_hdr_encode(const struct seg_hdr *h, uint8_t *p)
{
	memset(p, 0, SEG_HDR_SIZE);
	put_le32(p, SEG_MAGIC);
	put_le32(p + 4, h->version);
	memcpy(p + 8, h->uuid, 16);
	put_le64(p + 24, h->seq);
	put_le64(p + 32, h->index);
	put_le64(p + 40, XXH3_64bits(p, 40));
}

int seg_hdr_decode(const uint8_t *p, struct seg_hdr *h)
{
	if (get_le32(p) != SEG_MAGIC || get_le64(p + 40) != XXH3_64bits(p, 40))
		return -EINVAL;
	h->version = get_le32(p + 4);
	memcpy(h->uuid, p + 8, 16);
	h->seq = get_le64(p + 24);
	h->index = get_le64(p + 32);
	return h->version == STORE_FORMAT_VERSION && h->seq ? 0 : -EINVAL;
}

/* Record header: magic@0 type@4 flags@6 len@8 user@12 lsn@16 key@24 xxh3@56. */
void rec_hdr_encode(const struct rec_hdr *h, uint8_t *p)
{
	put_le32(p, REC_MAGIC);
	put_le16(p + 4, h->type);
	put_le16(p + 6, h->flags);
	put_le32(p + 8, h->len);
	put_le32(p + 12, h->user);
	put_le64(p + 16, h->lsn);
	memcpy(p + 24, h->key, STORE_KEY_LEN);
	put_le64(p + 56, h->csum);
}

int rec_hdr_decode(const uint8_t *p, struct rec_hdr *h)
{
	if (get_le32(p) != REC_MAGIC)
		return -EINVAL;
	h->type = get_le16(p + 4);
	h->flags = get_le16(p + 6);
	h->len = get_le32(p + 8);
	h->user = get_le32(p + 12);
	h->lsn = get_le64(p + 16);
	memcpy(h->key, p + 24, STORE_KEY_LEN);
	h->csum = get_le64(p + 56);
	if (!h->type || (h->type > STORE_REC_USER_MAX && h->type < REC_PAD) ||
	    h->type > REC_CP_COMMIT)
		return -EINVAL;
	return 0;
}

uint64_t rec_csum(const uint8_t *hdr, const void *payload, size_t len, uint64_t seed)
{
	XXH3_state_t st;

	rec_csum_begin(&st, hdr, seed);
	/* PAD payloads are never read, so they are not covered. */
	if (len && get_le16(hdr + 4) != REC_PAD)
		rec_csum_update(&st, payload, len);
	return XXH3_64bits_digest(&st);
}

void rec_csum_begin(void *st, const uint8_t *hdr, uint64_t seed)
{
	uint8_t h[REC_HDR];

	memcpy(h, hdr, REC_HDR);
	memset(h + 56, 0, 8);
	memset(st, 0, sizeof(XXH3_state_t));
	XXH3_64bits_reset_withSeed(st, seed);
	rec_csum_update(st, h, REC_HDR);
}

void rec_csum_update(void *st, const void *buf, size_t len)
{
#if defined(__x86_64__)
	XXH3_64bits_update_dispatch(st, buf, len);
#else
	XXH3_64bits_update(st, buf, len);
#endif
}

int rec_verify(const uint8_t *rec, uint64_t seed)
{
	uint32_t len = get_le32(rec + 8);

	return rec_csum(rec, rec + REC_HDR, len, seed) == get_le64(rec + 56) ? 0 : -EBADMSG;
}

/* Slot: magic@0 version@4 gen@8 uuid@16 seg@32 off@36 len@40 lsn@48 xxh3@56. */
void slot_encode(const struct cp_slot *c, uint8_t *p)
{
	memset(p, 0, SLOT_SIZE);
	put_le32(p, SLOT_MAGIC);
	put_le32(p + 4, STORE_FORMAT_VERSION);
	put_le64(p + 8, c->gen);
	memcpy(p + 16, c->uuid, 16);
	put_le32(p + 32, c->seg);
	put_le32(p + 36, c->off);
	put_le32(p + 40, c->len);
	put_le64(p + 48, c->lsn);
	put_le64(p + 56, XXH3_64bits(p, 56));
}

int slot_decode(const uint8_t *p, struct cp_slot *c)
{
	static const uint8_t zero[SLOT_SIZE];

	if (!memcmp(p, zero, SLOT_SIZE))
		return -ENOENT;
	if (get_le32(p) != SLOT_MAGIC || get_le32(p + 4) != STORE_FORMAT_VERSION ||
	    get_le64(p + 56) != XXH3_64bits(p, 56))
		return -EINVAL;
	c->gen = get_le64(p + 8);
	memcpy(c->uuid, p + 16, 16);
	c->seg = get_le32(p + 32);
	c->off = get_le32(p + 36);
	c->len = get_le32(p + 40);
	c->lsn = get_le64(p + 48);
	return c->gen ? 0 : -EINVAL;
}
