/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_FS_INTERNAL_H
#define STRATA_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "strata/fs.h"
#include "strata/log.h"

/*
 * Layers.  Index 0 is the upper directory (absent on a read-only mount),
 * 1..n are the lowers, top first.  A directory's presence across layers is a
 * 64-bit mask (bit i = layer i), which limits a mount to FS_MAX_LAYERS
 * lowers.  Paths handed to layer ops are relative to the layer root ("."
 * is the root) and never start with '/'.
 */
struct fs_layer;
struct fs;
struct store;
struct chunkstore;

enum fs_layer_kind {
	LAYER_ABSENT = 0, /* nothing under that name in this layer */
	LAYER_ENTRY,	  /* a real entry; *st is filled */
	LAYER_WHITEOUT,	  /* char 0/0 device or a ".wh.<name>" sibling */
};

/* Called for each readdir entry; return non-zero to stop. */
typedef int (*fs_layer_dirent_fn)(void *arg, const char *name, ino_t ino,
			       unsigned char d_type, enum fs_layer_kind kind);

/* An open file of a layer: fd >= 0 when the data is a plain host file, so
 * it can be spliced; backends without a host fd set fd = -1 and serve read(). */
struct fs_layer_file {
	struct fs_layer *layer;
	int fd;
	void *priv;
};

/*
 * One backend of a read-only layer: the host-directory layer (fs/layer_dir.c,
 * also used to read the upper) now, the store-backed layer later.  All ops
 * return 0 / a length on success and -errno on failure; they never reply
 * to FUSE and never change the layer.
 */
struct fs_layer_ops {
	const char *name;
	/* What is at path: *kind, and *st for LAYER_ENTRY (lstat semantics).
	 * Whiteouts: char 0/0, and ".wh.<name>" next to an absent name. */
	int (*lookup)(struct fs_layer *l, const char *path, struct stat *st,
		      enum fs_layer_kind *kind);
	/* 1 if the directory at path is opaque (overlay.opaque xattr "y" or a
	 * ".wh..wh..opq" entry), 0 if not. */
	int (*is_opaque)(struct fs_layer *l, const char *path);
	/* Every entry of the directory except "." and ".."; ".wh.<x>" files
	 * come out as whiteouts named <x>, ".wh..wh..opq" is skipped. */
	int (*readdir)(struct fs_layer *l, const char *path, fs_layer_dirent_fn fn,
		       void *arg);
	int (*open)(struct fs_layer *l, const char *path, int flags,
		    struct fs_layer_file **out);
	ssize_t (*read)(struct fs_layer_file *f, void *buf, size_t size, off_t off);
	void (*close)(struct fs_layer_file *f);
	ssize_t (*readlink)(struct fs_layer *l, const char *path, char *buf,
			    size_t size);
	ssize_t (*listxattr)(struct fs_layer *l, const char *path, char *buf,
			     size_t size);
	ssize_t (*getxattr)(struct fs_layer *l, const char *path, const char *name,
			    void *buf, size_t size);
	int (*statfs)(struct fs_layer *l, struct statvfs *st);
	void (*destroy)(struct fs_layer *l);
};

struct fs_layer {
	const struct fs_layer_ops *ops;
	unsigned index; /* 0 = upper */
	int root_fd;	/* host-directory backends: O_PATH|O_DIRECTORY root */
	dev_t dev;
	char *path;
	void *priv;	/* backend state (fs/layer_store.c) */
};

/* fs/layer_dir.c: a host directory as a layer. */
int fs_layer_dir_create(const char *path, unsigned index, struct fs_layer **out);
void fs_layer_destroy(struct fs_layer *l);

/* fs/layer_store.c: a layer of the block store, named in lowerdir= as
 * "store:STORE_PATH@sha256:DIFFID".  The first such layer opens the store
 * read-only (one store handle per daemon, fs->store); every store layer
 * of a mount must name the same store. */
#define FS_STORE_PREFIX "store:"
bool fs_lower_is_store(const char *spec);
int fs_layer_store_create(struct fs *fs, const char *spec, unsigned index,
			  struct fs_layer **out);
/* Close the store after every store layer was destroyed. */
void fs_store_close(struct fs *fs);

