// SPDX-License-Identifier: GPL-2.0-or-later
/* The inode table: one node per (layer, device, inode) identity, FUSE node
 * ids are node addresses (as in libfuse's passthrough_ll), root is 1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs-internal.h"

#define INO_LAYER_SHIFT 56

uint64_t fs_make_ino(unsigned layer, ino_t ino)
{
	uint64_t i = (uint64_t)ino;

	/* Inode numbers that do not fit are folded; documented limit. */
	if (i >> INO_LAYER_SHIFT)
		i = (i ^ (i >> INO_LAYER_SHIFT)) & ((1ULL << INO_LAYER_SHIFT) - 1);
	return ((uint64_t)layer << INO_LAYER_SHIFT) | i;
}

static size_t hash_key(unsigned layer, dev_t dev, ino_t ino, size_t size)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)dev + layer) * 0xc2b2ae3d27d4eb4fULL;
	h ^= h >> 29;
	return (size_t)(h & (size - 1));
}

int fs_table_init(struct fs *fs)
{
	struct fs_inode *root;

	pthread_mutex_init(&fs->table_lock, NULL);
	fs->table_size = 1024;
	fs->table = calloc(fs->table_size, sizeof(*fs->table));
	root = calloc(1, sizeof(*root));
	if (!fs->table || !root) {
		free(root);
		return -ENOMEM;
	}
	pthread_mutex_init(&root->lock, NULL);
	root->type = S_IFDIR;
	root->refs = 1; /* never freed before fs_table_destroy */
	root->name = strdup("");
	if (!root->name) {
		free(root);
		return -ENOMEM;
	}
	root->st_ino = FUSE_ROOT_ID;
	root->key_layer = ~0u; /* not in the hash: found by id only */
	fs->root = root;
	return 0;
}

static void free_node(struct fs_inode *n)
{
	while (n->aliases) { /* only at teardown: put_locked empties it */
		struct fs_alias *a = n->aliases;

		n->aliases = a->next;
		free(a->name);
		free(a);
	}
	pthread_mutex_destroy(&n->lock);
	free(n->name);
	free(n);
}

void fs_table_destroy(struct fs *fs)
{
	if (!fs->table)
		return;
	for (size_t i = 0; i < fs->table_size; i++) {
		struct fs_inode *n = fs->table[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			free_node(n);
		}
	}
	free(fs->table);
	fs->table = NULL;
	if (fs->root)
		free_node(fs->root);
	fs->root = NULL;
	pthread_mutex_destroy(&fs->table_lock);
}

static void hash_insert_locked(struct fs *fs, struct fs_inode *n)
{
	size_t h = hash_key(n->key_layer, n->key_dev, n->key_ino,
			    fs->table_size);

	n->hnext = fs->table[h];
	fs->table[h] = n;
	fs->table_count++;
}

static void hash_remove_locked(struct fs *fs, struct fs_inode *n)
{
	size_t h = hash_key(n->key_layer, n->key_dev, n->key_ino,
			    fs->table_size);
	struct fs_inode **pp;

	for (pp = &fs->table[h]; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			fs->table_count--;
			return;
		}
	}
	abort(); /* a live node must be in the table */
}

static void grow_locked(struct fs *fs)
{
	size_t old = fs->table_size, nsize = old * 2;
	struct fs_inode **t = calloc(nsize, sizeof(*t)), **ot = fs->table;

	if (!t)
		return; /* keep the longer chains */
	fs->table = t;
	fs->table_size = nsize;
	fs->table_count = 0;
	for (size_t i = 0; i < old; i++) {
		struct fs_inode *n = ot[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			hash_insert_locked(fs, n);
		}
	}
	free(ot);
}

static struct fs_inode *find_locked(struct fs *fs, unsigned layer, dev_t dev,
				    ino_t ino)
{
	struct fs_inode *n = fs->table[hash_key(layer, dev, ino,
						 fs->table_size)];

	for (; n; n = n->hnext)
		if (n->key_layer == layer && n->key_dev == dev &&
		    n->key_ino == ino)
			return n;
	return NULL;
}

struct fs_inode *fs_inode_find(struct fs *fs, unsigned layer,
			       const struct stat *st)
{
	struct fs_inode *n;

	pthread_mutex_lock(&fs->table_lock);
	n = find_locked(fs, layer, st->st_dev, st->st_ino);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&fs->table_lock);
	return n;
}

static void put_locked(struct fs *fs, struct fs_inode *n);
static void unhash_locked(struct fs *fs, struct fs_inode *n);

static void free_aliases_locked(struct fs *fs, struct fs_inode *n)
{
	while (n->aliases) {
		struct fs_alias *a = n->aliases;

		n->aliases = a->next;
		a->parent->refs--;
		put_locked(fs, a->parent);
		free(a->name);
		free(a);
	}
}

/* Drop one ref or lookup; free nodes that reach zero, walking up parents. */
static void put_locked(struct fs *fs, struct fs_inode *n)
{
	while (n && n != fs->root && n->refs == 0 && n->nlookup == 0) {
		struct fs_inode *p = n->parent;

		free_aliases_locked(fs, n);
		hash_remove_locked(fs, n);
		free_node(n);
		n = p;
		if (!n)
			break;
		if (n->refs == 0)
			abort();
		n->refs--;
	}
}

