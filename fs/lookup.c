// SPDX-License-Identifier: GPL-2.0-or-later
/* Name resolution through the layers, as kernel overlayfs does it: the
 * first layer holding the name wins; a whiteout hides the name; directories
 * merge with the directories below until one is opaque or a non-directory
 * is met. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs-internal.h"

/* The st_ino recorded when the upper object at path was copied up, 0. */
static uint64_t upper_origin(struct fs_layer *l, const char *path)
{
	char v[24], *end;
	unsigned long long ino;
	ssize_t n = l->ops->getxattr(l, path, FS_ORIGIN_XATTR, v,
				     sizeof(v) - 1);

	if (n <= 0)
		return 0;
	v[n] = '\0';
	ino = strtoull(v, &end, 10);
	return *end ? 0 : (uint64_t)ino;
}

/* The upper file at path is a metacopy (it has no data blocks, only the
 * marker): its data is the next lower regular file at the same path. */
static int find_data(struct fs *fs, uint64_t mask, const char *path,
		     struct fs_entry *e)
{
	for (unsigned i = 1; i < fs->nlayers; i++) {
		struct fs_layer *l = fs->layers[i];
		enum fs_layer_kind kind;
		struct stat st;
		int ret;

		if (!l || !(mask & (1ULL << i)))
			continue;
		ret = l->ops->lookup(l, path, &st, &kind);
		if (ret)
			return ret;
		if (kind == LAYER_ABSENT)
			continue;
		if (kind == LAYER_ENTRY && S_ISREG(st.st_mode)) {
			e->data_layer = i;
			e->lower_positive = true;
			return 0;
		}
		break;
	}
	log_err("%s: metacopy upper file without lower data", path);
	return -EIO;
}

int fs_resolve(struct fs *fs, struct fs_inode *dir, const char *name,
	       struct fs_entry *e)
{
	char path[PATH_MAX];
	uint64_t mask = fs_inode_layers(dir);
	bool found = false;
	int ret;

	ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (ret)
		return ret;
	memset(e, 0, sizeof(*e));
	for (unsigned i = 0; i < fs->nlayers; i++) {
		struct fs_layer *l = fs->layers[i];
		enum fs_layer_kind kind;
		struct stat st;

		if (!l || !(mask & (1ULL << i)))
			continue;
		ret = l->ops->lookup(l, path, &st, &kind);
		if (ret)
			return ret;
		if (kind == LAYER_ABSENT)
			continue;
		if (kind == LAYER_WHITEOUT) {
			if (!found)
				return -ENOENT;
			break;
		}
		if (i > 0)
			e->lower_positive = true;
		if (!found) {
			found = true;
			e->top = i;
			e->st = st;
			e->layers = 1ULL << i;
			if (i == 0)
				e->ino = upper_origin(l, path);
		} else {
			if (!S_ISDIR(st.st_mode))
				break;
			e->layers |= 1ULL << i;
		}
		if (!e->ino && (i > 0 || !S_ISDIR(st.st_mode)))
			e->ino = fs_make_ino(i, st.st_ino);
		if (i == 0 && S_ISREG(st.st_mode) &&
		    (off_t)st.st_blocks * 512 < st.st_size &&
		    l->ops->getxattr(l, path, FS_METACOPY_XATTR, NULL, 0) >= 0)
			return find_data(fs, mask, path, e);
		if (!S_ISDIR(st.st_mode))
			break;
		/* Opacity only matters with layers below to hide. */
		if (i + 1 >= 64 || !(mask >> (i + 1)))
			break;
		ret = l->ops->is_opaque(l, path);
		if (ret < 0)
			return ret;
		if (ret) {
			if (e->layers == 1ULL << i)
				e->opaque = true;
			break;
		}
	}
	if (found && !e->ino) /* upper-only directory */
		e->ino = fs_make_ino(0, e->st.st_ino);
	return found ? 0 : -ENOENT;
}

