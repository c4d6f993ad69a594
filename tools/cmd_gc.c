// SPDX-License-Identifier: GPL-2.0-or-later
/* strata gc: reclaim what no image uses, then compact the store. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"

int cmd_gc(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-compact", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct catalog_gc_stats st;
	struct img_ctx ctx;
	bool dry = false, nocompact = false, quiet = false;
	char a[32], b[32], c[32];
	uint64_t trimmed = 0;
	int opt, r, tr = 0, ret = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "nq", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			dry = true;
			break;
		case 'C':
			nocompact = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			cmd_err("gc: usage: strata gc [--dry-run] [--no-compact] [--quiet]");
			return 2;
		}
	}
	if (optind != argc) {
		cmd_err("gc: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (img_ctx_open(&ctx, "gc", !dry, NULL))
		return 1;
	r = catalog_gc(ctx.cs, ctx.cat, dry, nocompact, &st);
	/* Then give the free segments' space back to the host. */
	if (!r && !dry && (tr = store_trim(ctx.s, &trimmed))) {
		cmd_err("gc: %s: giving space back: %s", ctx.path, strerror(-tr));
		ret = 1;
	}
	if (r) {
		cmd_err("gc: %s: %s%s", ctx.path, strerror(-r),
			r == -ENOENT || r == -EBADMSG ? " (a layer an image needs is damaged; "
							"nothing was deleted)"
						      : "");
		ret = 1;
	} else if (!quiet) {
		printf("%s%" PRIu64 " chunks (%s) and %" PRIu64 " index/catalog records (%s); "
		       "kept %" PRIu64 " images, %" PRIu64 " layers, %" PRIu64 " chunks\n",
		       dry ? "would delete " : "deleted ", st.chunks_deleted,
		       strata_fmt_size(st.chunk_bytes_deleted, a, sizeof(a)), st.meta_deleted,
		       strata_fmt_size(st.meta_bytes_deleted, b, sizeof(b)), st.live_images,
		       st.live_layers, st.live_chunks);
		if (st.compacted)
			printf("compacted: %" PRIu64 " segments cleaned, %" PRIu64
			       " records moved, %s freed\n",
			       st.compact.segments_cleaned, st.compact.records_moved,
			       strata_fmt_size(st.compact.bytes_freed, c, sizeof(c)));
		if (!dry && !tr) {
			struct store_info si;

			store_get_info(ctx.s, &si);
			printf("given back to the %s: %s\n",
			       si.is_block_device ? "device (discarded)" : "file system",
			       strata_fmt_size(trimmed, c, sizeof(c)));
		}
	}
	if (!r && st.missing_chunks) {
		cmd_err("gc: %" PRIu64 " chunks that images use are missing (run 'strata fsck')",
			st.missing_chunks);
		ret = 1;
	}
	if (img_ctx_close(&ctx, "gc"))
		ret = 1;
	return ret;
}
