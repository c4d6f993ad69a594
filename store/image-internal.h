/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_STORE_IMAGE_INTERNAL_H
#define STRATA_STORE_IMAGE_INTERNAL_H

#include <json-c/json.h>

#include "strata/image.h"

/* Manifests, indexes and configs larger than this are refused (the
 * distribution spec lets registries cap manifests at 4 MiB). */
#define IMAGE_JSON_MAX (4u << 20)
#define IMAGE_CONFIG_MAX (16u << 20)

/* ---- json.c ---- */
/*
 * Parse exactly len bytes as one JSON object (trailing garbage, a top-level
 * non-object or nesting deeper than 64 is -EBADMSG, logged with `what`).
 */
int sj_parse(const void *buf, size_t len, const char *what, struct json_object **out);
/* Same for a top-level array (docker-archive manifest.json). */
int sj_parse_array(const void *buf, size_t len, const char *what, struct json_object **out);
/*
 * Typed getters: -ENOENT (logged when required) if key is absent,
 * -EBADMSG (logged) if it has the wrong type.
 */
int sj_str(struct json_object *o, const char *key, bool required, const char *what,
	   const char **out);
int sj_int64(struct json_object *o, const char *key, bool required, const char *what, int64_t *out);
int sj_obj(struct json_object *o, const char *key, bool required, const char *what,
	   struct json_object **out);
int sj_arr(struct json_object *o, const char *key, bool required, const char *what,
	   struct json_object **out);
/* An array of strings into a malloc'ed vector of borrowed pointers. */
int sj_strv(struct json_object *o, const char *key, const char *what, const char ***vec, size_t *n,
	    bool *present);
/*
 * A descriptor object: mediaType (string, required), digest (sha256 syntax,
 * required), size (integer >= 0, required).  media_type points into o.
 */
int sj_descriptor(struct json_object *o, const char *what, struct image_descriptor *d);

/* ---- oci.c ---- */
struct src_item {
	char *ref;		      /* ref name / first RepoTag, may be NULL */
	struct image_descriptor desc; /* manifest descriptor (OCI) */
	char *media_type;	      /* owned copy of desc.media_type */
	/* docker-archive */
	char *config_path;
	char **layer_paths;
	size_t nlayers;
	char **tags;
	size_t ntags;
};

struct image_source {
	enum image_source_kind kind;
	char *path;
	char *root; /* layout directory (given or extracted) */
	bool root_is_tmp;
	char *os, *arch, *variant;
	size_t n, cap;
	struct src_item *items;
};

struct image {
	struct image_source *src;
	const char *ref;
	void *manifest_raw;
	size_t manifest_len;
	struct image_descriptor mdesc;
	void *config_raw;
	size_t config_len;
	struct image_descriptor cdesc;
	struct json_object *mjson, *cjson;
	size_t nlayers;
	struct image_descriptor *layers;
	char **layer_paths; /* docker-archive / rootfs: file per layer */
	struct image_config_info info;
};

int oci_layout_open(struct image_source *src);
int oci_source_add(struct image_source *src, struct src_item *it);
int oci_load_image(struct image_source *src, size_t i, struct image *img);
int oci_parse_config(struct image *img, const char *what);
/* Read a whole file below root (<= max bytes); checks digest/size when d is set. */
int oci_read_file(const char *root, const char *rel, size_t max, const struct image_descriptor *d,
		  const char *what, void **buf, size_t *len);
enum image_compression oci_layer_compression(const char *media_type, bool *known);

/* ---- archive.c ---- */
int archive_source_open(struct image_source *src);
int docker_load_image(struct image_source *src, size_t i, struct image *img);
void archive_source_cleanup(struct image_source *src);

/* ---- tarwalk.c ---- */
/* The walker closes fd on destroy (layer blobs opened by image_layer_walk). */
void tarwalk_own_fd(struct image_tarwalk *tw, int fd);
ssize_t image_fd_read(void *arg, void *buf, size_t len);

/* ---- tarbuild.c (skeleton builder used by the walker) ---- */
struct skel_hole {
	uint64_t off; /* offset in the skeleton bytes where the data goes */
	uint64_t size;
	uint64_t index;
};
struct image_skeleton {
	uint8_t *bytes;
	uint64_t len, cap;
	struct skel_hole *holes;
	size_t nholes, holes_cap;
};
int skel_append(struct image_skeleton *sk, const void *buf, size_t len);

/* store/tarstream.c: a layer blob's uncompressed bytes, made by a thread. */
struct tw_stream_opts {
	enum image_compression comp; /* declared; checked against the magic */
	const char *name;	     /* for messages */
	const struct image_digest *expect_blob_digest;
	int64_t expect_blob_size; /* -1: unknown */
};
struct tw_stream;
/* Start the thread reading through rd(arg) (called from that thread
 * only, until the end).  Returns 0 and *out, -ENOMEM, -EAGAIN. */
int tw_stream_create(const struct tw_stream_opts *opts, image_read_fn rd, void *arg,
		     struct tw_stream **out);
/* The next bytes at *buf (valid until the next call): their number, 0 at
 * the end (the blob read whole and its size and digest checked), -errno
 * (logged; -EBADMSG for a bad blob); the end or error again afterwards. */
ssize_t tw_stream_next(struct tw_stream *st, const uint8_t **buf);
/* After the end: the DiffID (SHA-256 of the uncompressed bytes), the
 * blob's digest and size. */
void tw_stream_result(const struct tw_stream *st, struct image_digest *diff_id,
		      struct image_digest *blob_digest, uint64_t *blob_size);
/* Stop the thread and free; NULL is accepted. */
void tw_stream_destroy(struct tw_stream *st);
int skel_add_hole(struct image_skeleton *sk, uint64_t size, uint64_t index);

#endif
