// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reading a layer index: piece 0 at open, every other piece the first time
 * a lookup, readdir or read touches it (cached for the layer's lifetime:
 * pieces are immutable).  All section accesses are bound-checked against
 * the header, which was checked against the index length at open.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/layer-internal.h"
#include "strata/chunkcache.h"
#include "strata/layer.h"
#include "strata/log.h"
#include "strata/util.h"

#define READ_BATCH 32u /* chunks fetched per store_get_batch() in layer_read() */

/* Lock order: lock is a leaf (held only to install a piece). */
struct layer {
	struct chunkstore *cs;
	struct lx_header h;
	pthread_mutex_t lock;
	uint8_t **pieces; /* npieces, NULL until loaded */
	char name[IMAGE_DIGEST_STRLEN];
};

/* ---- encoding ---- */

void lx_header_encode(const struct lx_header *h, uint8_t out[LX_HDR_SIZE])
{
	const uint64_t v[] = { h->total_len,	    h->tar_size,	 h->file_bytes,
			       h->ninodes,	    h->inode_off,	 h->ndirents,
			       h->dirent_off,	    h->nxattrs,		 h->xattr_off,
			       h->nchunks,	    h->chunk_off,	 h->nrebuild,
			       h->rebuild_off,	    h->heap_off,	 h->heap_len,
			       h->skel_chunk_start, h->skel_chunk_count, h->skeleton_bytes,
			       h->nentries };

	memset(out, 0, LX_HDR_SIZE);
	memcpy(out, LX_MAGIC, 8);
	lx_put32(out + 8, LX_VERSION);
	lx_put32(out + 12, LX_HDR_SIZE);
	memcpy(out + 16, h->diff_id.sha256, IMAGE_DIGEST_LEN);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		lx_put64(out + 48 + 8 * i, v[i]);
	lx_put32(out + 48 + 8 * ARRAY_SIZE(v), h->npieces);
	lx_put32(out + 52 + 8 * ARRAY_SIZE(v), h->piece_size);
}

/* a + n * size fits in [lo, end]: no overflow, inside the index. */
static bool section_ok(uint64_t off, uint64_t n, uint64_t size, uint64_t end)
{
	if (off < LX_HDR_SIZE || off > end)
		return false;
	if (n && size > (end - off) / n)
		return false;
	return true;
}

int lx_header_decode(const uint8_t *in, size_t len, struct lx_header *h)
{
	uint64_t *v[] = { &h->total_len,	&h->tar_size,	      &h->file_bytes,
			  &h->ninodes,		&h->inode_off,	      &h->ndirents,
			  &h->dirent_off,	&h->nxattrs,	      &h->xattr_off,
			  &h->nchunks,		&h->chunk_off,	      &h->nrebuild,
			  &h->rebuild_off,	&h->heap_off,	      &h->heap_len,
			  &h->skel_chunk_start, &h->skel_chunk_count, &h->skeleton_bytes,
			  &h->nentries };
	uint64_t end;

	if (len < LX_HDR_SIZE || memcmp(in, LX_MAGIC, 8) || lx_get32(in + 8) != LX_VERSION ||
	    lx_get32(in + 12) != LX_HDR_SIZE)
		return -EBADMSG;
	memcpy(h->diff_id.sha256, in + 16, IMAGE_DIGEST_LEN);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		*v[i] = lx_get64(in + 48 + 8 * i);
	h->npieces = lx_get32(in + 48 + 8 * ARRAY_SIZE(v));
	h->piece_size = lx_get32(in + 52 + 8 * ARRAY_SIZE(v));
	end = h->total_len;
	if (h->piece_size != LAYER_PIECE_SIZE || end < LX_HDR_SIZE ||
	    h->npieces != (end + h->piece_size - 1) / h->piece_size)
		return -EBADMSG;
	if (h->ninodes < 1 || h->ninodes > LX_MAX_INODES ||
	    !section_ok(h->inode_off, h->ninodes, LX_INODE_SIZE, end) ||
	    !section_ok(h->dirent_off, h->ndirents, LX_DIRENT_SIZE, end) ||
	    !section_ok(h->xattr_off, h->nxattrs, LX_XATTR_SIZE, end) ||
	    !section_ok(h->chunk_off, h->nchunks, LX_CHUNK_SIZE, end) ||
	    !section_ok(h->rebuild_off, h->nrebuild, LX_REBUILD_SIZE, end) ||
	    !section_ok(h->heap_off, h->heap_len, 1, end))
		return -EBADMSG;
	if (h->skel_chunk_start > h->nchunks || h->skel_chunk_count > h->nchunks - h->skel_chunk_start)
		return -EBADMSG;
	return 0;
}

