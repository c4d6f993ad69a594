// SPDX-License-Identifier: GPL-2.0-or-later
/* Name resolution through the layers, as kernel overlayfs does it: the
 * first layer holding the name wins; a whiteout hides the name; directories
 * merge with the directories below until one is opaque or a non-directory
 * is met. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "fs/fs-internal.h"

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
		struct layer *l = fs->layers[i];
		enum layer_kind kind;
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
		} else {
			if (!S_ISDIR(st.st_mode))
				break;
			e->layers |= 1ULL << i;
		}
		if (!e->ino && (i > 0 || !S_ISDIR(st.st_mode)))
			e->ino = fs_make_ino(i, st.st_ino);
		if (!S_ISDIR(st.st_mode))
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
		struct layer *l = fs->layers[i];
		enum layer_kind kind;
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

int fs_getattr_node(struct fs *fs, struct fs_inode *n, struct stat *st)
{
	char path[PATH_MAX];
	enum layer_kind kind;
	struct layer *l;
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
	fs_fix_attr(fs, n, st);
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
			   ent.layers, ent.opaque, true, &n);
	if (ret)
		return ret;
	e->attr = ent.st;
	fs_fix_attr(fs, n, &e->attr);
	e->ino = fs_inode_id(fs, n);
	return 0;
}