static bool same_name(struct fs_inode *p1, const char *n1,
		      struct fs_inode *p2, const char *n2)
{
	return p1 == p2 && n1 && !strcmp(n1, n2);
}

/*
 * Make parent/name the name paths are built from.  A non-directory keeps
 * its other known names (hardlinks) as aliases, so that removing one name
 * leaves a working path; a directory has one name.
 */
static int set_name_locked(struct fs *fs, struct fs_inode *n,
			   struct fs_inode *parent, const char *name)
{
	struct fs_inode *old = n->parent;
	struct fs_alias **pp, *a;
	char *nm;

	if (same_name(old, n->name, parent, name))
		return 0;
	for (pp = &n->aliases; *pp; pp = &(*pp)->next) {
		a = *pp;
		if (same_name(a->parent, a->name, parent, name)) {
			a->parent = old;
			nm = a->name;
			a->name = n->name;
			n->parent = parent;
			n->name = nm;
			return 0;
		}
	}
	nm = strdup(name);
	if (!nm)
		return -ENOMEM;
	if (n->type != S_IFDIR && old) {
		a = malloc(sizeof(*a));
		if (!a) {
			free(nm);
			return -ENOMEM;
		}
		a->parent = old; /* keeps the ref old already had */
		a->name = n->name;
		a->next = n->aliases;
		n->aliases = a;
		old = NULL;
	} else {
		free(n->name);
	}
	n->name = nm;
	parent->refs++;
	n->parent = parent;
	if (old) {
		old->refs--;
		put_locked(fs, old);
	}
	return 0;
}

/* parent/name no longer names n: forget it, promote another alias. */
static void drop_name_locked(struct fs *fs, struct fs_inode *n,
			     struct fs_inode *parent, const char *name)
{
	struct fs_alias **pp, *a;

	for (pp = &n->aliases; *pp; pp = &(*pp)->next) {
		a = *pp;
		if (same_name(a->parent, a->name, parent, name)) {
			*pp = a->next;
			a->parent->refs--;
			put_locked(fs, a->parent);
			free(a->name);
			free(a);
			return;
		}
	}
	if (same_name(n->parent, n->name, parent, name) && n->aliases) {
		struct fs_inode *old = n->parent;

		a = n->aliases;
		n->aliases = a->next;
		free(n->name);
		n->parent = a->parent;
		n->name = a->name;
		free(a);
		old->refs--;
		put_locked(fs, old);
	}
}

void fs_inode_drop_name(struct fs *fs, unsigned layer, const struct stat *st,
			struct fs_inode *parent, const char *name, bool gone)
{
	struct fs_inode *n;

	pthread_mutex_lock(&fs->table_lock);
	n = find_locked(fs, layer, st->st_dev, st->st_ino);
	if (n) {
		n->refs++;
		drop_name_locked(fs, n, parent, name);
		if (gone)
			unhash_locked(fs, n);
		n->refs--;
		put_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->table_lock);
	fs_dir_changed(fs, parent);
}

int fs_inode_get(struct fs *fs, struct fs_inode *parent, const char *name,
		 unsigned layer, const struct stat *st, uint64_t st_ino,
		 uint64_t layers, bool opaque, unsigned data_layer, bool lookup,
		 struct fs_inode **out)
{
	struct fs_inode *n;
	int ret = 0;

	pthread_mutex_lock(&fs->table_lock);
	n = find_locked(fs, layer, st->st_dev, st->st_ino);
	if (n) {
		/* Keep the newest name: a path that works for every layer. */
		ret = set_name_locked(fs, n, parent, name);
		if (ret)
			goto out;
	} else {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->name = strdup(name))) {
			free(n);
			ret = -ENOMEM;
			goto out;
		}
		pthread_mutex_init(&n->lock, NULL);
		n->key_layer = layer;
		n->key_dev = st->st_dev;
		n->key_ino = st->st_ino;
		n->st_ino = st_ino ? st_ino : fs_make_ino(layer, st->st_ino);
		n->type = st->st_mode & S_IFMT;
		/* Set once: afterwards only completing the copy-up changes it
		 * (to 0), and a racing resolution must not undo that. */
		n->data_layer = data_layer;
		n->parent = parent;
		parent->refs++;
		if (fs->table_count > fs->table_size)
			grow_locked(fs);
		hash_insert_locked(fs, n);
	}
	if (lookup)
		n->nlookup++;
	else
		n->refs++;
	*out = n;
out:
	pthread_mutex_unlock(&fs->table_lock);
	if (!ret) {
		pthread_mutex_lock(&n->lock);
		/* A resolution that raced with this node's copy-up saw only
		 * the lower: the upper copy exists, keep it. */
		if (!(n->layers & 1) || (layers & 1)) {
			n->layers = layers;
			n->opaque = opaque;
		}
		pthread_mutex_unlock(&n->lock);
	}
	return ret;
}

