// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Building a layer index from tar entries: an in-memory tree of names
 * (dirent) pointing at nodes (inodes; a hardlink is a second dirent to the
 * same node), file data cut into chunks as it streams by, then one
 * serialization pass in breadth-first order so that every directory's
 * children have neighbouring inode numbers and a sorted dirent run.
 * Chunks go through a dedup_pipeline: worker threads hash and compress
 * them while this thread parses on, and this thread writes them in order;
 * a chunk's id lands in b->chunks when it is written, and commit flushes
 * the pipeline before the index that names the ids is serialized.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "store/layer-internal.h"
#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"

#define NO_NODE UINT32_MAX
#define READ_BUF (1u << 20)

struct bnode {
	uint32_t mode, nlink, flags;
	uint64_t uid, gid, size;
	struct timespec mtime, atime, ctime;
	uint32_t rdev_major, rdev_minor;
	char *link; /* symlink target */
	uint64_t chunk_start, chunk_count;
	/* xattrs: names and values packed in xbuf as name\0 u32 len value */
	uint32_t nxattrs;
	uint8_t *xbuf;
	size_t xlen;
	uint32_t ino; /* assigned at serialization; 0: not yet */
	uint32_t first_child; /* dirent list head (index into dents), NO_NODE: none */
};

struct bdent {
	uint32_t parent; /* node */
	uint32_t node;
	uint32_t next;   /* next sibling dirent, NO_NODE */
	uint32_t namelen;
	char *name;
};

struct bchunk {
	struct dedup_cid cid;
	uint64_t off;
	uint32_t len;
};

struct brebuild {
	uint64_t index, start, count;
};

struct layer_builder {
	struct chunkstore *cs;
	struct dedup_chunker_params params;
	struct dedup_chunker *chunker;
	struct dedup_pipeline *pipe;
	uint8_t *buf; /* READ_BUF bytes */

	struct bnode *nodes;
	size_t nnodes, capnodes;
	struct bdent *dents;
	size_t ndents, capdents;
	uint32_t *hash; /* open addressing over dents, NO_NODE empty */
	size_t hashcap;
	uint64_t seed;

	struct bchunk *chunks;
	size_t nchunks, capchunks;
	struct brebuild *rebuild;
	size_t nrebuild, caprebuild;

	struct layer_build_stats st;
	/* current data stream */
	uint64_t cur_off;
	const char *cur_name;
	int err;
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n;
	void *q;

	if (need <= *cap)
		return 0;
	n = MAX(*cap * 2, MAX(need, (size_t)64));
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int new_node(struct layer_builder *b, uint32_t mode, uint32_t *out)
{
	struct bnode *n;

	if (b->nnodes >= LX_MAX_INODES)
		return -EFBIG;
	if (grow((void **)&b->nodes, &b->capnodes, b->nnodes + 1, sizeof(*b->nodes)))
		return -ENOMEM;
	n = &b->nodes[b->nnodes];
	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->first_child = NO_NODE;
	*out = (uint32_t)b->nnodes++;
	return 0;
}

/* A chunk is in the store (dedup_pipeline_fn, on this thread, in order). */
static int chunk_done(void *arg, uint64_t tag, const struct dedup_cid *cid,
		      const struct chunkstore_put_info *pi)
{
	struct layer_builder *b = arg;
	struct bchunk *c = &b->chunks[tag];

	c->cid = *cid;
	if (pi->added) {
		b->st.new_chunks++;
		b->st.new_bytes += c->len;
		b->st.stored_bytes += pi->stored_len;
	}
	return 0;
}

int layer_builder_create(struct chunkstore *cs, const struct dedup_chunker_params *p,
			 struct layer_builder **out)
{
	struct layer_builder *b;
	uint32_t root;
	int r;

