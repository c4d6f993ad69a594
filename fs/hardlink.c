// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hardlinks of lower files across copy-up.  A lower file with several
 * names is one node; when it is copied up, every other name under which
 * the merged view still shows that same lower file is linked to the new
 * upper copy, so the names stay one inode (data, st_nlink, st_ino) and the
 * upper stays plain overlayfs format, which kernel overlayfs mounts with
 * the same view (it needs no index directory for that).
 *
 * The other names come from a per-layer table of the layer's multiply
 * linked files, built on the first copy-up of such a file from that layer:
 * one walk of the layer, paid only by mounts that copy up hardlinks.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs-internal.h"

struct link_ent {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct fs_links {
	struct link_ent *v;
	size_t n, cap;
};

struct walk {
	struct fs_layer *l;
	struct fs_links *t;
	char path[PATH_MAX];
	int err;
};

static int walk_dir(struct walk *w);

static int walk_cb(void *arg, const char *name, ino_t ino,
		   unsigned char d_type, enum fs_layer_kind kind)
{
	struct walk *w = arg;
	size_t old = strlen(w->path);
	enum fs_layer_kind k;
	struct stat st;
	int n, ret;

	(void)ino;
	(void)d_type;
	if (kind != LAYER_ENTRY)
		return 0;
	n = snprintf(w->path + old, sizeof(w->path) - old, "%s%s",
		     old ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(w->path) - old) {
		w->path[old] = '\0';
		return 0; /* too deep for any path strata builds */
	}
	ret = w->l->ops->lookup(w->l, w->path, &st, &k);
	if (!ret && k == LAYER_ENTRY) {
		if (S_ISDIR(st.st_mode)) {
			ret = walk_dir(w);
		} else if (st.st_nlink > 1) {
			struct fs_links *t = w->t;

			if (t->n == t->cap) {
				size_t nc = t->cap ? t->cap * 2 : 64;
				struct link_ent *nv =
					realloc(t->v, nc * sizeof(*nv));

				if (!nv) {
					ret = -ENOMEM;
					goto out;
				}
				t->v = nv;
				t->cap = nc;
			}
			t->v[t->n].dev = st.st_dev;
			t->v[t->n].ino = st.st_ino;
			t->v[t->n].path = strdup(w->path);
			if (!t->v[t->n].path)
				ret = -ENOMEM;
			else
				t->n++;
		}
	}
out:
	w->path[old] = '\0';
	if (ret && ret != -ENOENT && ret != -EACCES) {
		w->err = ret;
		return 1;
	}
	return 0;
}

static int walk_dir(struct walk *w)
{
	int ret = w->l->ops->readdir(w->l, *w->path ? w->path : ".", walk_cb,
				     w);

	if (ret == -ENOENT || ret == -EACCES)
		ret = 0;
	return ret ? ret : w->err;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct link_ent *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

void fs_links_free(struct fs_links *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	free(t);
}

/* The table of layer li, built on first use; NULL on failure. */
static struct fs_links *get_table(struct fs *fs, unsigned li)
{
	struct fs_links *t;
	struct walk *w;
	int ret;

	pthread_mutex_lock(&fs->links_lock);
	t = fs->links[li];
	if (t)
		goto out;
	t = calloc(1, sizeof(*t));
	w = calloc(1, sizeof(*w));
	if (!t || !w) {
		free(t);
		free(w);
		t = NULL;
		goto out;
	}
	w->l = fs->layers[li];
	w->t = t;
	ret = walk_dir(w);
	free(w);
	if (ret) {
		log_warn("layer %u: cannot index hardlinks: %s", li,
			 strerror(-ret));
		fs_links_free(t);
		t = NULL;
		goto out;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), cmp_ent);
	fs->links[li] = t;
out:
	pthread_mutex_unlock(&fs->links_lock);
	return t;
}

/* The directory node at path (relative, "." = root) in the merged view,
 * with a ref; NULL when some component is not a visible directory. */
static struct fs_inode *walk_to(struct fs *fs, char *path)
{
	struct fs_inode *cur = fs->root, *c;
	char *save = NULL, *comp;

	fs_inode_ref(fs, cur);
	if (!strcmp(path, "."))
		return cur;
	for (comp = strtok_r(path, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		struct fs_entry e;

		if (fs_resolve(fs, cur, comp, &e) || !S_ISDIR(e.st.st_mode) ||
		    fs_inode_get(fs, cur, comp, e.top, &e.st, e.ino, e.layers,
				 e.opaque, 0, false, &c)) {
			fs_inode_unref(fs, cur);
			return NULL;
		}
		fs_inode_unref(fs, cur);
		cur = c;
	}
	return cur;
}

/* Link lower path p (another name of (li, st)) to the upper file at
 * upath, if the merged view still shows that lower file there. */
static void link_one(struct fs *fs, unsigned li, const struct stat *st,
		     const char *p, const char *upath)
{
	char dir[PATH_MAX], dpath[PATH_MAX];
	const char *base;
	struct fs_inode *d;
	struct fs_entry e;
	char *slash;

	if (strlen(p) >= sizeof(dir))
		return;
	strcpy(dir, p);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		base = p + (slash - dir) + 1;
	} else {
		strcpy(dir, ".");
		base = p;
	}
	d = walk_to(fs, dir);
	if (!d)
		return;
	if (fs_resolve(fs, d, base, &e) || e.top != li ||
	    e.st.st_dev != st->st_dev || e.st.st_ino != st->st_ino)
		goto out; /* hidden, replaced or already copied up */
	if (fs_copy_up(fs, d) ||
	    fs_inode_path(fs, d, base, dpath, sizeof(dpath)))
		goto out;
	if (linkat(fs->upper_fd, upath, fs->upper_fd, dpath, 0) &&
	    errno != EEXIST)
		log_warn("copy-up of %s: cannot link its other name %s: %s",
			 upath, dpath, strerror(errno));
out:
	fs_inode_unref(fs, d);
}

void fs_link_aliases(struct fs *fs, unsigned li, const char *lpath,
		     const struct stat *st, const char *upath)
{
	struct link_ent key = { .dev = st->st_dev, .ino = st->st_ino };
	struct fs_links *t;
	struct link_ent *hit;
	size_t lo, hi;
	char **paths;
	size_t n = 0;

	if (li == 0 || S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return;
	t = get_table(fs, li);
	if (!t)
		return;
	hit = bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_ent);
	if (!hit)
		return;
	lo = hi = (size_t)(hit - t->v);
	while (lo > 0 && !cmp_ent(&t->v[lo - 1], &key))
		lo--;
	while (hi + 1 < t->n && !cmp_ent(&t->v[hi + 1], &key))
		hi++;
	/* The table is immutable once built: no lock needed to read it. */
	paths = calloc(hi - lo + 1, sizeof(*paths));
	if (!paths)
		return;
	for (size_t i = lo; i <= hi; i++)
		if (strcmp(t->v[i].path, lpath))
			paths[n++] = t->v[i].path;
	for (size_t i = 0; i < n; i++)
		link_one(fs, li, st, paths[i], upath);
	free(paths);
}
