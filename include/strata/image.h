/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_IMAGE_H
#define STRATA_IMAGE_H

/*
 * Image formats: from "a file on disk in some image format" to "a validated
 * manifest/config plus a stream of normalized tar entries".  No dependency
 * on the block store.  Every function returns 0 or -errno and logs the
 * object (blob digest, entry name, file) that failed with log_err().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- digests ---------------------------------------------------------- */

#define IMAGE_DIGEST_LEN 32
/* "sha256:" + 64 hex + NUL */
#define IMAGE_DIGEST_STRLEN 72

struct image_digest {
	uint8_t sha256[IMAGE_DIGEST_LEN];
};

/*
 * Parse "sha256:<64 lowercase hex>" into *out.  Returns 0, -ENOTSUP for a
 * well-formed digest of another algorithm (sha512:...), -EINVAL for
 * anything else (upper case, wrong length, missing algorithm).
 */
int image_digest_parse(const char *s, struct image_digest *out);

/* Format d as "sha256:<hex>" into buf (IMAGE_DIGEST_STRLEN bytes); returns buf. */
char *image_digest_format(const struct image_digest *d, char *buf);

/* True when both digests are equal. */
bool image_digest_equal(const struct image_digest *a, const struct image_digest *b);

/*
 * Streaming SHA-256 (OpenSSL EVP).  create returns -ENOMEM on failure;
 * final may be called once and leaves the context reusable only after
 * image_sha256_reset().  destroy accepts NULL.
 */
struct image_sha256;
int image_sha256_create(struct image_sha256 **out);
void image_sha256_update(struct image_sha256 *h, const void *buf, size_t len);
void image_sha256_final(struct image_sha256 *h, struct image_digest *out);
void image_sha256_reset(struct image_sha256 *h);
void image_sha256_destroy(struct image_sha256 *h);
/* One-shot helper. */
void image_sha256_buf(const void *buf, size_t len, struct image_digest *out);

/* ---- layer tar walker -------------------------------------------------- */

enum image_entry_type {
	IMAGE_ENTRY_REG = 1,
	IMAGE_ENTRY_DIR,
	IMAGE_ENTRY_SYMLINK,
	IMAGE_ENTRY_HARDLINK,
	IMAGE_ENTRY_CHR,
	IMAGE_ENTRY_BLK,
	IMAGE_ENTRY_FIFO,
	IMAGE_ENTRY_SOCK,
};

/* Entry flags. */
#define IMAGE_EF_WHITEOUT 0x1	/* ".wh.NAME": path is the deleted name */
#define IMAGE_EF_OPAQUE 0x2	/* ".wh..wh..opq": path is the opaque dir */
#define IMAGE_EF_SPARSE 0x4	/* sparse file: data bytes kept in the skeleton */
#define IMAGE_EF_ROOT 0x8	/* "./" or "/": the layer's root directory (path ".") */
#define IMAGE_EF_AUFS_META 0x10 /* ".wh..wh.*" other than opq: aufs metadata */
#define IMAGE_EF_DATA 0x20	/* data is a hole in the skeleton: rebuild asks for it */

struct image_xattr {
	const char *name;
	const void *value;
	size_t size;
};

/*
 * One normalized tar entry; valid until the next image_tarwalk_next() call.
 * path: leading "/" and "./" stripped, "." and empty components removed,
 * never contains ".." (such entries are rejected).  Symlink targets are
 * kept verbatim and never resolved; hardlink targets are normalized like
 * paths.  POSIX ACLs are reported as system.posix_acl_access/default xattrs
 * in the kernel's binary format.
 */
struct image_entry {
	uint64_t index;	      /* 0-based position in the layer */
	const char *path;     /* normalized */
	const char *raw_path; /* as found in the archive */
	enum image_entry_type type;
	uint32_t mode; /* permission bits, 07777 */
	uint64_t uid, gid;
	const char *uname, *gname; /* may be NULL */
	uint64_t size;		   /* data bytes (regular files) */
	struct timespec mtime, atime, ctime;
	bool has_atime, has_ctime;
	uint32_t rdev_major, rdev_minor;
	const char *link_target; /* symlink or hardlink target, else NULL */
	size_t nxattrs;
	const struct image_xattr *xattrs;
	unsigned flags; /* IMAGE_EF_* */
};

/*
 * Where the walker reads the layer blob from: read() fills buf with up to
 * len bytes, returns the count, 0 at the end, or -errno.  The walker
 * never seeks.
 */
typedef ssize_t (*image_read_fn)(void *arg, void *buf, size_t len);