	if (p && (r = dedup_chunker_params_check(p)))
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cs = cs;
	if (p)
		b->params = *p;
	else
		dedup_chunker_params_default(&b->params);
	r = dedup_chunker_create(&b->params, &b->chunker);
	if (r)
		goto err;
	r = dedup_pipeline_create(cs, 0, b->params.max_size, chunk_done, b, &b->pipe);
	if (r)
		goto err;
	r = -ENOMEM;
	b->buf = malloc(READ_BUF);
	b->hashcap = 1024;
	b->hash = malloc(b->hashcap * sizeof(*b->hash));
	if (!b->buf || !b->hash)
		goto err;
	memset(b->hash, 0xff, b->hashcap * sizeof(*b->hash));
	b->seed = strata_now_ns() ^ (uint64_t)(uintptr_t)b;
	r = new_node(b, S_IFDIR | 0755, &root);
	if (r)
		goto err;
	b->nodes[root].flags = LAYER_F_IMPLICIT;
	b->nodes[root].nlink = 1;
	*out = b;
	return 0;
err:
	layer_builder_destroy(b);
	return r;
}

void layer_builder_destroy(struct layer_builder *b)
{
	if (!b)
		return;
	dedup_pipeline_destroy(b->pipe); /* first: it calls back into b */
	for (size_t i = 0; i < b->nnodes; i++) {
		free(b->nodes[i].link);
		free(b->nodes[i].xbuf);
	}
	for (size_t i = 0; i < b->ndents; i++)
		free(b->dents[i].name);
	free(b->nodes);
	free(b->dents);
	free(b->hash);
	free(b->chunks);
	free(b->rebuild);
	free(b->buf);
	dedup_chunker_destroy(b->chunker);
	free(b);
}

/* ---- name lookup ---- */

static uint64_t dent_hash(const struct layer_builder *b, uint32_t parent, const char *name,
			  size_t len)
{
	return dedup_hash64(name, len, b->seed ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ull));
}

/* Slot for (parent, name): holds the dirent or NO_NODE. */
static uint32_t *dent_slot(struct layer_builder *b, uint32_t parent, const char *name, size_t len)
{
	size_t mask = b->hashcap - 1, i = dent_hash(b, parent, name, len) & mask;

	for (;;) {
		uint32_t d = b->hash[i];

		if (d == NO_NODE)
			return &b->hash[i];
		if (b->dents[d].parent == parent && b->dents[d].namelen == len &&
		    !memcmp(b->dents[d].name, name, len))
			return &b->hash[i];
		i = (i + 1) & mask;
	}
}

static int hash_grow(struct layer_builder *b)
{
	uint32_t *old = b->hash;
	size_t oldcap = b->hashcap;

	b->hash = malloc(oldcap * 2 * sizeof(*b->hash));
	if (!b->hash) {
		b->hash = old;
		return -ENOMEM;
	}
	b->hashcap = oldcap * 2;
	memset(b->hash, 0xff, b->hashcap * sizeof(*b->hash));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i] != NO_NODE) {
			const struct bdent *d = &b->dents[old[i]];

			*dent_slot(b, d->parent, d->name, d->namelen) = old[i];
		}
	}
	free(old);
	return 0;
}

/* Add a dirent (parent, name) -> node; the name must not exist yet. */
static int add_dent(struct layer_builder *b, uint32_t parent, const char *name, size_t len,
		    uint32_t node)
{
	struct bdent *d;
	uint32_t *slot;

	if ((b->ndents + 1) * 2 > b->hashcap && hash_grow(b))
		return -ENOMEM;
	if (b->ndents >= LX_MAX_INODES)
		return -EFBIG;
	if (grow((void **)&b->dents, &b->capdents, b->ndents + 1, sizeof(*b->dents)))
		return -ENOMEM;
	slot = dent_slot(b, parent, name, len);
	d = &b->dents[b->ndents];
	d->name = malloc(len + 1);
	if (!d->name)
		return -ENOMEM;
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->namelen = (uint32_t)len;
	d->parent = parent;
	d->node = node;
	d->next = b->nodes[parent].first_child;
	b->nodes[parent].first_child = (uint32_t)b->ndents;
	*slot = (uint32_t)b->ndents++;
	b->nodes[node].nlink++;
	return 0;
}

static bool is_dir(const struct bnode *n)
{
	return S_ISDIR(n->mode) && !(n->flags & LAYER_F_WHITEOUT);
}

/*
 * Walk the parent directories of path (all components but the last),
 * creating implicit directories.  Never follows symlinks: a path through a
 * symlink or a file is refused.  Returns 0 with *parent and the last
 * component in *base and *blen.
 */