/*
 * Inodes.  Identity is (layer, device, inode in that layer) of the object's
 * topmost copy when the node is created; lower hardlinks therefore share one
 * node.  The st_ino strata reports is fixed for a node's lifetime and
 * derived from the layers: layer index in the top 8 bits, the layer's
 * st_ino below (upper: index 0, so upper files keep their own st_ino).
 * A directory with lower content reports its topmost lower copy's number
 * whether or not it has been copied up, so directory numbers never change;
 * a copied-up object keeps its lower number, also across remounts: copy-up
 * records it in the upper copy (FS_ORIGIN_XATTR), and resolution reports
 * it.  Unique as long as each layer is one filesystem with inode numbers
 * below 2^56.
 *
 * Lock order (outer first):
 *   1. fs->rename_lock (rwlock): write for rename, read for every other
 *      change of the upper (create, link, unlink, rmdir, setattr, xattr
 *      changes, open for writing), so that paths built from parent
 *      pointers stay valid while an operation uses them.
 *   2. fs_inode.lock: at most one at a time.  Copy-up holds it while it
 *      builds the node's upper copy (or completes a metacopy's data),
 *      after copying up the parents (each under its own lock, released
 *      before the child's is taken); linking the other names of a copied-up
 *      hardlink (fs/hardlink.c) runs after the node's lock is released and
 *      copies up their parents the same way.  Other holders only read or
 *      update layers/opaque/data_layer.
 *   3. fs->links_lock: only while a layer's hardlink table is built (it
 *      calls layer ops, no strata lock).
 *   4. fs->table_lock (leaf: nothing is locked while it is held).
 *   5. fs->handles_lock (leaf, fs/handles.c): only to link or unlink a
 *      handle.
 *   Directory handles have their own mutex (fs/dir.c), taken with no
 *   other lock held; a readdirplus under it takes 2 and 4 as lookups do.
 * Names within one directory need no strata lock: the kernel holds the
 * parent's i_rwsem exclusively around create, link, unlink, rmdir and
 * rename, and shared around lookup and readdir.  Reads of file data take
 * no lock at all.
 */
/* Another name of a hardlinked node; holds a ref on parent. */
struct fs_alias {
	struct fs_alias *next;
	struct fs_inode *parent;
	char *name;
};

struct fs_inode {
	/* identity; set at creation, changed only by fs_inode_rekey() */
	struct fs_inode *hnext;	 /* table_lock */
	unsigned key_layer;	 /* table_lock */
	dev_t key_dev;		 /* table_lock */
	ino_t key_ino;		 /* table_lock */
	uint64_t st_ino;	 /* immutable */
	mode_t type;		 /* S_IFMT bits, immutable */

	/* namespace; protected by table_lock */
	struct fs_inode *parent; /* holds a ref; NULL for the root */
	char *name;
	struct fs_alias *aliases; /* other names of a hardlinked non-dir */
	uint64_t nlookup; /* kernel lookup count */
	uint64_t refs;	  /* children, open handles, in-flight ops */

	/* state; protected by lock (lock order 2) */
	pthread_mutex_t lock;
	uint64_t layers;  /* bit i: present in layer i (dirs: every merged
			   * layer; others: only the top copy's bit) */
	bool opaque;      /* dir: the top copy hides everything below */
	unsigned data_layer; /* metacopy: the upper copy has metadata only and
			      * the data is in this lower at the same path;
			      * 0 = data in the top copy */
	uint64_t dir_gen; /* atomic: dir listing changes (fs_dir_changed) */
	/* open regular-file handles (fs/passthrough.c); lock */
	unsigned pt_open;     /* in passthrough mode, all to backing pt_id */
	unsigned cached_open; /* in caching mode */
	int32_t pt_id;
	bool pt_lower;	      /* pt_id is a lower file's: the data may not
			       * change until the last such handle closes */
	unsigned pt_writers;  /* write-opens and truncates under way */
};

