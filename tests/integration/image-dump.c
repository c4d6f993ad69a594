// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * image-dump: test helper (not installed).  Opens any image source, prints
 * its manifest/config summary and each layer's entries, and checks every
 * layer's DiffID by rebuilding the uncompressed tar from the skeleton and
 * the file data.
 *   image-dump [-k KIND] [-r REF | -a] [-q] [-n] [-p os/arch[/variant]] PATH
 *   -q: no entry lines   -n: no rebuild   -a: every image in the source
 *   -t FILE: write the rebuilt tar of the last layer walked to FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/image.h"
#include "strata/log.h"
#include "strata/util.h"

static bool quiet, no_rebuild;
static const char *tar_out;

struct data_store {
	int fd;
	uint64_t len;
	uint64_t *off; /* by entry index */
	size_t cap;
};

static int store_put(struct data_store *ds, uint64_t index, uint64_t off)
{
	if (index >= ds->cap) {
		size_t cap = MAX(ds->cap * 2, (size_t)index + 1024);
		uint64_t *o = realloc(ds->off, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		ds->off = o;
		ds->cap = cap;
	}
	ds->off[index] = off;
	return 0;
}

static int data_cb(void *arg, uint64_t index, uint64_t size, image_put_fn put, void *put_arg)
{
	struct data_store *ds = arg;
	char buf[65536];
	uint64_t off, done = 0;
	int r;

	if (index >= ds->cap)
		return -ENOENT;
	off = ds->off[index];
	while (done < size) {
		size_t n = (size_t)MIN((uint64_t)sizeof(buf), size - done);

		if ((r = strata_pread_full(ds->fd, buf, n, (off_t)(off + done))))
			return r;
		if ((r = put(put_arg, buf, n)))
			return r;
		done += n;
	}
	return 0;
}

struct out_ctx {
	struct image_sha256 *h;
	int fd;
};

static int out_cb(void *arg, const void *buf, size_t len)
{
	struct out_ctx *o = arg;

	image_sha256_update(o->h, buf, len);
	if (o->fd >= 0)
		return strata_pwrite_full(o->fd, buf, len, lseek(o->fd, 0, SEEK_END));
	return 0;
}

static const char *type_name(enum image_entry_type t)
{
	static const char *const n[] = {"?",   "reg", "dir",  "sym", "hard",
					"chr", "blk", "fifo", "sock"};

	return (unsigned)t < ARRAY_SIZE(n) ? n[t] : "?";
}

static int dump_layer(struct image *img, size_t li)
{
	const struct image_descriptor *d = image_layer_desc(img, li);
	const struct image_config_info *ci = image_config(img);
	struct image_tarwalk *tw = NULL;
	struct image_skeleton *sk = NULL;
	struct data_store ds = {.fd = -1};
	const struct image_entry *e;
	struct image_digest diff, blob, rebuilt;
	uint64_t blob_size, tar_size, nent = 0, t0 = strata_now_ns(), t1;
	char dg[IMAGE_DIGEST_STRLEN], dg2[IMAGE_DIGEST_STRLEN], tmpl[] = "/tmp/image-dump.XXXXXX";
	char buf[65536];
	int r;

	printf("layer %zu: %s %s %" PRId64 "\n", li, d->media_type ? d->media_type : "-",
	       d->digest_known ? image_digest_format(&d->digest, dg) : "-", d->size);
	if (!no_rebuild) {
		ds.fd = mkstemp(tmpl);
		if (ds.fd < 0)
			return -errno;
		unlink(tmpl);
	}
	if ((r = image_layer_walk(img, li, no_rebuild, &tw)))
		goto out;
	while ((r = image_tarwalk_next(tw, &e)) == 1) {
		ssize_t n;

		nent++;
		if (e->flags & IMAGE_EF_DATA) {
			uint64_t off = ds.len;

			if (!no_rebuild && (r = store_put(&ds, e->index, off)))
				goto out;
			while ((n = image_tarwalk_read(tw, buf, sizeof(buf))) > 0) {
				if (!no_rebuild &&
				    (r = strata_pwrite_full(ds.fd, buf, (size_t)n, (off_t)ds.len)))
					goto out;
				ds.len += (uint64_t)n;
			}
			if (n < 0) {
				r = (int)n;
				goto out;
			}
		}
		if (quiet)
			continue;
		printf("  %s %04o %" PRIu64 ":%" PRIu64 " %" PRIu64 " %s", type_name(e->type),
		       e->mode, e->uid, e->gid, e->size, e->path);
		if (e->link_target)
			printf(" -> %s", e->link_target);
		if (e->type == IMAGE_ENTRY_CHR || e->type == IMAGE_ENTRY_BLK)
			printf(" dev=%u,%u", e->rdev_major, e->rdev_minor);
		for (size_t i = 0; i < e->nxattrs; i++)
			printf("%s%s", i ? "," : " xattrs=", e->xattrs[i].name);
		if (e->flags & IMAGE_EF_WHITEOUT)
			printf(" [whiteout]");
		if (e->flags & IMAGE_EF_OPAQUE)
			printf(" [opaque]");
		if (e->flags & IMAGE_EF_SPARSE)
			printf(" [sparse]");
		if (e->flags & IMAGE_EF_ROOT)
			printf(" [root]");
		printf("\n");
	}
	if (r < 0)
		goto out;
	t1 = strata_now_ns();
	if ((r = image_tarwalk_result(tw, &diff, &blob, &blob_size, &tar_size,
				      no_rebuild ? NULL : &sk)))
		goto out;
	printf("layer %zu: entries %" PRIu64 " diff_id %s blob %s blob_size %" PRIu64
	       " tar_size %" PRIu64 " walk_ms %.1f\n",
	       li, nent, image_digest_format(&diff, dg), image_digest_format(&blob, dg2), blob_size,
	       tar_size, (double)(t1 - t0) / 1e6);
	if (li < ci->ndiff_ids && !image_digest_equal(&diff, &ci->diff_ids[li])) {
		fprintf(stderr, "image-dump: layer %zu: DiffID differs from config\n", li);
		r = -EBADMSG;
		goto out;
	}
	if (!no_rebuild) {
		struct out_ctx o = {.fd = -1};

		if (tar_out) {
			o.fd = open(tar_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (o.fd < 0) {
				r = -errno;
				goto out;
			}
		}
		if ((r = image_sha256_create(&o.h))) {
			if (o.fd >= 0)
				close(o.fd);
			goto out;
		}
		t0 = strata_now_ns();
		r = image_tar_rebuild(sk, data_cb, &ds, out_cb, &o);
		image_sha256_final(o.h, &rebuilt);
		image_sha256_destroy(o.h);
		if (o.fd >= 0)
			close(o.fd);
		if (r)
			goto out;
		printf("layer %zu: skeleton %" PRIu64 " bytes, %zu holes; rebuild %s (%.1f ms)\n",
		       li, image_skeleton_bytes(sk), image_skeleton_nholes(sk),
		       image_digest_equal(&rebuilt, &diff) ? "OK" : "MISMATCH",
		       (double)(strata_now_ns() - t0) / 1e6);
		if (!image_digest_equal(&rebuilt, &diff)) {
			fprintf(stderr,
				"image-dump: layer %zu: rebuilt tar hashes to %s, DiffID %s\n", li,
				image_digest_format(&rebuilt, dg), image_digest_format(&diff, dg2));
			r = -EBADMSG;
		}
	}
out:
	image_skeleton_destroy(sk);
	image_tarwalk_destroy(tw);
	if (ds.fd >= 0)
		close(ds.fd);
	free(ds.off);
	return r;
}

static void print_list(const char *label, const char *const *v, size_t n)
{
	printf("%s:", label);
	for (size_t i = 0; i < n; i++)
		printf(" \"%s\"", v[i]);
	printf("\n");
}

static int dump_image(struct image *img)
{
	const struct image_descriptor *md = image_manifest_desc(img), *cd = image_config_desc(img);
	const struct image_config_info *ci = image_config(img);
	char dg[IMAGE_DIGEST_STRLEN];
	int r;

	printf("image: %s\n", image_ref(img) ? image_ref(img) : "-");
	if (md)
		printf("manifest: %s %s %" PRId64 "\n", image_digest_format(&md->digest, dg),
		       md->media_type, md->size);
	if (cd) {
		printf("config: %s %" PRId64 "\n", image_digest_format(&cd->digest, dg), cd->size);
		printf("platform: %s/%s%s%s\n", ci->os, ci->architecture, ci->variant ? "/" : "",
		       ci->variant ? ci->variant : "");
		if (ci->has_cmd)
			print_list("cmd", ci->cmd, ci->ncmd);
		if (ci->has_entrypoint)
			print_list("entrypoint", ci->entrypoint, ci->nentrypoint);
		print_list("env", ci->env, ci->nenv);
		printf("workdir: %s\nuser: %s\n", ci->working_dir ? ci->working_dir : "",
		       ci->user ? ci->user : "");
		print_list("ports", ci->exposed_ports, ci->nexposed_ports);
		for (size_t i = 0; i < ci->nlabels; i++)
			printf("label: %s=%s\n", ci->label_keys[i], ci->label_values[i]);
		printf("history: %zu (%zu empty)\n", ci->nhistory, ci->nhistory_empty);
	}
	printf("layers: %zu\n", image_layer_count(img));
	for (size_t i = 0; i < image_layer_count(img); i++)
		if ((r = dump_layer(img, i)))
			return r;
	return 0;
}

int main(int argc, char **argv)
{
	struct image_source_opts so = {0};
	struct image_source *src = NULL;
	struct image *img = NULL;
	const char *ref = NULL;
	char plat[256];
	bool all = false;
	int c, r;

	strata_log_init("image-dump", STRATA_LOG_WARN);
	while ((c = getopt(argc, argv, "k:r:aqnp:t:")) != -1) {
		switch (c) {
		case 'k':
			so.kind = !strcmp(optarg, "oci-layout")	      ? IMAGE_SRC_OCI_LAYOUT
				  : !strcmp(optarg, "oci-archive")    ? IMAGE_SRC_OCI_ARCHIVE
				  : !strcmp(optarg, "docker-archive") ? IMAGE_SRC_DOCKER_ARCHIVE
				  : !strcmp(optarg, "rootfs")	      ? IMAGE_SRC_ROOTFS_TAR
								      : IMAGE_SRC_AUTO;
			break;
		case 'r':
			ref = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'n':
			no_rebuild = true;
			break;
		case 't':
			tar_out = optarg;
			break;
		case 'p': {
			char *s;

			snprintf(plat, sizeof(plat), "%s", optarg);
			so.os = plat;
			if ((s = strchr(plat, '/'))) {
				*s++ = 0;
				so.arch = s;
				if ((s = strchr(s, '/'))) {
					*s++ = 0;
					so.variant = s;
				}
			}
			break;
		}
		default:
			fprintf(stderr, "usage: image-dump [-k KIND] [-r REF | -a] [-q] [-n] "
					"[-p os/arch[/variant]] [-t TAR] PATH\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "image-dump: need exactly one PATH\n");
		return 2;
	}
	r = image_source_open(argv[optind], &so, &src);
	if (r) {
		fprintf(stderr, "image-dump: %s: %s\n", argv[optind], strerror(-r));
		return 1;
	}
	printf("source: %s images: %zu\n", image_source_kind_name(image_source_kind(src)),
	       image_source_count(src));
	for (size_t i = 0; i < image_source_count(src); i++)
		printf("ref %zu: %s\n", i,
		       image_source_ref(src, i) ? image_source_ref(src, i) : "-");
	if (all) {
		for (size_t i = 0; !r && i < image_source_count(src); i++) {
			r = image_source_load(src, i, &img);
			if (!r)
				r = dump_image(img);
			image_destroy(img);
			img = NULL;
		}
	} else {
		r = image_source_find(src, ref, &img);
		if (!r)
			r = dump_image(img);
		image_destroy(img);
	}
	image_source_destroy(src);
	if (r) {
		fprintf(stderr, "image-dump: %s: %s\n", argv[optind], strerror(-r));
		return 1;
	}
	return 0;
}