static int walk_parent(struct layer_builder *b, const char *path, uint32_t *parent,
		       const char **base, size_t *blen)
{
	uint32_t cur = 0;
	const char *p = path;
	int r;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		uint32_t d, node;

		if (!slash) {
			*parent = cur;
			*base = p;
			*blen = len;
			return len ? 0 : -EBADMSG;
		}
		if (!len)
			return -EBADMSG;
		d = *dent_slot(b, cur, p, len);
		if (d == NO_NODE) {
			r = new_node(b, S_IFDIR | 0755, &node);
			if (r)
				return r;
			b->nodes[node].flags = LAYER_F_IMPLICIT;
			b->nodes[node].nlink = 1; /* "." */
			r = add_dent(b, cur, p, len, node);
			if (r)
				return r;
		} else {
			node = b->dents[d].node;
			if (!is_dir(&b->nodes[node]))
				return S_ISLNK(b->nodes[node].mode) ? -ELOOP : -ENOTDIR;
		}
		cur = node;
		p = slash + 1;
	}
}

/* Resolve an existing path to its node without following symlinks. */
static int resolve(struct layer_builder *b, const char *path, uint32_t *out)
{
	uint32_t cur = 0;
	const char *p = path;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		uint32_t d;

		if (!len)
			return -ENOENT;
		if (!is_dir(&b->nodes[cur]))
			return -ENOTDIR;
		d = *dent_slot(b, cur, p, len);
		if (d == NO_NODE)
			return -ENOENT;
		cur = b->dents[d].node;
		if (!slash) {
			*out = cur;
			return 0;
		}
		p = slash + 1;
	}
}

/* ---- data ---- */

static int add_chunk(struct layer_builder *b, const void *data, uint32_t len)
{
	struct bchunk *c;
	int r;

	if (grow((void **)&b->chunks, &b->capchunks, b->nchunks + 1, sizeof(*b->chunks)))
		return -ENOMEM;
	r = dedup_pipeline_submit(b->pipe, data, len, b->nchunks);
	if (r)
		return r;
	c = &b->chunks[b->nchunks];
	c->off = b->cur_off;
	c->len = len;
	b->cur_off += len;
	b->nchunks++;
	b->st.chunks++;
	return 0;
}

static int chunk_cb(void *arg, const struct dedup_chunk *c)
{
	return add_chunk(arg, c->data, c->len);
}

/*
 * Read and store size bytes of data through rd; chunks go to b->chunks
 * from *start on.
 */
static int store_data(struct layer_builder *b, const char *name, uint64_t size, image_read_fn rd,
		      void *arg, uint64_t *start, uint64_t *count)
{
	bool whole = dedup_whole_object(&b->params, size);
	uint64_t got = 0;
	size_t fill = 0;
	int r = 0;

	*start = b->nchunks;
	b->cur_off = 0;
	dedup_chunker_reset(b->chunker);
	for (;;) {
		ssize_t n = rd(arg, b->buf + fill, READ_BUF - fill);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > size) {
			log_err("%s: more data than the header's size %llu", name,
				(unsigned long long)size);
			return -EBADMSG;
		}
		if (whole) {
			fill += (size_t)n;
			if (fill == READ_BUF) /* cannot happen: whole_max <= max chunk < buf */
				return -EBADMSG;
			continue;
		}
		r = dedup_chunker_feed(b->chunker, b->buf, (size_t)n, chunk_cb, b);
		if (r) {
			dedup_chunker_reset(b->chunker);
			return r;
		}
	}
	if (got != size) {
		log_err("%s: data ends after %llu of %llu bytes", name, (unsigned long long)got,
			(unsigned long long)size);
		return -EBADMSG;
	}
	if (whole) {
		if (fill)
			r = add_chunk(b, b->buf, (uint32_t)fill);
	} else {
		r = dedup_chunker_finish(b->chunker, chunk_cb, b);
	}
	if (r)
		return r;
	*count = b->nchunks - *start;
	b->st.file_bytes += size;
	return 0;
}

/* An xattr name given again later in the same entry (pax carries both
 * LIBARCHIVE.xattr and SCHILY.xattr forms): only the last one counts. */
static bool xattr_superseded(const struct image_entry *e, size_t i)
{
	for (size_t j = i + 1; j < e->nxattrs; j++)
		if (!strcmp(e->xattrs[i].name, e->xattrs[j].name))
			return true;
	return false;
}