struct fs {
	struct fs_config cfg;
	struct fs_layer *layers[FS_MAX_LAYERS + 1]; /* [0] upper or NULL */
	unsigned nlayers;			  /* 1 + nlower */
	int upper_fd;				  /* O_DIRECTORY, -1 if ro */
	int work_fd;				  /* O_DIRECTORY, -1 if ro */
	struct fuse_session *se;
	double timeout;
	bool writeback; /* FUSE_CAP_WRITEBACK_CACHE granted (fs/ops.c init) */
	bool pt_offered; /* the kernel offered FUSE_PASSTHROUGH (INIT) */
	bool pt;	 /* passthrough accepted at INIT */
	bool pt_up;	 /* atomic: ... for upper files, still working */
	bool pt_lo;	 /* atomic: ... for lower files, still working */
	bool killpriv_offered; /* ... FUSE_HANDLE_KILLPRIV_V2 (INIT) */
	bool killpriv;	       /* accepted (fs/killpriv.c) */
	struct fs_readpool *rp; /* fs/readpool.c, NULL: reads on the worker */

	pthread_rwlock_t rename_lock; /* lock order 1 */

	pthread_mutex_t table_lock; /* lock order 4 (leaf) */
	struct fs_inode **table;    /* table_lock */
	size_t table_size;	    /* table_lock */
	size_t table_count;	    /* table_lock */
	struct fs_inode *root;

	uint64_t tmp_seq; /* atomic: work directory names */

	/* Per lower layer: its multiply linked files (fs/hardlink.c), built
	 * on first use under links_lock (lock order 3), immutable afterwards. */
	pthread_mutex_t links_lock;
	struct fs_links *links[FS_MAX_LAYERS + 1];

	/* Store-backed lowers (fs/layer_store.c), opened read-only by the
	 * first of them; immutable afterwards. */
	struct store *store;
	struct chunkstore *cs;
	struct chunk_cache *cache; /* cfg.chunk_cache bytes, NULL: none */
	char *store_path;

	struct fs_quota *quota; /* fs/quota.c; NULL without upper limits */

	/* Every file and directory handle the kernel holds (fs/handles.c). */
	pthread_mutex_t handles_lock; /* lock order 5 (leaf) */
	struct fs_handle *handles;    /* handles_lock */
};

/*
 * fs/handles.c: the handles the kernel holds, so that a daemon stopped by
 * a signal (whose open files the kernel never releases to it) frees them
 * before it exits, as it does everything else.  Embedded first in struct
 * fs_fh (fs/file.c) and struct dir_handle (fs/dir.c).  Link a handle
 * before the reply that hands it to the kernel (a RELEASE may follow at
 * once, on another thread) and unlink it when it is released, or when
 * that reply fails.
 */
struct fs_handle {
	struct fs_handle *prev, *next;
	void (*drop)(struct fs_handle *h); /* close and free it */
};
void fs_handles_init(struct fs *fs);
void fs_handle_link(struct fs *fs, struct fs_handle *h, void (*drop)(struct fs_handle *h));
void fs_handle_unlink(struct fs *fs, struct fs_handle *h);
/* After the session loop: drop every handle still linked. */
void fs_handles_drop_all(struct fs *fs);

/* Upper xattr holding the st_ino a copied-up object reports (decimal), so
 * that it keeps its lower number across remounts.  Under trusted.overlay.
 * so that both strata and kernel overlayfs hide it; the kernel ignores
 * names it does not know. */
#define FS_ORIGIN_XATTR "trusted.overlay.strata.ino"
/* Kernel overlayfs's marker of an upper file whose data is in a lower. */
#define FS_METACOPY_XATTR "trusted.overlay.metacopy"

/* fs/hardlink.c */
struct fs_links;
void fs_links_free(struct fs_links *t);
/* After copying up the lower file (layer li, lpath, st) to upath: link
 * every other name under which the merged view still shows it. */
void fs_link_aliases(struct fs *fs, unsigned li, const char *lpath,
		     const struct stat *st, const char *upath);

/* fs/inode.c */
int fs_table_init(struct fs *fs);
void fs_table_destroy(struct fs *fs);
uint64_t fs_make_ino(unsigned layer, ino_t ino);
/* Find or create the node for identity (layer, st) under parent/name; adds
 * one to nlookup when lookup is true, else one ref.  *out holds that count. */
int fs_inode_get(struct fs *fs, struct fs_inode *parent, const char *name,
		 unsigned layer, const struct stat *st, uint64_t st_ino,
		 uint64_t layers, bool opaque, unsigned data_layer, bool lookup,
		 struct fs_inode **out);
