/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Commit: a container's upper directory (kernel overlayfs on-disk format)
 * becomes an OCI layer diff, imported with dedup as a new layer on top of
 * its image's layers, with a config that inherits the parent's.
 *
 * The diff is an uncompressed pax tar written in a fixed order (depth
 * first, names sorted by bytes, the root directory left out), so the same
 * upper always gives the same DiffID:
 *   - regular files, directories, symlinks, devices, fifos with mode,
 *     numeric owner, nanosecond mtime (no atime, ctime, user or group
 *     names), and xattrs (user.*, security.*, trusted.* except
 *     trusted.overlay.*);
 *   - names of one inode inside the upper: the first in that order is a
 *     file, the others tar hardlinks to it;
 *   - whiteouts (char 0/0, or ".wh.NAME" files) become empty ".wh.NAME"
 *     files (mode 0, owner 0, time 0); opaque directories (xattr
 *     trusted.overlay.opaque=y, or a ".wh..wh..opq" file) get a
 *     ".wh..wh..opq" entry right after the directory;
 *   - metacopy files (trusted.overlay.metacopy: metadata only) get their
 *     data from the parent image's layers in the store, found at the same
 *     path as overlayfs does (top layer down, stopping at whiteouts and
 *     opaque directories).  trusted.overlay.redirect is refused (-ENOTSUP):
 *     strata-fuse never writes it.
 *
 * Snapshot of a live upper.  The walk records every object's lstat; the
 * tar is written; then every object is stat'ed again.  The snapshot is the
 * state of the upper at the instant between the two passes when every
 * object is unchanged (inode, type, mode, owner, size, nlink, mtime, ctime;
 * directories' times change with any entry added, removed or renamed) and
 * its ctime is older than the coarse clock at the start of the attempt (a
 * change in the same clock tick as a stat could otherwise go unseen).
 * Otherwise the attempt is thrown away and retried; after `tries` failed
 * attempts freeze() (when given) is asked to stop writers, and a last
 * attempt runs frozen.  Without freeze, or if that attempt fails too:
 * -EAGAIN.
 *
 * Atomicity as with import: the layer (chunks, then index, piece 0 last),
 * then config and manifest blobs, then tags, then the image record.  An
 * interrupted commit leaves no visible image.  The caller holds the
 * exclusive catalog lock.
 */
#ifndef STRATA_COMMIT_H
#define STRATA_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "strata/catalog.h"
#include "strata/chunkstore.h"
#include "strata/dedup.h"
#include "strata/image.h"

/*
 * Stop (on = true) or resume (on = false) whatever writes the upper.
 * Returns 0 or -errno (the commit then fails with it).
 */
typedef int (*commit_freeze_fn)(void *arg, bool on);

struct commit_opts {
	const char *upper; /* the upper directory */
	/*
	 * Dockerfile instructions applied to the config: CMD, ENTRYPOINT,
	 * ENV, WORKDIR, USER, EXPOSE, LABEL, in order (see
	 * commit_check_changes()).
	 */
	const char *const *changes;
	size_t nchanges;
	const char *message;	  /* history comment; may be NULL */
	const char *author;	  /* config author and history author; may be NULL */
	struct timespec created;  /* config and history "created" */
	const char *const *names; /* tags to give (may be none) */
	size_t nnames;
	const char *tmpdir;			     /* for the diff tar; NULL: /var/tmp */
	const struct dedup_chunker_params *chunking; /* NULL: defaults */
	unsigned tries;				     /* unfrozen attempts; 0: 3 */
	commit_freeze_fn freeze;		     /* may be NULL */
	void *freeze_arg;
};

struct commit_result {
	struct image_digest id; /* the new image (manifest digest) */
	struct image_digest config;
	struct image_digest diff_id; /* of the new layer */
	uint64_t tar_size;
	uint64_t entries;	 /* tar entries of the diff */
	uint64_t metacopy_files; /* whose data came from the parent's layers */
	bool layer_new;		 /* false: a layer with this DiffID was stored */
	uint64_t new_chunks, new_bytes, stored_bytes;
	unsigned attempts; /* snapshot attempts made */
	bool frozen;	   /* the last attempt ran under freeze() */
};

/*
 * Check Dockerfile-syntax changes without applying them.  Returns 0, or
 * -EINVAL with the offending change and the reason logged.
 */
int commit_check_changes(const char *const *changes, size_t n);

/*
 * Commit opts->upper on top of parent.  Returns 0 and fills *res, or:
 * -EINVAL bad changes or names (nothing written); -ENOENT the upper does
 * not exist; -ENOTSUP something in the upper strata cannot express
 * (redirects; sockets are skipped with a warning); -EAGAIN no consistent
 * snapshot (the upper kept changing); -EBADMSG the parent's config or
 * manifest is damaged, or a metacopy file has no data in the parent's
 * layers; a store -errno.
 * Every error is logged with the object it concerns.
 */
int commit_image(struct chunkstore *cs, struct catalog *cat, const struct catalog_image *parent,
		 const struct commit_opts *o, struct commit_result *res);

#endif