static int set_xattrs(struct bnode *n, const struct image_entry *e)
{
	size_t len = 0, off = 0;
	uint32_t cnt = 0;
	uint8_t *x;

	free(n->xbuf);
	n->xbuf = NULL;
	n->xlen = 0;
	n->nxattrs = 0;
	if (!e->nxattrs)
		return 0;
	for (size_t i = 0; i < e->nxattrs; i++)
		len += strlen(e->xattrs[i].name) + 1 + 4 + e->xattrs[i].size;
	x = malloc(len);
	if (!x)
		return -ENOMEM;
	for (size_t i = 0; i < e->nxattrs; i++) {
		size_t nl = strlen(e->xattrs[i].name) + 1;

		if (xattr_superseded(e, i))
			continue;
		memcpy(x + off, e->xattrs[i].name, nl);
		off += nl;
		lx_put32(x + off, (uint32_t)e->xattrs[i].size);
		off += 4;
		if (e->xattrs[i].size)
			memcpy(x + off, e->xattrs[i].value, e->xattrs[i].size);
		off += e->xattrs[i].size;
		cnt++;
	}
	n->xbuf = x;
	n->xlen = off;
	n->nxattrs = cnt;
	return 0;
}

static uint32_t type_bits(enum image_entry_type t)
{
	switch (t) {
	case IMAGE_ENTRY_DIR:
		return S_IFDIR;
	case IMAGE_ENTRY_SYMLINK:
		return S_IFLNK;
	case IMAGE_ENTRY_CHR:
		return S_IFCHR;
	case IMAGE_ENTRY_BLK:
		return S_IFBLK;
	case IMAGE_ENTRY_FIFO:
		return S_IFIFO;
	case IMAGE_ENTRY_SOCK:
		return S_IFSOCK;
	default:
		return S_IFREG;
	}
}

/* Copy an entry's attributes into node n (not the link count or children). */
static int set_attrs(struct bnode *n, const struct image_entry *e)
{
	n->uid = e->uid;
	n->gid = e->gid;
	n->mtime = e->mtime;
	n->atime = e->has_atime ? e->atime : e->mtime;
	n->ctime = e->has_ctime ? e->ctime : e->mtime;
	n->rdev_major = e->rdev_major;
	n->rdev_minor = e->rdev_minor;
	free(n->link);
	n->link = NULL;
	if (e->type == IMAGE_ENTRY_SYMLINK) {
		n->link = strdup(e->link_target);
		if (!n->link)
			return -ENOMEM;
		n->size = strlen(n->link);
	}
	return set_xattrs(n, e);
}

static const char *why(int r)
{
	switch (r) {
	case -ELOOP:
		return "path goes through a symlink (not followed)";
	case -ENOTDIR:
		return "path goes through a non-directory";
	case -ENOENT:
		return "hardlink target is not in this layer";
	case -EISDIR:
		return "hardlink to a directory";
	case -EFBIG:
		return "too many entries in one layer";
	default:
		return "malformed path";
	}
}