void lx_inode_encode(const struct lx_inode *in, uint8_t o[LX_INODE_SIZE])
{
	memset(o, 0, LX_INODE_SIZE);
	lx_put32(o, in->mode);
	lx_put32(o + 4, in->nlink);
	lx_put64(o + 8, in->uid);
	lx_put64(o + 16, in->gid);
	lx_put64(o + 24, in->size);
	lx_put64(o + 32, (uint64_t)in->mtime_sec);
	lx_put32(o + 40, in->mtime_nsec);
	lx_put32(o + 44, in->flags);
	lx_put64(o + 48, (uint64_t)in->atime_sec);
	lx_put32(o + 56, in->atime_nsec);
	lx_put32(o + 60, in->rdev_major);
	lx_put64(o + 64, (uint64_t)in->ctime_sec);
	lx_put32(o + 72, in->ctime_nsec);
	lx_put32(o + 76, in->rdev_minor);
	lx_put64(o + 80, in->data);
	lx_put64(o + 88, in->data2);
	lx_put32(o + 96, in->xattr_start);
	lx_put32(o + 100, in->xattr_count);
	lx_put32(o + 104, in->parent);
}

void lx_inode_decode(const uint8_t o[LX_INODE_SIZE], struct lx_inode *in)
{
	in->mode = lx_get32(o);
	in->nlink = lx_get32(o + 4);
	in->uid = lx_get64(o + 8);
	in->gid = lx_get64(o + 16);
	in->size = lx_get64(o + 24);
	in->mtime_sec = (int64_t)lx_get64(o + 32);
	in->mtime_nsec = lx_get32(o + 40);
	in->flags = lx_get32(o + 44);
	in->atime_sec = (int64_t)lx_get64(o + 48);
	in->atime_nsec = lx_get32(o + 56);
	in->rdev_major = lx_get32(o + 60);
	in->ctime_sec = (int64_t)lx_get64(o + 64);
	in->ctime_nsec = lx_get32(o + 72);
	in->rdev_minor = lx_get32(o + 76);
	in->data = lx_get64(o + 80);
	in->data2 = lx_get64(o + 88);
	in->xattr_start = lx_get32(o + 96);
	in->xattr_count = lx_get32(o + 100);
	in->parent = lx_get32(o + 104);
}

/* ---- keys and existence ---- */

void layer_piece_key(const struct image_digest *diff_id, uint32_t piece, struct store_key *key)
{
	static const char tag[] = "strata-layer-v1";
	uint8_t buf[sizeof(tag) + IMAGE_DIGEST_LEN + 4];
	struct image_digest d;

	memcpy(buf, tag, sizeof(tag));
	memcpy(buf + sizeof(tag), diff_id->sha256, IMAGE_DIGEST_LEN);
	lx_put32(buf + sizeof(tag) + IMAGE_DIGEST_LEN, piece);
	image_sha256_buf(buf, sizeof(buf), &d);
	memcpy(key->b, d.sha256, STORE_KEY_LEN);
}

bool layer_exists(struct store *s, const struct image_digest *diff_id)
{
	struct store_rec_info info;
	struct store_key key;

	layer_piece_key(diff_id, 0, &key);
	return store_lookup(s, &key, &info) == 0 && info.type == STORE_REC_META &&
	       info.user == LAYER_META_KIND;
}

