// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strata commit: upper directory -> diff tar (a private O_TMPFILE) ->
 * layer index through the same tar walker and layer builder as import ->
 * config and manifest blobs -> tags -> image record.  The diff tar is read
 * back with its DiffID as the expected one, so what is indexed is exactly
 * what was hashed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/commit-internal.h"
#include "strata/log.h"

struct fdread {
	int fd;
};

static ssize_t fd_read(void *arg, void *buf, size_t len)
{
	struct fdread *f = arg;
	ssize_t n;

	do
		n = read(f->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t tw_read(void *arg, void *buf, size_t len)
{
	return image_tarwalk_read(arg, buf, len);
}

static int open_tmp(const char *dir)
{
	char path[4096];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd < 0 ? -errno : fd;
	snprintf(path, sizeof(path), "%s/strata-commit-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int attempt(const struct commit_opts *o, struct commit_lower *lw, int fd,
		   struct commit_diff_stats *ds, struct commit_result *res)
{
	res->attempts++;
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
		return -errno;
	return commit_diff_write(o->upper, lw, fd, ds);
}

/* A consistent diff of the upper in fd, retrying and freezing as commit.h says. */
static int snapshot(const struct commit_opts *o, struct commit_lower *lw, int fd,
		    struct commit_diff_stats *ds, struct commit_result *res)
{
	unsigned tries = o->tries ? o->tries : 3;
	int r = -EAGAIN, fr;

	for (unsigned i = 0; i < tries && r == -EAGAIN; i++) {
		if (i)
			nap(10L * i);
		r = attempt(o, lw, fd, ds, res);
	}
	if (r != -EAGAIN || !o->freeze)
		goto out;
	r = o->freeze(o->freeze_arg, true);
	if (r) {
		log_err("%s: cannot stop the writers of the upper: %s", o->upper, strerror(-r));
		return r;
	}
	res->frozen = true;
	/* Two clock ticks, so that every last change is older than the attempt. */
	nap(25);
	r = attempt(o, lw, fd, ds, res);
	fr = o->freeze(o->freeze_arg, false);
	if (!r && fr) {
		log_err("%s: cannot resume the writers of the upper: %s", o->upper, strerror(-fr));
		r = fr;
	}
out:
	if (r == -EAGAIN)
		log_err("%s: kept changing during %u attempts: no consistent snapshot", o->upper,
			res->attempts);
	return r;
}

/* Index the diff tar in fd (DiffID known) as a layer unless it is stored. */
static int build_layer(struct chunkstore *cs, const struct commit_opts *o, int fd,
		       const struct commit_diff_stats *ds, struct commit_result *res)
{
	struct image_tarwalk_opts to = {.comp = IMAGE_COMP_NONE,
					.name = "commit diff",
					.expect_diff_id = &ds->diff_id,
					.expect_blob_size = -1};
	struct fdread fr = {fd};
	struct image_tarwalk *tw = NULL;
	struct layer_builder *b = NULL;
	struct image_skeleton *sk = NULL;
	struct layer_build_stats bs;
	const struct image_entry *e;
	struct image_digest diff, blob;
	uint64_t blob_size, tar_size;
	int r;

	if (layer_exists(chunkstore_store(cs), &ds->diff_id))
		return 0;
	if (lseek(fd, 0, SEEK_SET))
		return -errno;
	r = image_tarwalk_create(&to, fd_read, &fr, &tw);
	if (!r)
		r = layer_builder_create(cs, o->chunking, &b);
	while (!r && (r = image_tarwalk_next(tw, &e)) == 1)
		r = layer_builder_add(b, e, tw_read, tw);
	if (!r)
		r = image_tarwalk_result(tw, &diff, &blob, &blob_size, &tar_size, &sk);
	if (!r && !image_digest_equal(&diff, &ds->diff_id))
		r = -EBADMSG;
	if (!r)
		r = layer_builder_commit(b, &diff, tar_size, sk, &bs);
	if (!r) {
		res->layer_new = true;
		res->new_chunks = bs.new_chunks;
		res->new_bytes = bs.new_bytes;
		res->stored_bytes = bs.stored_bytes;
	}
	image_skeleton_destroy(sk);
	layer_builder_destroy(b);
	image_tarwalk_destroy(tw);
	return r;
}

static int put_json(struct store *s, const char *kind, const char *buf, size_t len,
		    struct image_digest *d)
{
	int r = image_json_validate(kind, buf, len);

	if (r) {
		log_err("the new image's %s does not validate", kind);
		return r;
	}
	image_sha256_buf(buf, len, d);
	return catalog_put_blob(s, d, buf, len);
}

int commit_image(struct chunkstore *cs, struct catalog *cat, const struct catalog_image *parent,
		 const struct commit_opts *o, struct commit_result *res)
{
	struct store *s = chunkstore_store(cs);
	struct commit_lower *lw = NULL;
	struct commit_diff_stats ds;
	struct catalog_image ci = {0};
	struct image_digest parent_id = parent->id;
	char nn[CATALOG_NAME_MAX + 1], *cfg = NULL, *man = NULL;
	void *pcfg = NULL, *pman = NULL;
	size_t pcfg_len, pman_len, cfg_len, man_len;
	struct stat st;
	int fd = -1, r;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < o->nnames; i++) {
		if (catalog_normalize_name(o->names[i], nn)) {
			log_err("'%s' is not a valid image name", o->names[i]);
			return -EINVAL;
		}
	}
	r = commit_check_changes(o->changes, o->nchanges);
	if (r)
		return r;
	if (stat(o->upper, &st)) {
		r = -errno;
		log_err("upper directory %s: %s", o->upper, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("upper directory %s: not a directory", o->upper);
		return -ENOTDIR;
	}
	/* The parent's blobs first: a damaged parent fails before any work. */
	r = catalog_get_blob(s, &parent->config, &pcfg, &pcfg_len);
	if (!r)
		r = catalog_get_blob(s, &parent->id, &pman, &pman_len);
	if (r) {
		log_err("parent image: config or manifest unreadable: %s", strerror(-r));
		goto out;
	}
	ci.nlayers = parent->nlayers + 1;
	ci.layers = calloc(ci.nlayers, sizeof(*ci.layers));
	if (!ci.layers) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < parent->nlayers; i++) {
		ci.layers[i] = parent->layers[i];
		ci.layers[i].media_type = NULL;
		ci.layers[i].media_type =
		    strdup(parent->layers[i].media_type
			       ? commit_oci_media_type(parent->layers[i].media_type)
			       : COMMIT_MT_LAYER_TAR);
		if (!ci.layers[i].media_type) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = commit_lower_create(cs, parent, &lw);
	if (r)
		goto out;
	fd = open_tmp(o->tmpdir ? o->tmpdir : "/var/tmp");
	if (fd < 0) {
		r = fd;
		log_err("%s: cannot create the diff tar: %s", o->tmpdir ? o->tmpdir : "/var/tmp",
			strerror(-r));
		goto out;
	}
	r = snapshot(o, lw, fd, &ds, res);
	if (r)
		goto out;
	res->diff_id = ds.diff_id;
	res->tar_size = ds.tar_size;
	res->entries = ds.entries;
	res->metacopy_files = ds.metacopy;
	r = build_layer(cs, o, fd, &ds, res);
	if (r) {
		log_err("indexing the diff as a layer: %s", strerror(-r));
		goto out;
	}
	r = commit_make_config(pcfg, pcfg_len, o, &ds.diff_id, &cfg, &cfg_len);
	if (!r)
		r = put_json(s, "config", cfg, cfg_len, &ci.config);
	if (!r)
		r = commit_make_manifest(pman, pman_len, &parent_id, &ci.config, cfg_len,
					 &ds.diff_id, ds.tar_size, &man, &man_len);
	if (!r)
		r = put_json(s, "manifest", man, man_len, &ci.id);
	if (r)
		goto out;
	ci.layers[parent->nlayers] = (struct catalog_layer){
	    .diff_id = ds.diff_id,
	    .digest = ds.diff_id,
	    .media_type = strdup(COMMIT_MT_LAYER_TAR),
	    .size = (int64_t)ds.tar_size,
	    .tar_size = ds.tar_size,
	};
	ci.manifest_media_type = strdup(COMMIT_MT_MANIFEST);
	ci.source = strdup("commit");
	ci.synthetic = true;
	ci.imported = (int64_t)time(NULL);
	if (!ci.layers[parent->nlayers].media_type || !ci.manifest_media_type || !ci.source) {
		r = -ENOMEM;
		goto out;
	}
	/* From here on parent may dangle: catalog_add_image() updates cat. */
	r = catalog_add_image(s, cat, &ci, o->names, o->nnames);
	if (!r) {
		res->id = ci.id;
		res->config = ci.config;
	}
out:
	if (fd >= 0)
		close(fd);
	commit_lower_destroy(lw);
	for (size_t i = 0; ci.layers && i < ci.nlayers; i++)
		free(ci.layers[i].media_type);
	free(ci.layers);
	free(ci.manifest_media_type);
	free(ci.source);
	free(cfg);
	free(man);
	free(pcfg);
	free(pman);
	return r;
}