int layer_builder_add(struct layer_builder *b, const struct image_entry *e, image_read_fn rd,
		      void *arg)
{
	uint64_t cstart = 0, ccount = 0;
	bool has_data;
	uint32_t parent, node, *slot;
	const char *base;
	size_t blen;
	int r;

	if (b->err)
		return b->err;
	b->st.entries++;
	has_data = (e->flags & IMAGE_EF_DATA) ||
		   (e->type == IMAGE_ENTRY_REG && (e->flags & IMAGE_EF_SPARSE) && e->size);
	if (has_data) {
		r = store_data(b, e->raw_path, e->size, rd, arg, &cstart, &ccount);
		if (r)
			goto fail;
		if (e->flags & IMAGE_EF_DATA) {
			if (grow((void **)&b->rebuild, &b->caprebuild, b->nrebuild + 1,
				 sizeof(*b->rebuild))) {
				r = -ENOMEM;
				goto fail;
			}
			b->rebuild[b->nrebuild++] = (struct brebuild){ e->index, cstart, ccount };
		}
	}
	if (e->flags & IMAGE_EF_AUFS_META)
		return 0; /* kept in the skeleton only */
	if (e->flags & (IMAGE_EF_ROOT | IMAGE_EF_OPAQUE)) {
		if (!strcmp(e->path, "."))
			node = 0;
		else if ((r = walk_parent(b, e->path, &parent, &base, &blen)))
			goto bad;
		else {
			uint32_t d = *dent_slot(b, parent, base, blen);

			if (d != NO_NODE && is_dir(&b->nodes[b->dents[d].node])) {
				node = b->dents[d].node;
			} else {
				/* The marker comes before its directory, or replaces a file. */
				if ((r = new_node(b, S_IFDIR | 0755, &node)))
					goto fail;
				b->nodes[node].flags = LAYER_F_IMPLICIT;
				b->nodes[node].nlink = 1;
				if (d != NO_NODE) {
					b->nodes[b->dents[d].node].nlink--;
					b->dents[d].node = node;
					b->nodes[node].nlink++;
				} else if ((r = add_dent(b, parent, base, blen, node))) {
					goto fail;
				}
			}
		}
		if (e->flags & IMAGE_EF_OPAQUE) {
			b->nodes[node].flags |= LAYER_F_OPAQUE;
			return 0;
		}
		b->nodes[node].mode = S_IFDIR | e->mode;
		b->nodes[node].flags &= ~LAYER_F_IMPLICIT;
		if ((r = set_attrs(&b->nodes[node], e)))
			goto fail;
		return 0;
	}
	if ((r = walk_parent(b, e->path, &parent, &base, &blen)))
		goto bad;
	if (e->type == IMAGE_ENTRY_HARDLINK && !(e->flags & IMAGE_EF_WHITEOUT)) {
		r = resolve(b, e->link_target, &node);
		if (r)
			goto bad;
		if (S_ISDIR(b->nodes[node].mode)) {
			r = -EISDIR;
			goto bad;
		}
	} else {
		struct bnode *n;
		uint32_t d = *dent_slot(b, parent, base, blen);

		/* A directory declared again keeps its node and children. */
		if (d != NO_NODE && e->type == IMAGE_ENTRY_DIR &&
		    !(e->flags & IMAGE_EF_WHITEOUT) && is_dir(&b->nodes[b->dents[d].node])) {
			n = &b->nodes[b->dents[d].node];
			n->mode = S_IFDIR | e->mode;
			n->flags &= ~LAYER_F_IMPLICIT;
			if ((r = set_attrs(n, e)))
				goto fail;
			return 0;
		}
		if ((r = new_node(b, 0, &node)))
			goto fail;
		n = &b->nodes[node];
		if (e->flags & IMAGE_EF_WHITEOUT) {
			/* The overlay's whiteout form: a 0/0 character device. */
			n->mode = S_IFCHR;
			n->flags = LAYER_F_WHITEOUT;
			if ((r = set_attrs(n, e)))
				goto fail;
			n->rdev_major = n->rdev_minor = 0;
			free(n->link);
			n->link = NULL;
			n->size = 0;
		} else {
			n->mode = type_bits(e->type) | e->mode;
			if (e->type == IMAGE_ENTRY_DIR)
				n->nlink = 1;
			if ((r = set_attrs(n, e)))
				goto fail;
			if (e->type == IMAGE_ENTRY_REG) {
				n->size = e->size;
				n->chunk_start = cstart;
				n->chunk_count = ccount;
				if (e->flags & IMAGE_EF_SPARSE)
					n->flags |= LAYER_F_SPARSE;
			}
		}
	}
	slot = dent_slot(b, parent, base, blen);
	if (*slot != NO_NODE) {
		/* Duplicate name: the last entry wins, like tar extraction. */
		struct bdent *d = &b->dents[*slot];

		b->nodes[d->node].nlink--;
		d->node = node;
		b->nodes[node].nlink++;
		return 0;
	}
	if ((r = add_dent(b, parent, base, blen, node)))
		goto fail;
	return 0;
bad:
	log_err("%s: %s", e->raw_path, why(r));
	r = r == -ENOMEM ? r : r == -EFBIG ? -EFBIG : -EBADMSG;
fail:
	b->err = r;
	return r;
}

/* ---- serialization ---- */

struct sbuf {
	uint8_t *p;
	size_t len, cap;
};

static int sb_room(struct sbuf *s, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (s->len + n <= s->cap)
		return 0;
	cap = MAX(s->cap * 2, s->len + n + 4096);
	p = realloc(s->p, cap);
	if (!p)
		return -ENOMEM;
	s->p = p;
	s->cap = cap;
	return 0;
}

static int sb_add(struct sbuf *s, const void *d, size_t n)
{
	if (sb_room(s, n))
		return -ENOMEM;
	if (n)
		memcpy(s->p + s->len, d, n);
	s->len += n;
	return 0;
}