enum image_compression {
	IMAGE_COMP_AUTO = 0, /* by magic (docker-archive, rootfs tarballs) */
	IMAGE_COMP_NONE,
	IMAGE_COMP_GZIP,
	IMAGE_COMP_ZSTD,
};

struct image_tarwalk_opts {
	enum image_compression comp; /* declared by the media type; checked against magic */
	const char *name;	     /* for messages, e.g. the blob digest */
	/* When set, the uncompressed stream's SHA-256 must equal it. */
	const struct image_digest *expect_diff_id;
	/* When set, the raw (compressed) blob's SHA-256 and size must match. */
	const struct image_digest *expect_blob_digest;
	int64_t expect_blob_size; /* -1: unknown */
	bool no_skeleton;	  /* do not record the skeleton (saves memory) */
};

struct image_tarwalk;
struct image_skeleton;

/*
 * Start walking a layer.  The walker owns nothing of rd/arg.  Returns 0 and
 * *out, -ENOMEM.  destroy accepts NULL.
 */
int image_tarwalk_create(const struct image_tarwalk_opts *opts, image_read_fn rd, void *arg,
			 struct image_tarwalk **out);
void image_tarwalk_destroy(struct image_tarwalk *tw);

/*
 * Next entry: returns 1 and *entry, 0 at the end of the archive (after the
 * whole blob was read and every digest verified), or -errno: -EBADMSG for
 * a malformed/unsafe entry, a digest or size mismatch, a truncated or
 * corrupt compressed stream (logged with the entry or blob name).  Data of
 * the previous entry that was not read is consumed here.
 */
int image_tarwalk_next(struct image_tarwalk *tw, const struct image_entry **entry);

/*
 * Read the current entry's data (regular files; sparse files read with holes
 * as zeros): returns bytes copied, 0 at the end of the data, -errno.
 */
ssize_t image_tarwalk_read(struct image_tarwalk *tw, void *buf, size_t len);

/*
 * After image_tarwalk_next() returned 0: the DiffID (SHA-256 of the
 * uncompressed tar), the raw blob digest and size, the uncompressed size,
 * and the skeleton (ownership moves to the caller; NULL when no_skeleton).
 */
int image_tarwalk_result(struct image_tarwalk *tw, struct image_digest *diff_id,
			 struct image_digest *blob_digest, uint64_t *blob_size, uint64_t *tar_size,
			 struct image_skeleton **skel);

/* ---- skeleton and byte-exact rebuild ------------------------------------ */

/*
 * The skeleton holds every byte of the uncompressed tar that is not regular
 * file data (headers, extension records, padding, end blocks, trailing
 * bytes; sparse files' data too) plus the holes where each data-bearing
 * entry's bytes go.  Serialized form (little endian): "STSKEL01", u64
 * nholes, u64 nbytes, nholes x {u64 offset in bytes, u64 size, u64 entry
 * index}, bytes.
 */
void image_skeleton_destroy(struct image_skeleton *sk);
uint64_t image_skeleton_bytes(const struct image_skeleton *sk);
size_t image_skeleton_nholes(const struct image_skeleton *sk);
/* Serialize into a malloc'ed buffer (caller frees); 0 or -ENOMEM. */
int image_skeleton_serialize(const struct image_skeleton *sk, void **buf, size_t *len);
/*
 * The serialized form in two parts, without copying the bytes: *head (a
 * malloc'ed buffer of *head_len bytes: magic, counts and holes; caller
 * frees) followed by *bytes (image_skeleton_bytes() bytes, owned by sk).
 * 0 or -ENOMEM.
 */
int image_skeleton_parts(const struct image_skeleton *sk, void **head, size_t *head_len,
			 const void **bytes);
/* Parse a serialized skeleton; -EBADMSG on any inconsistency. */
int image_skeleton_parse(const void *buf, size_t len, struct image_skeleton **out);

/*
 * Data of entry `index` for the rebuild: write exactly `size` bytes through
 * put(put_arg, ...) (any number of calls), return 0 or -errno.
 */
typedef int (*image_put_fn)(void *put_arg, const void *buf, size_t len);
typedef int (*image_data_fn)(void *arg, uint64_t index, uint64_t size, image_put_fn put,
			     void *put_arg);

/*
 * Write the uncompressed tar byte for byte: skeleton bytes and, for each
 * hole, what data() provides, all through out(out_arg, ...).  Returns 0,
 * -EBADMSG when data() wrote a different size than the hole, or the first
 * -errno of a callback.
 */
