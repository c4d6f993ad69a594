// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs/: the list of handles the kernel holds (see fs-internal.h).  A plain
 * doubly linked list under a leaf mutex, touched once per open and once
 * per release.
 */
#include <pthread.h>

#include "fs/fs-internal.h"

void fs_handles_init(struct fs *fs)
{
	pthread_mutex_init(&fs->handles_lock, NULL);
	fs->handles = NULL;
}

void fs_handle_link(struct fs *fs, struct fs_handle *h, void (*drop)(struct fs_handle *h))
{
	h->drop = drop;
	h->prev = NULL;
	pthread_mutex_lock(&fs->handles_lock);
	h->next = fs->handles;
	if (h->next)
		h->next->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

void fs_handle_unlink(struct fs *fs, struct fs_handle *h)
{
	pthread_mutex_lock(&fs->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->handles_lock);
}

void fs_handles_drop_all(struct fs *fs)
{
	struct fs_handle *h, *next;

	pthread_mutex_lock(&fs->handles_lock);
	h = fs->handles;
	fs->handles = NULL;
	pthread_mutex_unlock(&fs->handles_lock);
	for (; h; h = next) {
		next = h->next;
		h->drop(h);
	}
	pthread_mutex_destroy(&fs->handles_lock);
}