static int cmp_dent(const void *a, const void *b, void *arg)
{
	const struct bdent *dents = arg;
	const struct bdent *x = &dents[*(const uint32_t *)a];
	const struct bdent *y = &dents[*(const uint32_t *)b];
	int c = memcmp(x->name, y->name, MIN(x->namelen, y->namelen));

	if (c)
		return c;
	return x->namelen < y->namelen ? -1 : x->namelen > y->namelen;
}

struct ser {
	struct sbuf ino, dent, xat, heap;
	uint32_t *order; /* node index by inode number - 1 */
	uint64_t ninodes;
};

/* Breadth-first inode numbering: a directory's children get neighbouring numbers. */
static int number_inodes(struct layer_builder *b, struct ser *s, uint32_t **runs_out,
			 uint32_t **kids_out, size_t *nkids_out)
{
	uint32_t *kids = NULL, *runs = NULL;
	size_t nkids = 0, head = 0;
	int r = -ENOMEM;

	s->order = malloc(b->nnodes * sizeof(*s->order));
	runs = calloc(b->nnodes * 2, sizeof(*runs)); /* per node: first kid index, count */
	kids = malloc((b->ndents + 1) * sizeof(*kids));
	if (!s->order || !runs || !kids)
		goto err;
	for (size_t i = 0; i < b->nnodes; i++)
		b->nodes[i].ino = 0;
	b->nodes[0].ino = 1;
	s->order[0] = 0;
	s->ninodes = 1;
	while (head < s->ninodes) {
		uint32_t n = s->order[head++];
		size_t first = nkids;

		if (!is_dir(&b->nodes[n]))
			continue;
		for (uint32_t d = b->nodes[n].first_child; d != NO_NODE; d = b->dents[d].next) {
			/* Only dirents still in the hash are live (replaced ones were rewired). */
			kids[nkids++] = d;
		}
		qsort_r(kids + first, nkids - first, sizeof(*kids), cmp_dent, b->dents);
		runs[2 * n] = (uint32_t)first;
		runs[2 * n + 1] = (uint32_t)(nkids - first);
		for (size_t k = first; k < nkids; k++) {
			uint32_t c = b->dents[kids[k]].node;

			if (!b->nodes[c].ino) {
				b->nodes[c].ino = (uint32_t)++s->ninodes;
				s->order[s->ninodes - 1] = c;
			}
		}
	}
	*runs_out = runs;
	*kids_out = kids;
	*nkids_out = nkids;
	return 0;
err:
	free(runs);
	free(kids);
	return r;
}

