/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between store/catalog.c and store/gc.c. */
#ifndef STRATA_CATALOG_INTERNAL_H
#define STRATA_CATALOG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "strata/catalog.h"

/*
 * True when key (a META record whose user word is kind) is one the catalog
 * still needs: an image record, the winning record of a tag, or the
 * manifest/config blob of an image.
 */
bool catalog_key_live(const struct catalog *c, uint32_t kind, const struct store_key *key);

#endif