int image_tar_rebuild(const struct image_skeleton *sk, image_data_fn data, void *arg,
		      image_put_fn out, void *out_arg);

/* ---- image sources ------------------------------------------------------ */

enum image_source_kind {
	IMAGE_SRC_AUTO = 0,
	IMAGE_SRC_OCI_LAYOUT,	  /* directory */
	IMAGE_SRC_OCI_ARCHIVE,	  /* tar of a layout */
	IMAGE_SRC_DOCKER_ARCHIVE, /* docker save / skopeo docker-archive: */
	IMAGE_SRC_ROOTFS_TAR,	  /* plain (maybe compressed) rootfs tarball: one layer */
};

struct image_source_opts {
	enum image_source_kind kind;
	const char *os, *arch, *variant; /* platform; NULL: linux / amd64 / any */
	const char *tmpdir;		 /* for archive extraction; NULL: $TMPDIR or /var/tmp */
};

struct image_source;
struct image;

/*
 * Open a source and read its index (layout/oci-archive: index.json with
 * nested indexes resolved to the chosen platform; docker-archive:
 * manifest.json).  Archives are extracted to a private temporary directory
 * removed by destroy.  Returns 0, -ENOENT, -EBADMSG (malformed or unsafe),
 * -ENOTSUP (unsupported format), -errno.  destroy accepts NULL.
 */
int image_source_open(const char *path, const struct image_source_opts *opts,
		      struct image_source **out);
void image_source_destroy(struct image_source *src);
enum image_source_kind image_source_kind(const struct image_source *src);
const char *image_source_kind_name(enum image_source_kind kind);

/* Number of images (tagged or not) in the source, and the ref of each (may be NULL). */
size_t image_source_count(const struct image_source *src);
const char *image_source_ref(const struct image_source *src, size_t i);

/*
 * Load and validate image i (manifest, config, digests, sizes).  The image
 * stays valid while src lives.  Returns 0, -EBADMSG, -ENOENT (missing
 * blob), -ENOTSUP.  image_source_find() selects by ref name (NULL: the
 * only image; -EINVAL if there are several), -ENOENT if no such ref.
 */
int image_source_load(struct image_source *src, size_t i, struct image **out);
int image_source_find(struct image_source *src, const char *ref, struct image **out);
void image_destroy(struct image *img);

struct image_descriptor {
	const char *media_type;
	struct image_digest digest;
	bool digest_known; /* false for legacy docker-archive layers and rootfs tars */
	int64_t size;	   /* -1 when unknown */
};

const char *image_ref(const struct image *img);
/*
 * Raw manifest and config bytes exactly as stored, so they can be kept and
 * re-exported byte for byte.  The manifest is NULL for docker-archive and
 * rootfs sources (none exists); the config is NULL for rootfs sources.
 */
const void *image_manifest_raw(const struct image *img, size_t *len);
const struct image_descriptor *image_manifest_desc(const struct image *img);
const void *image_config_raw(const struct image *img, size_t *len);
const struct image_descriptor *image_config_desc(const struct image *img);

struct image_config_info {
	const char *architecture, *os, *variant, *created;
	const char *user, *working_dir;
	const char *const *cmd;
	size_t ncmd;
	bool has_cmd;
	const char *const *entrypoint;
	size_t nentrypoint;
	bool has_entrypoint;
	const char *const *env;
	size_t nenv;
	const char *const *exposed_ports;
	size_t nexposed_ports;
	const char *const *label_keys;
	const char *const *label_values;
	size_t nlabels;
	size_t nhistory, nhistory_empty;
	size_t ndiff_ids;
	const struct image_digest *diff_ids;
};
/* Parsed config (owned by img); all-NULL/zero for a rootfs source. */
const struct image_config_info *image_config(const struct image *img);

size_t image_layer_count(const struct image *img);
const struct image_descriptor *image_layer_desc(const struct image *img, size_t i);

/*
 * Walk layer i: checks media type vs magic, blob digest and size, and the
 * DiffID against the config's rootfs.diff_ids[i].  Ownership of *out goes
 * to the caller.
 */
int image_layer_walk(struct image *img, size_t i, bool no_skeleton, struct image_tarwalk **out);

/*
 * Parse and validate a manifest, index or config JSON document in memory
 * (what the readers do for files).  Exposed for tests and fuzzing.
 * kind: "manifest", "index" or "config".  0, -EBADMSG, -ENOTSUP.
 */
int image_json_validate(const char *kind, const void *buf, size_t len);

#endif