static int serialize(struct layer_builder *b, const struct image_digest *diff_id,
		     uint64_t tar_size, uint64_t skel_start, uint64_t skel_count,
		     uint64_t skel_bytes, struct sbuf *out)
{
	struct ser s = { 0 };
	uint32_t *runs = NULL, *kids = NULL;
	struct lx_header h = { 0 };
	size_t nkids = 0;
	uint64_t nx = 0, dent_base = 0;
	uint8_t rec[LX_INODE_SIZE];
	int r;

	r = number_inodes(b, &s, &runs, &kids, &nkids);
	if (r)
		goto out;
	r = -ENOMEM;
	/* Directory entries: per directory in inode order, so runs are contiguous. */
	for (uint64_t i = 0; i < s.ninodes; i++) {
		uint32_t n = s.order[i];
		struct bnode *nd = &b->nodes[n];
		struct lx_inode li = { 0 };

		li.mode = nd->mode;
		li.nlink = nd->nlink ? nd->nlink : 1;
		li.uid = nd->uid;
		li.gid = nd->gid;
		li.size = S_ISREG(nd->mode) || S_ISLNK(nd->mode) ? nd->size : 0;
		li.mtime_sec = nd->mtime.tv_sec;
		li.mtime_nsec = (uint32_t)nd->mtime.tv_nsec;
		li.atime_sec = nd->atime.tv_sec;
		li.atime_nsec = (uint32_t)nd->atime.tv_nsec;
		li.ctime_sec = nd->ctime.tv_sec;
		li.ctime_nsec = (uint32_t)nd->ctime.tv_nsec;
		li.flags = nd->flags;
		li.rdev_major = nd->rdev_major;
		li.rdev_minor = nd->rdev_minor;
		if (is_dir(nd)) {
			uint32_t cnt = runs[2 * n + 1];

			li.data = dent_base;
			li.data2 = cnt;
			li.nlink = 2;
			for (uint32_t k = 0; k < cnt; k++) {
				const struct bdent *d = &b->dents[kids[runs[2 * n] + k]];
				uint8_t de[LX_DIRENT_SIZE];

				if (S_ISDIR(b->nodes[d->node].mode) &&
				    !(b->nodes[d->node].flags & LAYER_F_WHITEOUT))
					li.nlink++;
				lx_put64(de, s.heap.len);
				lx_put32(de + 8, d->namelen);
				lx_put32(de + 12, b->nodes[d->node].ino);
				if (sb_add(&s.heap, d->name, d->namelen) ||
				    sb_add(&s.dent, de, sizeof(de)))
					goto out;
			}
			dent_base += cnt;
		} else if (S_ISREG(nd->mode)) {
			li.data = nd->chunk_start;
			li.data2 = nd->chunk_count;
		} else if (S_ISLNK(nd->mode) && nd->link) {
			li.data = s.heap.len;
			li.data2 = nd->size;
			if (sb_add(&s.heap, nd->link, nd->size))
				goto out;
		}
		li.xattr_start = (uint32_t)nx;
		li.xattr_count = nd->nxattrs;
		for (size_t off = 0, k = 0; k < nd->nxattrs; k++) {
			const char *name = (const char *)nd->xbuf + off;
			size_t nl = strlen(name);
			uint32_t vl = lx_get32(nd->xbuf + off + nl + 1);
			uint8_t xe[LX_XATTR_SIZE];

			lx_put64(xe, s.heap.len);
			lx_put32(xe + 8, (uint32_t)nl);
			lx_put32(xe + 12, vl);
			if (sb_add(&s.heap, name, nl))
				goto out;
			lx_put64(xe + 16, s.heap.len);
			if (sb_add(&s.heap, nd->xbuf + off + nl + 5, vl) ||
			    sb_add(&s.xat, xe, sizeof(xe)))
				goto out;
			off += nl + 5 + vl;
			nx++;
		}
		li.parent = 0;
		lx_inode_encode(&li, rec);
		if (sb_add(&s.ino, rec, sizeof(rec)))
			goto out;
	}
	h.diff_id = *diff_id;
	h.tar_size = tar_size;
	h.file_bytes = b->st.file_bytes;
	h.ninodes = s.ninodes;
	h.inode_off = LX_HDR_SIZE;
	h.ndirents = s.dent.len / LX_DIRENT_SIZE;
	h.dirent_off = h.inode_off + s.ino.len;
	h.nxattrs = nx;
	h.xattr_off = h.dirent_off + s.dent.len;
	h.nchunks = b->nchunks;
	h.chunk_off = h.xattr_off + s.xat.len;
	h.nrebuild = b->nrebuild;
	h.rebuild_off = h.chunk_off + b->nchunks * LX_CHUNK_SIZE;
	h.heap_off = h.rebuild_off + b->nrebuild * LX_REBUILD_SIZE;
	h.heap_len = s.heap.len;
	h.total_len = h.heap_off + h.heap_len;
	h.skel_chunk_start = skel_start;
	h.skel_chunk_count = skel_count;
	h.skeleton_bytes = skel_bytes;
	h.nentries = b->st.entries;
	h.piece_size = LAYER_PIECE_SIZE;
	h.npieces = (uint32_t)((h.total_len + LAYER_PIECE_SIZE - 1) / LAYER_PIECE_SIZE);
	if (sb_room(out, h.total_len))
		goto out;
	lx_header_encode(&h, out->p);
	out->len = LX_HDR_SIZE;
	if (sb_add(out, s.ino.p, s.ino.len) || sb_add(out, s.dent.p, s.dent.len) ||
	    sb_add(out, s.xat.p, s.xat.len))
		goto out;
	for (size_t i = 0; i < b->nchunks; i++) {
		uint8_t ce[LX_CHUNK_SIZE] = { 0 };

		memcpy(ce, b->chunks[i].cid.b, DEDUP_CID_LEN);
		lx_put64(ce + 32, b->chunks[i].off);
		lx_put32(ce + 40, b->chunks[i].len);
		if (sb_add(out, ce, sizeof(ce)))
			goto out;
	}
	for (size_t i = 0; i < b->nrebuild; i++) {
		uint8_t re[LX_REBUILD_SIZE] = { 0 };

		lx_put64(re, b->rebuild[i].index);
		lx_put64(re + 8, b->rebuild[i].start);
		lx_put32(re + 16, (uint32_t)b->rebuild[i].count);
		if (sb_add(out, re, sizeof(re)))
			goto out;
	}
	if (sb_add(out, s.heap.p, s.heap.len))
		goto out;
	b->st.inodes = s.ninodes;
	r = 0;
out:
	free(s.ino.p);
	free(s.dent.p);
	free(s.xat.p);
	free(s.heap.p);
	free(s.order);
	free(runs);
	free(kids);
	return r;
}

