/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dedup/: state shared between the module's files and its unit tests. */
#ifndef STRATA_DEDUP_INTERNAL_H
#define STRATA_DEDUP_INTERNAL_H

#include <stdint.h>

/*
 * The gear table is part of the on-disk format: changing one entry moves
 * chunk boundaries and so changes chunk ids shared with other hosts.  It
 * is SplitMix64 (Steele, Lea, Flood 2014; the reference constants) seeded
 * with this value -- the bytes of ASCII "stratag0" read big-endian --
 * entry i being the (i+1)th output.  test_chunker regenerates it and
 * compares.  Of the "stratagN" seeds tried, this one was kept because a run
 * of zero bytes (sparse files, tar padding) never satisfies a cut mask for
 * any allowed average size, so such runs become max-size chunks rather
 * than many small identical ones; test_chunker checks that too.
 */
#define DEDUP_GEAR_SEED 0x7374726174616730ull

extern const uint64_t dedup_gear[256];

/*
 * Cut masks take the top bits of the gear hash: with hash = (hash << 1) +
 * gear[byte], bit k depends on the last k + 1 bytes, so the top bits see a
 * full 64-byte window.  (FastCDC spreads mask bits over the word for the
 * same effect; taking the top bits is the simpler way to get it.)
 */
static inline uint64_t dedup_gear_mask(unsigned bits)
{
	return bits ? ~0ull << (64 - bits) : 0;
}

/*
 * Normalization level 2 (FastCDC, section 3.3): before avg_size the mask
 * has log2(avg) + 2 bits (cuts 4x less likely), from avg_size on it has
 * log2(avg) - 2 bits (4x more likely), which pulls sizes towards avg_size.
 */
#define DEDUP_NC_LEVEL 2

#endif