struct fs_inode *fs_inode_from_id(struct fs *fs, fuse_ino_t id)
{
	return id == FUSE_ROOT_ID ? fs->root : (struct fs_inode *)(uintptr_t)id;
}

fuse_ino_t fs_inode_id(struct fs *fs, struct fs_inode *n)
{
	return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

void fs_inode_ref(struct fs *fs, struct fs_inode *n)
{
	pthread_mutex_lock(&fs->table_lock);
	n->refs++;
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_unref(struct fs *fs, struct fs_inode *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&fs->table_lock);
	if (n->refs == 0)
		abort();
	n->refs--;
	put_locked(fs, n);
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_forget(struct fs *fs, struct fs_inode *n, uint64_t nlookup)
{
	pthread_mutex_lock(&fs->table_lock);
	if (n->nlookup < nlookup)
		abort();
	n->nlookup -= nlookup;
	put_locked(fs, n);
	pthread_mutex_unlock(&fs->table_lock);
}

/* Give n a key no lookup can produce: its object is gone (or replaced), and
 * the inode number may be reused by an unrelated new object. */
static void unhash_locked(struct fs *fs, struct fs_inode *n)
{
	hash_remove_locked(fs, n);
	n->key_layer = ~0u - 1;
	n->key_dev = 0;
	n->key_ino = (ino_t)(uintptr_t)n;
	hash_insert_locked(fs, n);
}

void fs_inode_unhash(struct fs *fs, unsigned layer, const struct stat *st)
{
	struct fs_inode *n;

	pthread_mutex_lock(&fs->table_lock);
	n = find_locked(fs, layer, st->st_dev, st->st_ino);
	if (n)
		unhash_locked(fs, n);
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_detach(struct fs *fs, struct fs_inode *n)
{
	if (n == fs->root)
		return;
	pthread_mutex_lock(&fs->table_lock);
	unhash_locked(fs, n);
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_rekey(struct fs *fs, struct fs_inode *n, unsigned layer,
		    const struct stat *st)
{
	if (n == fs->root)
		return;
	pthread_mutex_lock(&fs->table_lock);
	if (n->key_layer != layer || n->key_ino != st->st_ino ||
	    n->key_dev != st->st_dev) {
		struct fs_inode *other = find_locked(fs, layer, st->st_dev,
						     st->st_ino);

		hash_remove_locked(fs, n);
		/* A stale node for the new identity (its name was replaced
		 * behind its back) keeps its key but can no longer be found. */
		if (other)
			unhash_locked(fs, other);
		n->key_layer = layer;
		n->key_dev = st->st_dev;
		n->key_ino = st->st_ino;
		hash_insert_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_move(struct fs *fs, struct fs_inode *n,
		   struct fs_inode *oldparent, const char *oldname,
		   struct fs_inode *newparent, const char *newname)
{
	pthread_mutex_lock(&fs->table_lock);
	drop_name_locked(fs, n, oldparent, oldname);
	if (set_name_locked(fs, n, newparent, newname))
		log_warn("out of memory renaming a node"); /* keeps old name */
	pthread_mutex_unlock(&fs->table_lock);
	fs_dir_changed(fs, oldparent);
	if (newparent != oldparent)
		fs_dir_changed(fs, newparent);
}

static int path_locked(struct fs *fs, struct fs_inode *n, char *buf,
		       size_t size, size_t *len)
{
	size_t l;
	int ret;

	if (n == fs->root || !n->parent) {
		*len = 0;
		return 0;
	}
	ret = path_locked(fs, n->parent, buf, size, len);
	if (ret)
		return ret;
	l = strlen(n->name);
	if (*len + l + 2 > size)
		return -ENAMETOOLONG;
	if (*len)
		buf[(*len)++] = '/';
	memcpy(buf + *len, n->name, l);
	*len += l;
	buf[*len] = '\0';
	return 0;
}

int fs_inode_path(struct fs *fs, struct fs_inode *n, const char *name,
		  char *buf, size_t size)
{
	size_t len = 0;
	int ret;

	pthread_mutex_lock(&fs->table_lock);
	ret = path_locked(fs, n, buf, size, &len);
	pthread_mutex_unlock(&fs->table_lock);
	if (ret)
		return ret;
	if (name) {
		size_t l = strlen(name);

		if (len + l + 2 > size)
			return -ENAMETOOLONG;
		if (len)
			buf[len++] = '/';
		memcpy(buf + len, name, l + 1);
		len += l;
	}
	if (!len) {
		if (size < 2)
			return -ENAMETOOLONG;
		strcpy(buf, ".");
	} else {
		buf[len] = '\0';
	}
	return 0;
}

uint64_t fs_inode_layers(struct fs_inode *n)
{
	uint64_t l;

	pthread_mutex_lock(&n->lock);
	l = n->layers;
	pthread_mutex_unlock(&n->lock);
	return l;
}

unsigned fs_inode_top(struct fs_inode *n)
{
	uint64_t l = fs_inode_layers(n);

	return l ? (unsigned)__builtin_ctzll(l) : 0;
}