static int put_piece(struct store *s, const struct store_key *key, const void *data, size_t len)
{
	int r = store_put(s, STORE_REC_META, key, data, len, 0, LAYER_META_KIND);

	if (r == -EEXIST) {
		/* Left by an import that died before its piece 0: replace it. */
		r = store_delete(s, key);
		if (!r)
			r = store_put(s, STORE_REC_META, key, data, len, 0, LAYER_META_KIND);
	}
	return r;
}

int layer_builder_commit(struct layer_builder *b, const struct image_digest *diff_id,
			 uint64_t tar_size, const struct image_skeleton *sk,
			 struct layer_build_stats *st)
{
	struct store *s = chunkstore_store(b->cs);
	uint64_t skel_start = b->nchunks, skel_count = 0, skel_bytes = 0;
	struct sbuf out = { 0 };
	struct store_key key;
	uint32_t npieces;
	void *skhead = NULL;
	int r;

	if (b->err)
		return b->err;
	if (layer_exists(s, diff_id)) {
		/* Write what is queued, as if it had been written one by one. */
		r = dedup_pipeline_flush(b->pipe);
		if (r) {
			b->err = r;
			return r;
		}
		if (st)
			*st = b->st;
		return 0;
	}
	if (sk) {
		/*
		 * The serialized skeleton is its head (counts and holes) and
		 * then its bytes: chunked as one stream in two feeds (the same
		 * chunks as the whole buffer), so megabytes of headers and
		 * padding are not copied into a new buffer first.
		 */
		const void *bytes;
		size_t hlen;

		r = image_skeleton_parts(sk, &skhead, &hlen, &bytes);
		if (r)
			goto out;
		b->cur_off = 0;
		dedup_chunker_reset(b->chunker);
		r = dedup_chunker_feed(b->chunker, skhead, hlen, chunk_cb, b);
		if (!r)
			r = dedup_chunker_feed(b->chunker, bytes, (size_t)image_skeleton_bytes(sk),
					       chunk_cb, b);
		if (!r)
			r = dedup_chunker_finish(b->chunker, chunk_cb, b);
		if (r) {
			dedup_chunker_reset(b->chunker);
			goto out;
		}
		skel_count = b->nchunks - skel_start;
		skel_bytes = hlen + image_skeleton_bytes(sk);
	}
	/* Every chunk written and its id known before the index is built. */
	r = dedup_pipeline_flush(b->pipe);
	if (r)
		goto out;
	r = serialize(b, diff_id, tar_size, skel_start, skel_count, skel_bytes, &out);
	if (r)
		goto out;
	/* Chunks first, durable, then the index that names them. */
	r = store_sync(s);
	if (r)
		goto out;
	npieces = (uint32_t)((out.len + LAYER_PIECE_SIZE - 1) / LAYER_PIECE_SIZE);
	for (uint32_t i = npieces; i-- > 0;) {
		size_t off = (size_t)i * LAYER_PIECE_SIZE;

		layer_piece_key(diff_id, i, &key);
		r = put_piece(s, &key, out.p + off, MIN((size_t)LAYER_PIECE_SIZE, out.len - off));
		if (r)
			goto out;
	}
	r = store_sync(s);
	if (r)
		goto out;
	b->st.index_bytes = out.len;
	b->st.skeleton_bytes = skel_bytes;
	b->st.tar_size = tar_size;
	if (st)
		*st = b->st;
out:
	if (r) {
		char dg[IMAGE_DIGEST_STRLEN];

		log_err("layer %s: cannot store its index: %s", image_digest_format(diff_id, dg),
			strerror(-r));
		b->err = r;
	}
	free(skhead);
	free(out.p);
	return r;
}
