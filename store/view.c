// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Read-only handles over a store that other processes write.
 *
 * A read-only handle (strata-fuse's, for a mount's store layers) loads the
 * index once, at open, and may live for weeks.  Writers in other
 * processes (import, gc) exclude one another with the store's lock, but
 * they do not wait for such readers: compaction moves live records to the
 * head of the log, publishes a checkpoint that names the copies, frees the
 * segments they were in, and a later append overwrites those.  A read at a
 * stale location then fails the checks every read makes (checksum, type,
 * lsn and key, store.c rec_is()): it never returns the other data now
 * there.  view_refresh() then loads the current index and the read follows
 * the key to its new place (store.c follow()), as it does for a move made
 * through the same handle.
 *
 * Loading is opening the store again read-only (the newest checkpoint and
 * the log after it, as at open) and swapping the new index in shard by
 * shard (idx_swap(): a lookup sees the old entry or the new one, and reads
 * verify either).  It is done only when the newest checkpoint generation on
 * disk differs from the one the view was loaded under: records can move
 * only through a compaction, which publishes a checkpoint before it frees
 * the segments it emptied, and a writer that deleted anything publishes
 * one when it closes.  So a record that is simply corrupt costs two
 * 64-byte reads per failed read, not a reload.
 *
 * The same holds for a store on a block device: only writers claim it
 * (O_EXCL, device.c), readers and their reloads open it beside them.
 */
#include <errno.h>
#include <string.h>

#include "store/store-internal.h"
#include "strata/log.h"

int view_init(struct store *s, int direct)
{
	s->view_direct = direct;
	return -pthread_mutex_init(&s->view_lock, NULL);
}

void view_destroy(struct store *s)
{
	pthread_mutex_destroy(&s->view_lock);
}

/* Take t's index and accounting into s; t gets s's old ones (freed with t). */
static void view_take(struct store *s, struct store *t)
{
	struct seginfo *segs;

	idx_swap(&s->idx, &t->idx);
	pthread_mutex_lock(&s->log_lock);
	segs = s->segs;
	s->segs = t->segs;
	t->segs = segs;
	s->nrecords = t->nrecords;
	s->next_lsn = t->next_lsn;
	s->next_seg_seq = t->next_seg_seq;
	s->cp_gen = t->cp_gen;
	s->cp_start_seq = t->cp_start_seq;
	s->pin_seq = t->pin_seq;
	s->synced_lsn = t->synced_lsn;
	atomic_store(&s->ondisk_lsn, atomic_load(&t->ondisk_lsn));
	pthread_mutex_unlock(&s->log_lock);
}

int view_refresh(struct store *s)
{
	struct store_open_opts o = { .path = s->path, .read_only = true,
				     .direct = s->view_direct };
	struct store *t = NULL;
	uint64_t gen;
	int r;

	if (!s->read_only)
		return 0;
	pthread_mutex_lock(&s->view_lock);
	gen = cp_newest_gen(s);
	if (gen == s->view_gen) {
		pthread_mutex_unlock(&s->view_lock);
		return 0;
	}
	r = store_open_internal(&o, &t);
	if (!r && memcmp(&t->sb, &s->sb, sizeof(s->sb))) {
		log_err("%s: the store was formatted again since it was opened", s->path);
		r = -ESTALE;
	}
	if (r) {
		log_warn("%s: cannot reload the index after changes by another process: %s",
			 s->path, strerror(-r));
		store_close(t);
		pthread_mutex_unlock(&s->view_lock);
		return r;
	}
	view_take(s, t);
	s->view_gen = gen;
	s->view_loads++;
	log_info("%s: index reloaded (checkpoint %llu, %llu records): another process changed the store",
		 s->path, (unsigned long long)gen, (unsigned long long)s->nrecords);
	pthread_mutex_unlock(&s->view_lock);
	store_close(t);
	return 1;
}

uint64_t store_test_view_loads(struct store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->view_lock);
	n = s->view_loads;
	pthread_mutex_unlock(&s->view_lock);
	return n;
}