struct fs_inode *fs_inode_from_id(struct fs *fs, fuse_ino_t id);
fuse_ino_t fs_inode_id(struct fs *fs, struct fs_inode *n);
void fs_inode_ref(struct fs *fs, struct fs_inode *n);
void fs_inode_unref(struct fs *fs, struct fs_inode *n);
void fs_inode_forget(struct fs *fs, struct fs_inode *n, uint64_t nlookup);
/* Move n to a new identity (copy-up) and/or a new name (rename). */
void fs_inode_rekey(struct fs *fs, struct fs_inode *n, unsigned layer,
		    const struct stat *st);
/* The upper object (layer 0, st) lost its last name: make its node
 * unreachable by key, since the inode number can be reused. */
void fs_inode_unhash(struct fs *fs, unsigned layer, const struct stat *st);
/* Make n unreachable by key, so that the next lookup of its name makes a
 * new node (fs/passthrough.c); n keeps its name for the handles it has. */
void fs_inode_detach(struct fs *fs, struct fs_inode *n);
void fs_inode_move(struct fs *fs, struct fs_inode *n,
		   struct fs_inode *oldparent, const char *oldname,
		   struct fs_inode *newparent, const char *newname);
/* parent/name of the object (layer, st) was removed; gone: it was the last
 * name, so its node must not be found again by an inode number reuse. */
void fs_inode_drop_name(struct fs *fs, unsigned layer, const struct stat *st,
			struct fs_inode *parent, const char *name, bool gone);
struct fs_inode *fs_inode_find(struct fs *fs, unsigned layer,
			       const struct stat *st);
/* Path of n relative to the layer roots ("." for the root), or of n/name. */
int fs_inode_path(struct fs *fs, struct fs_inode *n, const char *name,
		  char *buf, size_t size);
uint64_t fs_inode_layers(struct fs_inode *n);
unsigned fs_inode_top(struct fs_inode *n);

/* fs/lookup.c: the merged view of one name. */
struct fs_entry {
	unsigned top;	 /* layer of the visible copy */
	uint64_t layers; /* dirs: merged layers; others: bit of top */
	bool opaque;
	bool lower_positive; /* some lower (below upper) has this name */
	unsigned data_layer; /* upper metacopy file: layer holding the data */
	struct stat st;	 /* of the top copy */
	uint64_t ino;	 /* st_ino to report: see struct fs_inode */
};
/* Resolve name in dir; -ENOENT when absent or whited out. */
int fs_resolve(struct fs *fs, struct fs_inode *dir, const char *name,
	       struct fs_entry *e);
/* Lookup for FUSE: resolve + get node + fill attributes. */
int fs_do_lookup(struct fs *fs, struct fs_inode *dir, const char *name,
		 struct fuse_entry_param *e);
int fs_getattr_node(struct fs *fs, struct fs_inode *n, struct stat *st);
void fs_fix_attr(struct fs *fs, struct fs_inode *n, struct stat *st);
void fs_fix_attr_data(struct fs *fs, struct fs_inode *n, const char *path,
		      struct stat *st);
/* Any lower layer below the upper in dir's mask holds name (entry or not
 * whited out above)?  Decides whether removing name needs a whiteout. */
int fs_lower_positive(struct fs *fs, struct fs_inode *dir, const char *name,
		      bool *pos);

/* fs/dir.c: merged directory listings. */
struct fs_dirent {
	char *name;
	ino_t ino;
	unsigned char type;
};
struct fs_dir {
	struct fs_dirent *ents;
	size_t n, cap;
};
int fs_dir_list(struct fs *fs, struct fs_inode *dir, struct fs_dir *d);
void fs_dir_free(struct fs_dir *d);
int fs_dir_is_empty(struct fs *fs, struct fs_inode *dir);
/* The merged listing of dir changed: drop the kernel's cached listing. */
void fs_dir_changed(struct fs *fs, struct fs_inode *dir);

/* fs/copyup.c */
/* Make n's top copy an upper one with its data (completing a metacopy). */
int fs_copy_up(struct fs *fs, struct fs_inode *n);
/* The same for a metadata change (owner, mode, times, xattrs): with
 * metacopy=on, a lower regular file gets an upper copy without data, as
 * kernel overlayfs does with metacopy=on (trusted.overlay.metacopy). */
int fs_copy_up_meta(struct fs *fs, struct fs_inode *n);
/* The same before truncating n to size 0: no data is copied. */
int fs_copy_up_truncate(struct fs *fs, struct fs_inode *n);
/* Copy the whole merged subtree of a directory into the upper and make it
 * opaque, so it no longer depends on lowers (used before renaming it). */