int layer_delete(struct store *s, const struct image_digest *diff_id)
{
	struct store_key key;
	struct lx_header h;
	uint32_t n = 1;
	size_t len;
	uint8_t *p0;
	int r;

	layer_piece_key(diff_id, 0, &key);
	p0 = malloc(LAYER_PIECE_SIZE);
	if (!p0)
		return -ENOMEM;
	r = store_get(s, &key, p0, LAYER_PIECE_SIZE, &len, NULL);
	if (!r && !lx_header_decode(p0, len, &h))
		n = h.npieces;
	free(p0);
	if (r)
		return r;
	r = store_delete(s, &key);
	for (uint32_t i = 1; i < n && !r; i++) {
		layer_piece_key(diff_id, i, &key);
		r = store_delete(s, &key);
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

/* ---- open ---- */

static int load_piece(struct layer *l, uint32_t i, uint8_t **out)
{
	size_t want, len;
	struct store_key key;
	struct store_rec_info info;
	uint8_t *p;
	int r;

	pthread_mutex_lock(&l->lock);
	p = l->pieces[i];
	pthread_mutex_unlock(&l->lock);
	if (p) {
		*out = p;
		return 0;
	}
	want = (size_t)MIN((uint64_t)LAYER_PIECE_SIZE, l->h.total_len - (uint64_t)i * LAYER_PIECE_SIZE);
	p = malloc(LAYER_PIECE_SIZE);
	if (!p)
		return -ENOMEM;
	layer_piece_key(&l->h.diff_id, i, &key);
	r = store_get(chunkstore_store(l->cs), &key, p, LAYER_PIECE_SIZE, &len, &info);
	if (!r && (len != want || info.type != STORE_REC_META || info.user != LAYER_META_KIND))
		r = -EBADMSG;
	if (r) {
		free(p);
		log_err("layer %s: index piece %u: %s", l->name, i,
			r == -ENOENT ? "missing" : strerror(-r));
		return r == -ENOENT ? -EBADMSG : r;
	}
	pthread_mutex_lock(&l->lock);
	if (l->pieces[i]) {
		free(p);
		p = l->pieces[i];
	} else {
		l->pieces[i] = p;
	}
	pthread_mutex_unlock(&l->lock);
	*out = p;
	return 0;
}

/* Copy len bytes at off of the index byte string. */
static int lx_read(struct layer *l, uint64_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	if (off > l->h.total_len || len > l->h.total_len - off) {
		log_err("layer %s: index reference out of bounds", l->name);
		return -EBADMSG;
	}
	while (len) {
		uint32_t pi = (uint32_t)(off / LAYER_PIECE_SIZE);
		size_t po = (size_t)(off % LAYER_PIECE_SIZE), n = MIN(len, LAYER_PIECE_SIZE - po);
		uint8_t *p;
		int r = load_piece(l, pi, &p);

		if (r)
			return r;
		memcpy(d, p + po, n);
		d += n;
		off += n;
		len -= n;
	}
	return 0;
}

int layer_open(struct chunkstore *cs, const struct image_digest *diff_id, struct layer **out)
{
	struct store_rec_info info;
	struct store_key key;
	struct layer *l;
	uint8_t *p0;
	size_t len;
	int r;

	l = calloc(1, sizeof(*l));
	p0 = malloc(LAYER_PIECE_SIZE);
	if (!l || !p0) {
		free(l);
		free(p0);
		return -ENOMEM;
	}
	l->cs = cs;
	image_digest_format(diff_id, l->name);
	pthread_mutex_init(&l->lock, NULL);
	layer_piece_key(diff_id, 0, &key);
	r = store_get(chunkstore_store(cs), &key, p0, LAYER_PIECE_SIZE, &len, &info);
	if (r)
		goto err;
	if (info.type != STORE_REC_META || info.user != LAYER_META_KIND ||
	    lx_header_decode(p0, len, &l->h) ||
	    !image_digest_equal(&l->h.diff_id, diff_id) ||
	    len != MIN((uint64_t)LAYER_PIECE_SIZE, l->h.total_len)) {
		log_err("layer %s: index header is corrupt", l->name);
		r = -EBADMSG;
		goto err;
	}
	l->pieces = calloc(l->h.npieces, sizeof(*l->pieces));
	if (!l->pieces) {
		r = -ENOMEM;
		goto err;
	}
	l->pieces[0] = p0;
	*out = l;
	return 0;
err:
	free(p0);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return r;
}

void layer_close(struct layer *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->h.npieces; i++)
		free(l->pieces[i]);
	free(l->pieces);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void layer_get_info(const struct layer *l, struct layer_info *info)
{
	info->diff_id = l->h.diff_id;
	info->tar_size = l->h.tar_size;
	info->file_bytes = l->h.file_bytes;
	info->ninodes = l->h.ninodes;
	info->ndirents = l->h.ndirents;
	info->nchunks = l->h.nchunks;
	info->index_bytes = l->h.total_len;
	info->npieces = l->h.npieces;
	info->skeleton_bytes = l->h.skeleton_bytes;
}

/* ---- tree ---- */

static int get_inode(struct layer *l, uint64_t ino, struct lx_inode *in)
{
	uint8_t rec[LX_INODE_SIZE];
	int r;

	if (ino < 1 || ino > l->h.ninodes)
		return -ENOENT;
	r = lx_read(l, l->h.inode_off + (ino - 1) * LX_INODE_SIZE, rec, sizeof(rec));
	if (r)
		return r;
	lx_inode_decode(rec, in);
	return 0;
}

/* Dirent run of a directory inode, checked against the section. */
static int dir_run(struct layer *l, const struct lx_inode *in, uint64_t *start, uint64_t *count)
{
	if (!S_ISDIR(in->mode) || (in->flags & LAYER_F_WHITEOUT))
		return -ENOTDIR;
	if (in->data > l->h.ndirents || in->data2 > l->h.ndirents - in->data) {
		log_err("layer %s: directory entries out of bounds", l->name);
		return -EBADMSG;
	}
	*start = in->data;
	*count = in->data2;
	return 0;
}

struct lx_dirent {
	uint64_t name_off;
	uint32_t name_len, ino;
};

static int get_dirent(struct layer *l, uint64_t i, struct lx_dirent *d)
{
	uint8_t rec[LX_DIRENT_SIZE];
	int r = lx_read(l, l->h.dirent_off + i * LX_DIRENT_SIZE, rec, sizeof(rec));

	if (r)
		return r;
	d->name_off = lx_get64(rec);
	d->name_len = lx_get32(rec + 8);
	d->ino = lx_get32(rec + 12);
	if (d->name_off > l->h.heap_len || d->name_len > l->h.heap_len - d->name_off) {
		log_err("layer %s: directory entry name out of bounds", l->name);
		return -EBADMSG;
	}
	return 0;
}

/* Read a heap string into buf (malloc'ed when larger than the stack buffer). */
static int heap_read(struct layer *l, uint64_t off, size_t len, char *stackbuf, size_t stacklen,
		     char **out)
{
	char *b = len <= stacklen ? stackbuf : malloc(len ? len : 1);
	int r;

	if (!b)
		return -ENOMEM;
	r = lx_read(l, l->h.heap_off + off, b, len);
	if (r) {
		if (b != stackbuf)
			free(b);
		return r;
	}
	*out = b;
	return 0;
}

int layer_lookup(struct layer *l, uint64_t dir, const char *name, size_t namelen, uint64_t *ino)
{
	struct lx_inode in;
	uint64_t start, count, lo, hi;
	int r;

	r = get_inode(l, dir, &in);
	if (r)
		return r;
	r = dir_run(l, &in, &start, &count);
	if (r)
		return r;
	lo = 0;
	hi = count;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct lx_dirent d;
		char sb[256], *n;
		int c;

		r = get_dirent(l, start + mid, &d);
		if (r)
			return r;
		r = heap_read(l, d.name_off, d.name_len, sb, sizeof(sb), &n);
		if (r)
			return r;
		c = memcmp(name, n, MIN(namelen, (size_t)d.name_len));
		if (!c)
			c = namelen < d.name_len ? -1 : namelen > d.name_len;
		if (n != sb)
			free(n);
		if (!c) {
			*ino = d.ino;
			return d.ino >= 1 && d.ino <= l->h.ninodes ? 0 : -EBADMSG;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int layer_getattr(struct layer *l, uint64_t ino, struct layer_attr *a)
{
	struct lx_inode in;
	int r = get_inode(l, ino, &in);

	if (r)
		return r;
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = in.mode;
	a->nlink = in.nlink;
	a->uid = in.uid;
	a->gid = in.gid;
	a->size = in.size;
	a->mtime.tv_sec = in.mtime_sec;
	a->mtime.tv_nsec = in.mtime_nsec;
	a->atime.tv_sec = in.atime_sec;
	a->atime.tv_nsec = in.atime_nsec;
	a->ctime.tv_sec = in.ctime_sec;
	a->ctime.tv_nsec = in.ctime_nsec;
	a->rdev_major = in.rdev_major;
	a->rdev_minor = in.rdev_minor;
	a->flags = in.flags;
	return 0;
}

int layer_readdir(struct layer *l, uint64_t dir, uint64_t cookie, layer_dirent_fn fn, void *arg)
{
	struct lx_inode in;
	uint64_t start, count;
	int r;

	r = get_inode(l, dir, &in);
	if (r)
		return r;
	r = dir_run(l, &in, &start, &count);
	if (r)
		return r;
	for (uint64_t i = cookie; i < count; i++) {
		struct lx_dirent d;
		struct lx_inode child;
		char sb[256], *n;

		r = get_dirent(l, start + i, &d);
		if (r)
			return r;
		r = get_inode(l, d.ino, &child);
		if (r)
			return r == -ENOENT ? -EBADMSG : r;
		r = heap_read(l, d.name_off, d.name_len, sb, sizeof(sb), &n);
		if (r)
			return r;
		r = fn(arg, n, d.name_len, d.ino, child.mode & S_IFMT, i + 1);
		if (n != sb)
			free(n);
		if (r)
			return r;
	}
	return 0;
}

int layer_readlink(struct layer *l, uint64_t ino, char *buf, size_t size, size_t *len)
{
	struct lx_inode in;
	int r = get_inode(l, ino, &in);

	if (r)
		return r;
	if (!S_ISLNK(in.mode))
		return -EINVAL;
	if (in.data > l->h.heap_len || in.data2 > l->h.heap_len - in.data)
		return -EBADMSG;
	*len = (size_t)in.data2;
	if (size < in.data2)
		return -ERANGE;
	return lx_read(l, l->h.heap_off + in.data, buf, (size_t)in.data2);
}

struct lx_xattr {
	uint64_t name_off, value_off;
	uint32_t name_len, value_len;
};

static int get_xattr(struct layer *l, const struct lx_inode *in, uint32_t k, struct lx_xattr *x)
{
	uint8_t rec[LX_XATTR_SIZE];
	uint64_t i = (uint64_t)in->xattr_start + k;
	int r;

	if (i >= l->h.nxattrs)
		return -EBADMSG;
	r = lx_read(l, l->h.xattr_off + i * LX_XATTR_SIZE, rec, sizeof(rec));
	if (r)
		return r;
	x->name_off = lx_get64(rec);
	x->name_len = lx_get32(rec + 8);
	x->value_len = lx_get32(rec + 12);
	x->value_off = lx_get64(rec + 16);
	if (x->name_off > l->h.heap_len || x->name_len > l->h.heap_len - x->name_off ||
	    x->value_off > l->h.heap_len || x->value_len > l->h.heap_len - x->value_off)
		return -EBADMSG;
	return 0;
}

int layer_listxattr(struct layer *l, uint64_t ino, char *buf, size_t size, size_t *len)
{
	struct lx_inode in;
	size_t need = 0;
	int r = get_inode(l, ino, &in);

	if (r)
		return r;
	for (uint32_t k = 0; k < in.xattr_count; k++) {
		struct lx_xattr x;

		r = get_xattr(l, &in, k, &x);
		if (r)
			return r;
		if (size && need + x.name_len + 1 <= size) {
			r = lx_read(l, l->h.heap_off + x.name_off, buf + need, x.name_len);
			if (r)
				return r;
			buf[need + x.name_len] = 0;
		}
		need += x.name_len + 1;
	}
	*len = need;
	return size && need > size ? -ERANGE : 0;
}

int layer_getxattr(struct layer *l, uint64_t ino, const char *name, void *buf, size_t size,
		   size_t *len)
{
	size_t nl = strlen(name);
	struct lx_inode in;
	int r = get_inode(l, ino, &in);

	if (r)
		return r;
	for (uint32_t k = 0; k < in.xattr_count; k++) {
		struct lx_xattr x;
		char sb[256], *n;
		bool eq;

		r = get_xattr(l, &in, k, &x);
		if (r)
			return r;
		if (x.name_len != nl)
			continue;
		r = heap_read(l, x.name_off, x.name_len, sb, sizeof(sb), &n);
		if (r)
			return r;
		eq = !memcmp(n, name, nl);
		if (n != sb)
			free(n);
		if (!eq)
			continue;
		*len = x.value_len;
		if (!size)
			return 0;
		if (size < x.value_len)
			return -ERANGE;
		return lx_read(l, l->h.heap_off + x.value_off, buf, x.value_len);
	}
	return -ENODATA;
}

/* ---- data ---- */

struct lx_chunk {
	struct dedup_cid cid;
	uint64_t off;
	uint32_t len;
};

static int get_chunk(struct layer *l, uint64_t i, struct lx_chunk *c)
{
	uint8_t rec[LX_CHUNK_SIZE];
	int r;

	if (i >= l->h.nchunks)
		return -EBADMSG;
	r = lx_read(l, l->h.chunk_off + i * LX_CHUNK_SIZE, rec, sizeof(rec));
	if (r)
		return r;
	memcpy(c->cid.b, rec, DEDUP_CID_LEN);
	c->off = lx_get64(rec + 32);
	c->len = lx_get32(rec + 40);
	if (c->len == 0 || c->len > DEDUP_CHUNK_MAX_LIMIT)
		return -EBADMSG;
	return 0;
}

/* One chunk of a read: where its wanted bytes are and where they go. */
struct read_piece {
	struct lx_chunk c;
	uint64_t cs, ce; /* [cs, ce) of the chunk is wanted */
	size_t dst;	 /* at this offset of the caller's buffer */
};

/*
 * Fetch the pieces that the cache did not have with one batched store
 * read, copy their wanted bytes, and keep in the cache those only part of
 * which was wanted: the next request (the kernel's next read-ahead window,
 * a page fault next to the last one) is likely to want the rest, while a
 * chunk taken whole is in the kernel's page cache now.  Only chunks in
 * their own buffer are kept (decompressed, or read straight into it): they
 * cost no copy, and they are the ones worth keeping, a decompression
 * costing more than the read.  A raw chunk left in the store's read
 * buffer (aligned reads of a device) is read again when asked again:
 * copying it out cost about as much as that read (measured: random 4 KiB
 * reads 0.6x as fast with copies).
 */
static int fetch(struct layer *l, struct chunk_cache *cc, struct read_piece *p, unsigned n,
		 uint8_t *buf)
{
	struct chunkstore_req reqs[READ_BATCH];
	int r = 0;

	memset(reqs, 0, n * sizeof(reqs[0]));
	for (unsigned k = 0; k < n; k++) {
		reqs[k].cid = p[k].c.cid;
		reqs[k].bufsize = p[k].c.len;
		reqs[k].buf = chunk_cache_alloc(p[k].c.len);
		if (!reqs[k].buf) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = chunkstore_get_batch(l->cs, reqs, n);
	for (unsigned k = 0; k < n && !r; k++) {
		if (reqs[k].len != p[k].c.len) {
			log_err("layer %s: chunk length does not match", l->name);
			r = -EBADMSG;
			break;
		}
		memcpy(buf + p[k].dst, (const uint8_t *)reqs[k].data + p[k].cs,
		       (size_t)(p[k].ce - p[k].cs));
		if (cc && (p[k].cs > 0 || p[k].ce < p[k].c.len) && reqs[k].data == reqs[k].buf) {
			chunk_cache_adopt(cc, &p[k].c.cid, reqs[k].buf, reqs[k].len,
					  (size_t)(p[k].ce - p[k].cs));
			reqs[k].buf = NULL;
		}
	}
out:
	for (unsigned k = 0; k < n; k++)
		chunk_cache_free(reqs[k].buf);
	return r;
}

/*
 * Copy [off, off+len) of the stream made by chunks [start, start+count)
 * into buf; returns bytes copied or -errno.
 */
static ssize_t read_run(struct layer *l, uint64_t start, uint64_t count, uint64_t size, void *buf,
			size_t len, uint64_t off)
{
	struct chunk_cache *cc = chunkstore_cache(l->cs);
	struct read_piece p[READ_BATCH];
	uint64_t lo = 0, hi = count, i, expect;
	size_t done = 0;
	int r = 0;

	if (off >= size)
		return 0;
	len = (size_t)MIN((uint64_t)len, size - off);
	/* First chunk whose end is past off. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct lx_chunk c;

		r = get_chunk(l, start + mid, &c);
		if (r)
			return r;
		if (c.off + c.len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	expect = off; /* the first chunk starts at or before off, the others
		       * where the one before ends */
	while (done < len) {
		unsigned n = 0, seen = 0;

		for (; seen < READ_BATCH && i < count; seen++, i++) {
			struct read_piece *q = &p[n];

			r = get_chunk(l, start + i, &q->c);
			if (r)
				return r;
			if (q->c.off >= off + len)
				break;
			if (i == lo ? q->c.off > off : q->c.off != expect) {
				log_err("layer %s: chunk offsets do not match", l->name);
				return -EBADMSG;
			}
			expect = q->c.off + q->c.len;
			q->cs = off > q->c.off ? off - q->c.off : 0;
			q->ce = MIN((uint64_t)q->c.len, off + len - q->c.off);
			q->dst = (size_t)(q->c.off + q->cs - off);
			done += (size_t)(q->ce - q->cs);
			if (!cc || !chunk_cache_read(cc, &q->c.cid, q->c.len, q->cs,
						     (size_t)(q->ce - q->cs),
						     (uint8_t *)buf + q->dst))
				n++;
		}
		if (!seen) {
			log_err("layer %s: chunk list ends before the file's size", l->name);
			return -EBADMSG;
		}
		if (n && (r = fetch(l, cc, p, n, buf)))
			return r;
	}
	return (ssize_t)done;
}

ssize_t layer_read(struct layer *l, uint64_t ino, void *buf, size_t len, uint64_t off)
{
	struct lx_inode in;
	int r = get_inode(l, ino, &in);

	if (r)
		return r;
	if (!S_ISREG(in.mode) || (in.flags & LAYER_F_WHITEOUT))
		return -EINVAL;
	if (in.data > l->h.nchunks || in.data2 > l->h.nchunks - in.data)
		return -EBADMSG;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return read_run(l, in.data, in.data2, in.size, buf, len, off);
}

/* ---- whole index walks ---- */

int layer_for_each_chunk(struct layer *l, layer_chunk_fn fn, void *arg)
{
	for (uint64_t i = 0; i < l->h.nchunks; i++) {
		struct lx_chunk c;
		int r = get_chunk(l, i, &c);

		if (r)
			return r;
		r = fn(arg, &c.cid, c.len);
		if (r)
			return r;
	}
	return 0;
}

struct rebuild_ctx {
	struct layer *l;
	uint8_t *buf;
};

static int rebuild_data(void *arg, uint64_t index, uint64_t size, image_put_fn put,
			void *put_arg)
{
	struct rebuild_ctx *c = arg;
	struct layer *l = c->l;
	uint64_t lo = 0, hi = l->h.nrebuild, start, count, done = 0;
	uint8_t rec[LX_REBUILD_SIZE];
	int r;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, idx;

		r = lx_read(l, l->h.rebuild_off + mid * LX_REBUILD_SIZE, rec, sizeof(rec));
		if (r)
			return r;
		idx = lx_get64(rec);
		if (idx == index)
			goto found;
		if (idx < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	log_err("layer %s: no data for tar entry %llu", l->name, (unsigned long long)index);
	return -EBADMSG;
found:
	start = lx_get64(rec + 8);
	count = lx_get32(rec + 16);
	if (start > l->h.nchunks || count > l->h.nchunks - start)
		return -EBADMSG;
	while (done < size) {
		size_t n = (size_t)MIN((uint64_t)(4u << 20), size - done);
		ssize_t got = read_run(l, start, count, size, c->buf, n, done);

		if (got <= 0)
			return got < 0 ? (int)got : -EBADMSG;
		r = put(put_arg, c->buf, (size_t)got);
		if (r)
			return r;
		done += (uint64_t)got;
	}
	return 0;
}

int layer_rebuild_tar(struct layer *l, image_put_fn out, void *out_arg)
{
	struct rebuild_ctx c = { .l = l };
	struct image_skeleton *sk = NULL;
	uint8_t *skbuf = NULL;
	ssize_t got;
	int r;

	if (!l->h.skel_chunk_count)
		return -ENODATA;
	if (l->h.skeleton_bytes > (1ull << 32))
		return -EBADMSG;
	skbuf = malloc(l->h.skeleton_bytes ? l->h.skeleton_bytes : 1);
	c.buf = malloc(4u << 20);
	if (!skbuf || !c.buf) {
		r = -ENOMEM;
		goto out;
	}
	got = read_run(l, l->h.skel_chunk_start, l->h.skel_chunk_count, l->h.skeleton_bytes, skbuf,
		       (size_t)l->h.skeleton_bytes, 0);
	if (got < 0 || (uint64_t)got != l->h.skeleton_bytes) {
		r = got < 0 ? (int)got : -EBADMSG;
		goto out;
	}
	r = image_skeleton_parse(skbuf, (size_t)l->h.skeleton_bytes, &sk);
	if (r) {
		log_err("layer %s: stored skeleton does not parse", l->name);
		goto out;
	}
	r = image_tar_rebuild(sk, rebuild_data, &c, out, out_arg);
out:
	image_skeleton_destroy(sk);
	free(skbuf);
	free(c.buf);
	return r;
}
