// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: manifests, indexes and configs through the json-c
 * based validators; digest strings; serialized skeletons.  The first byte
 * picks what the rest is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/image.h"
#include "strata/log.h"

static int zero_data(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *pa)
{
	static const uint8_t z[4096];

	while (size) {
		size_t n = size < sizeof(z) ? (size_t)size : sizeof(z);
		int r = put(pa, z, n);

		if (r)
			return r;
		size -= n;
	}
	return 0;
}

static int discard(void *arg, const void *buf, size_t len)
{
	return 0;
}

/* Rejections are the normal case: keep their messages off stderr. */
static void quiet(enum strata_log_level lvl, const char *line, void *arg)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = {"manifest", "index", "config"};
	static int init;

	if (!init) {
		strata_log_init("fuzz", STRATA_LOG_ERR);
		strata_log_set_sink(quiet, NULL);
		init = 1;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
	case 1:
	case 2:
		image_json_validate(kinds[data[0] % 5], data + 1, size - 1);
		break;
	case 3: {
		char *s = malloc(size);
		struct image_digest d;
		char out[IMAGE_DIGEST_STRLEN];

		memcpy(s, data + 1, size - 1);
		s[size - 1] = 0;
		if (!image_digest_parse(s, &d) && strcmp(image_digest_format(&d, out), s))
			abort(); /* parse and format must round-trip */
		free(s);
		break;
	}
	case 4: {
		struct image_skeleton *sk;

		if (!image_skeleton_parse(data + 1, size - 1, &sk)) {
			/* Holes can claim huge sizes: only rebuild small ones. */
			void *ser;
			size_t len;

			if (image_skeleton_serialize(sk, &ser, &len) || len != size - 1 ||
			    memcmp(ser, data + 1, len))
				abort();
			free(ser);
			if (image_skeleton_bytes(sk) < (1 << 20))
				image_tar_rebuild(sk, zero_data, NULL, discard, NULL);
			image_skeleton_destroy(sk);
		}
		break;
	}
	}
	return 0;
}