int fs_copy_up_tree(struct fs *fs, struct fs_inode *n);

/* fs/upper.c: primitives on the upper and work directories. */
int fs_work_tmpname(struct fs *fs, char *buf, size_t size);
int fs_upper_whiteout(struct fs *fs, const char *path);
int fs_upper_set_opaque(struct fs *fs, const char *path);
int fs_upper_remove_tree(struct fs *fs, int dirfd, const char *name);
/* Remove the whiteouts in an upper directory; strict: -ENOTEMPTY when it
 * holds anything else. */
int fs_upper_clear_whiteouts(struct fs *fs, const char *path, bool strict);
/* Put work/tmp at upper path: replaces a whiteout there (exchange + remove
 * for directories), fails with EEXIST on anything else. */
int fs_upper_install(struct fs *fs, const char *tmp, const char *path,
		     bool is_dir);
int fs_upper_entry(struct fs *fs, const char *path, struct stat *st,
		   enum fs_layer_kind *kind);
int fs_set_owner(struct fs *fs, int dirfd, const char *name, uid_t uid,
		 gid_t gid, int flags);
/* Record in the upper object dirfd/name the st_ino it reports. */
int fs_set_origin(struct fs *fs, int dirfd, const char *name, uint64_t ino);

/* fs/xattr.c */
bool fs_xattr_private(const char *name);
int fs_copy_xattrs(struct fs *fs, struct fs_layer *l, const char *path,
		   int dst_dirfd, const char *dst_name);
extern const char *const fs_opaque_xattrs[];

/* fs/origin.c: the layer an entry comes from, as a read-only, unlisted
 * virtual xattr (the kernel passes user.* only for files and directories;
 * the trusted.* name, for root, works on every type). */
#define FS_WHICH_XATTR "user.strata.origin"
#define FS_WHICH_XATTR_TRUSTED "trusted.strata.origin"
bool fs_which_xattr(const char *name);
/* The value for n into buf (size 0: only its length); -ERANGE if short. */
ssize_t fs_which_get(struct fs *fs, struct fs_inode *n, char *buf, size_t size);

/* fs/quota.c: upper_size= and upper_inodes= (see the top of the file).
 * Every function is a no-op (0) when the mount has no limit. */
struct fs_quota;
struct fs_qres { /* a reservation */
	int64_t bytes, inodes;
};
struct fs_qdata { /* a data change of one file in flight */
	pthread_mutex_t *lock;
	struct fs_qres res;
	struct stat st;
	int fd;
	const char *path;
};
/* Scan the upper and set up the counters. */
int fs_quota_init(struct fs *fs);
void fs_quota_destroy(struct fs *fs);
/* Reserve room for a change: 0 or -EDQUOT; release undoes it. */
int fs_quota_reserve(struct fs *fs, struct fs_qres *r, int64_t bytes,
		     int64_t inodes);
void fs_quota_release(struct fs *fs, struct fs_qres *r);
/* Count a change of the upper; _obj: the object st was installed (sign 1)
 * or lost its last name (-1). */
void fs_quota_add(struct fs *fs, int64_t bytes, int64_t inodes);
void fs_quota_add_obj(struct fs *fs, const struct stat *st, int sign);
/* Release r and count the object st now in the upper (NULL: nothing). */
void fs_quota_commit(struct fs *fs, struct fs_qres *r, const struct stat *st);
/* Reserve for copying up the lower object st (with its data or not). */
int fs_quota_reserve_copy(struct fs *fs, struct fs_qres *r,
			  const struct stat *st, bool data);
/* unlinkat / fs_upper_remove_tree that uncount what they remove. */
int fs_quota_unlink(struct fs *fs, int dirfd, const char *path);
int fs_quota_remove_tree(struct fs *fs, int dirfd, const char *name);
/* Around a data change of the upper file open as fd (or at path when fd
 * is -1) covering [off, off+len) (len 0: truncate, allocates nothing);
 * key identifies the file (its node).  begin: 0 or -EDQUOT/-errno, and
 * then end must follow. */
int fs_quota_data_begin(struct fs *fs, struct fs_qdata *d, uint64_t key,
			int fd, const char *path, off_t off, uint64_t len);
