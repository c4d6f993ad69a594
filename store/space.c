// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A store's segments and the space under them on the host.
 *
 * A store file is sparse: it takes host space as segments are first
 * written.  If the host file system fills up, a write into a hole fails
 * half-way through the log, the handle must refuse further writes, and
 * the next writer's open needs room for its recovery checkpoint that is
 * not there: even `strata gc` could not open the store to free space.
 * So, for store files:
 *
 *  - a segment gets its blocks (fallocate) before it becomes the head of
 *    the log; if the host has no room, the put fails with ENOSPC before
 *    anything of it is written, and the handle stays usable;
 *  - a put (not a checkpoint page, tombstone or compaction move) opens a
 *    new segment only if the free segments that the checkpoint reserve
 *    (log_room_locked) keeps for those internal writes can have their
 *    blocks too, and gives them their blocks: then a checkpoint, the
 *    deletes of gc and the next open's recovery checkpoint always find
 *    allocated segments, on a full host too (free segments are tried in
 *    the appender's order, and an allocated one costs no new space);
 *  - store_trim() (strata gc) punches the free segments beyond that
 *    reserve, giving their space back to the host.
 *
 * A block device has all its blocks: nothing to allocate; store_trim()
 * discards (BLKDISCARD) the same segments, which a thin or loop device
 * turns into free space.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store/store-internal.h"
#include "strata/log.h"

int space_alloc_seg(struct store *s, uint64_t i)
{
	int r;

	if (s->dev.is_blk || s->no_falloc)
		return 0;
	r = fallocate(s->dev.fd, FALLOC_FL_KEEP_SIZE, (off_t)seg_foff(s, i),
		      (off_t)s->seg_size) < 0 ? -errno : 0;
	if (r == -EOPNOTSUPP || r == -ENOSYS) {
		/* The host file system cannot: writes find their space as
		 * before. */
		log_debug("%s: fallocate not supported: %s", s->path, strerror(-r));
		s->no_falloc = true;
		return 0;
	}
	return r;
}

/* How many free segments the checkpoint reserve stands for. */
static uint64_t reserve_segs_locked(const struct store *s)
{
	return cp_reserve_bytes_locked(s) / (s->seg_size - s->block) + 1;
}

int space_reserve_locked(struct store *s, uint64_t head)
{
	uint64_t want = reserve_segs_locked(s), got = 0;

	for (uint64_t k = 1; k < s->nseg && got < want; k++) {
		uint64_t i = (head + k) % s->nseg;

		if (!seg_is_free_locked(s, i))
			continue;
		if (!space_alloc_seg(s, i))
			got++;
	}
	return got >= want ? 0 : -ENOSPC;
}

/* Does [off, off+len) of the store file hold any data (not all hole)? */
static bool has_data(const struct store *s, uint64_t off, uint64_t len)
{
	off_t d = lseek(s->dev.fd, (off_t)off, SEEK_DATA);

	return d >= 0 && (uint64_t)d < off + len;
}

int store_trim(struct store *s, uint64_t *bytes)
{
	uint64_t keep, kept = 0, start, n = 0;
	int ret = 0;

	if (bytes)
		*bytes = 0;
	if (!s)
		return -EINVAL;
	if (s->read_only)
		return -EROFS;
	pthread_mutex_lock(&s->log_lock);
	if (s->broken) {
		ret = s->broken;
		goto out;
	}
	/* Writes that freed segments (tombstones) must be durable first:
	 * seg_is_free_locked() asks for it. */
	ret = log_sync_locked(s);
	if (ret)
		goto out;
	keep = reserve_segs_locked(s);
	start = s->head_seg < 0 ? 0 : (uint64_t)s->head_seg + 1;
	for (uint64_t k = 0; k < s->nseg; k++) {
		uint64_t i = (start + k) % s->nseg, off = seg_foff(s, i);

		if (!seg_is_free_locked(s, i))
			continue;
		if (s->dev.is_blk ? !s->segs[i].hdr_seq : !has_data(s, off, s->seg_size))
			continue;
		/* The appender takes free segments in this order: the first
		 * allocated ones stay, for the reserve. */
		if (kept < keep && !s->dev.is_blk) {
			kept++;
			continue;
		}
		if (store_dev_discard(&s->dev, off, s->seg_size))
			break;
		/* A punched segment of a file reads as zeros: no header, so a
		 * full log scan skips it, as it does a never-written one.  (A
		 * discarded device block may still read as before.) */
		if (!s->dev.is_blk)
			s->segs[i].hdr_seq = 0;
		n += s->seg_size;
	}
out:
	pthread_mutex_unlock(&s->log_lock);
	if (bytes)
		*bytes = n;
	return ret;
}