int fs_lower_positive(struct fs *fs, struct fs_inode *dir, const char *name,
		      bool *pos)
{
	char path[PATH_MAX];
	uint64_t mask = fs_inode_layers(dir);
	int ret;

	*pos = false;
	ret = fs_inode_path(fs, dir, name, path, sizeof(path));
	if (ret)
		return ret;
	for (unsigned i = 1; i < fs->nlayers; i++) {
		struct fs_layer *l = fs->layers[i];
		enum fs_layer_kind kind;
		struct stat st;

		if (!l || !(mask & (1ULL << i)))
			continue;
		ret = l->ops->lookup(l, path, &st, &kind);
		if (ret)
			return ret;
		if (kind == LAYER_ENTRY)
			*pos = true;
		if (kind != LAYER_ABSENT)
			break;
	}
	return 0;
}

void fs_fix_attr(struct fs *fs, struct fs_inode *n, struct stat *st)
{
	const struct fs_config *c = &fs->cfg;

	st->st_ino = n->st_ino;
	/* A merged directory's link count is not the sum of its layers'
	 * (names shadow each other): report 1, "unknown", as kernel
	 * overlayfs does, so that tools do not trust it to count subdirs. */
	if (S_ISDIR(st->st_mode) && __builtin_popcountll(fs_inode_layers(n)) > 1)
		st->st_nlink = 1;
	st->st_uid = fs_id_to_container(c->uidmap, c->nuidmap, st->st_uid);
	st->st_gid = fs_id_to_container(c->gidmap, c->ngidmap, st->st_gid);
	if (c->squash_to_root) {
		st->st_uid = 0;
		st->st_gid = 0;
	}
	if (c->squash_uid >= 0)
		st->st_uid = (uid_t)c->squash_uid;
	if (c->squash_gid >= 0)
		st->st_gid = (gid_t)c->squash_gid;
}

/* A metacopy's blocks are its lower data's, as kernel overlayfs says. */
void fs_fix_attr_data(struct fs *fs, struct fs_inode *n, const char *path,
		      struct stat *st)
{
	unsigned dl;

	pthread_mutex_lock(&n->lock);
	dl = n->data_layer;
	pthread_mutex_unlock(&n->lock);
	if (dl && fs->layers[dl]) {
		struct fs_layer *l = fs->layers[dl];
		enum fs_layer_kind kind;
		struct stat ds;

		if (!l->ops->lookup(l, path, &ds, &kind) && kind == LAYER_ENTRY)
			st->st_blocks = ds.st_blocks;
	}
	fs_fix_attr(fs, n, st);
}

int fs_getattr_node(struct fs *fs, struct fs_inode *n, struct stat *st)
{
	char path[PATH_MAX];
	enum fs_layer_kind kind;
	struct fs_layer *l;
	int ret;

	ret = fs_inode_path(fs, n, NULL, path, sizeof(path));
	if (ret)
		return ret;
	l = fs->layers[fs_inode_top(n)];
	if (!l)
		return -ESTALE;
	ret = l->ops->lookup(l, path, st, &kind);
	if (ret)
		return ret;
	if (kind != LAYER_ENTRY)
		return -ENOENT;
	fs_fix_attr_data(fs, n, path, st);
	return 0;
}

int fs_do_lookup(struct fs *fs, struct fs_inode *dir, const char *name,
		 struct fuse_entry_param *e)
{
	struct fs_entry ent;
	struct fs_inode *n;
	int ret;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	ret = fs_resolve(fs, dir, name, &ent);
	if (ret)
		return ret;
	ret = fs_inode_get(fs, dir, name, ent.top, &ent.st, ent.ino,
			   ent.layers, ent.opaque, ent.data_layer, true, &n);
	if (ret)
		return ret;
	e->attr = ent.st;
	if (ent.data_layer) {
		char path[PATH_MAX];

		if (!fs_inode_path(fs, n, NULL, path, sizeof(path)))
			fs_fix_attr_data(fs, n, path, &e->attr);
	}
	fs_fix_attr(fs, n, &e->attr);
	e->ino = fs_inode_id(fs, n);
	return 0;
}