void fs_quota_data_end(struct fs *fs, struct fs_qdata *d);
/* rename() installed its source over the upper target st of that kind
 * (LAYER_ABSENT: none); whiteout: it left one at the old name. */
void fs_quota_renamed(struct fs *fs, enum fs_layer_kind kind,
		      const struct stat *st, bool whiteout);
/* statfs of a limited mount: the limits as size, usage exact (512-byte
 * f_frsize). */
void fs_quota_statfs(struct fs *fs, struct statvfs *st);

/* The FUSE handlers, split by file: fs/ops.c (session, init, statfs),
 * fs/node_ops.c (lookup, getattr, setattr, names), fs/file.c (data),
 * fs/dir.c (readdir), fs/xattr.c (xattrs). */
struct fs *fs_from_req(fuse_req_t req);
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *buf,
		     off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		     off_t length, struct fuse_file_info *fi);
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			   off_t off_out, struct fuse_file_info *fi_out,
			   size_t len, int flags);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Helpers shared by the handlers. */
void fs_reply_entry(fuse_req_t req, struct fs *fs, int err,
		    struct fuse_entry_param *e);

/* fs/readpool.c: reads of FS_RP_MIN bytes or more on helper threads.
 * fs_rp_start() once the daemon runs (not before it forks), fs_rp_stop()
 * after the session loop; fs_rp_queue() false: read on this thread.
 * fs_read_reply() (fs/file.c) reads and replies, on either. */
#define FS_RP_MIN (64u << 10)
/* Chunk cache aging (fs/layer_store.c, run by the read threads). */
#define FS_CACHE_TICK_S 10
#define FS_CACHE_IDLE_S 30
void fs_cache_age(struct fs *fs);
int fs_rp_start(struct fs *fs, unsigned n);
void fs_rp_stop(struct fs *fs);
bool fs_rp_queue(struct fs *fs, fuse_req_t req, struct fs_layer_file *lf,
		 size_t size, off_t off);
void fs_read_reply(fuse_req_t req, struct fs_layer_file *lf, size_t size,
		   off_t off);

/* fs/wire.c: protocol pieces newer than libfuse 3.14.  fs_wire_install()
 * after mounting; fs_wire_init_reply() and fs_wire_open_reply() mark the
 * next INIT or OPEN/CREATE reply of this thread (id 0: unmark);
 * fs_wire_kill_suidgid(): the request being handled carries the kernel's
 * kill-suid/sgid flag. */
int fs_wire_install(struct fs *fs);
void fs_wire_init_reply(void);
void fs_wire_open_reply(int32_t id);
bool fs_wire_kill_suidgid(void);

/* fs/passthrough.c: FUSE passthrough of upper and lower files (Linux
 * 6.9+).  fs_pt_init() from the INIT op (true: leave the writeback cache
 * off); fs_pt_open() picks a handle's mode (*id 0: caching);
 * fs_pt_write_begin()/_end() bracket what may change a file's data
 * (write-opens, truncates): while the file's lower data is open in
 * passthrough mode begin detaches the node and returns -ESTALE, for the
 * kernel to look the name up again and retry on a new node. */
bool fs_pt_init(struct fs *fs);
int fs_pt_open(struct fs *fs, struct fs_inode *n, int fd, bool upper_data,
	       bool wr, int32_t *id);
int fs_pt_write_begin(struct fs *fs, struct fs_inode *n);
void fs_pt_write_end(struct fs *fs, struct fs_inode *n);
void fs_pt_release(struct fs *fs, struct fs_inode *n, int32_t id);

/* fs/killpriv.c: with FUSE_HANDLE_KILLPRIV_V2 this daemon clears set-ID
 * bits for callers without CAP_FSETID.  fs_is_setid(): a regular file
 * with bits a write may clear; fs_kill_setid(): clear them on the upper
 * file open as fd if the request asks it (or force); fs_kill_setid_caller():
 * the same for requests without the flag (fallocate, copy_file_range),
 * judged from the caller's uid. */
static inline bool fs_is_setid(mode_t m)
{
	return S_ISREG(m) && (m & (S_ISUID | S_ISGID));
}
int fs_kill_setid(fuse_req_t req, fuse_ino_t ino, int fd, bool force);
int fs_kill_setid_caller(fuse_req_t req, fuse_ino_t ino, int fd);

#endif
