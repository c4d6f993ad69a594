// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/: archive sources.  oci-archive and docker-archive files are
 * streamed once through libarchive and their members written into a
 * private temporary directory; only the fixed set of names these formats
 * use is accepted, as regular files, so nothing in the archive can name a
 * path outside that directory.  A plain rootfs tarball is one layer read in
 * place.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "strata/log.h"
#include "strata/util.h"
#include "store/image-internal.h"

#define DETECT_ENTRIES 64

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Strip a leading "./"; NULL for names we never accept (absolute, "..", empty). */
static const char *member_name(const char *raw, char *buf, size_t len)
{
	const char *p = raw;
	size_t n;

	if (!raw || raw[0] == '/')
		return NULL;
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	n = strlen(p);
	if (!n || n >= len)
		return NULL;
	memcpy(buf, p, n + 1);
	while (n && buf[n - 1] == '/')
		buf[--n] = 0;
	if (!n || !strcmp(buf, ".") || strstr(buf, "//"))
		return NULL;
	for (const char *c = buf; c; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (!strncmp(c, "..", 2) && (c[2] == '/' || !c[2]))
			return NULL;
		if (c[0] == '.' && (c[1] == '/' || !c[1]))
			return NULL;
	}
	return buf;
}

enum member { M_NONE, M_DIR, M_FILE };

/* What the layout and docker formats may contain. */
static enum member classify(const char *n)
{
	const char *slash = strchr(n, '/');

	if (!strcmp(n, "blobs") || !strcmp(n, "blobs/sha256"))
		return M_DIR;
	if (!strcmp(n, "oci-layout") || !strcmp(n, "index.json") || !strcmp(n, "manifest.json") ||
	    !strcmp(n, "repositories"))
		return M_FILE;
	if (!strncmp(n, "blobs/sha256/", 13) && is_hex64(n + 13, strlen(n + 13)))
		return M_FILE;
	if (!slash && is_hex64(n, strlen(n)))
		return M_DIR; /* legacy docker layer directory */
	if (!slash && strlen(n) > 64 && is_hex64(n, 64) &&
	    (!strcmp(n + 64, ".json") || !strcmp(n + 64, ".tar")))
		return M_FILE;
	if (slash && is_hex64(n, (size_t)(slash - n)) &&
	    (!strcmp(slash, "/layer.tar") || !strcmp(slash, "/json") || !strcmp(slash, "/VERSION")))
		return M_FILE;
	return M_NONE;
}

static struct archive *open_archive(const char *path)
{
	struct archive *a = archive_read_new();

	if (!a)
		return NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 128 << 10) != ARCHIVE_OK) {
		log_err("%s: not a tar archive: %s", path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int detect_kind(struct image_source *src)
{
	struct archive_entry *ae;
	struct archive *a = open_archive(src->path);
	enum image_source_kind kind = IMAGE_SRC_ROOTFS_TAR;
	bool index = false;
	char buf[512];
	int r, n = 0;

	if (!a)
		return -EBADMSG;
	while (n++ < DETECT_ENTRIES && (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *m = member_name(archive_entry_pathname(ae), buf, sizeof(buf));

		if (!m || classify(m) == M_NONE)
			break;
		if (!strcmp(m, "oci-layout")) {
			kind = IMAGE_SRC_OCI_ARCHIVE;
			break;
		}
		if (!strcmp(m, "manifest.json")) {
			kind = IMAGE_SRC_DOCKER_ARCHIVE;
			break;
		}
		index |= !strcmp(m, "index.json");
	}
	/* docker save >= 25 writes both; manifest.json often comes last, so
	 * an archive of only format members is decided by a full scan. */
	if (n > DETECT_ENTRIES && kind == IMAGE_SRC_ROOTFS_TAR) {
		while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
			const char *m = member_name(archive_entry_pathname(ae), buf, sizeof(buf));

			if (!m || classify(m) == M_NONE)
				break;
			if (!strcmp(m, "manifest.json")) {
				kind = IMAGE_SRC_DOCKER_ARCHIVE;
				break;
			}
			index |= !strcmp(m, "index.json") || !strcmp(m, "oci-layout");
		}
	}
	if (kind == IMAGE_SRC_ROOTFS_TAR && index)
		kind = IMAGE_SRC_OCI_ARCHIVE;
	archive_read_free(a);
	src->kind = kind;
	return 0;
}

static int write_member(struct archive *a, int dirfd, const char *name, const char *path,
			int64_t size)
{
	char tmp[512];
	int fd, r = 0;

	/* Parents are created here; names were checked against classify(). */
	snprintf(tmp, sizeof(tmp), "%s", name);
	for (char *s = strchr(tmp, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(dirfd, tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			log_err("%s: duplicate archive member \"%s\"", path, name);
		else
			log_err("%s: cannot write member \"%s\": %s", path, name, strerror(-r));
		return r == -EEXIST ? -EBADMSG : r;
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &len, &off);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			log_err("%s: member \"%s\": %s", path, name, archive_error_string(a));
			r = -EBADMSG;
			break;
		}
		if ((r = strata_pwrite_full(fd, buf, len, (off_t)off))) {
			log_err("%s: writing member \"%s\": %s", path, name, strerror(-r));
			break;
		}
	}
	/* A sparse member's trailing hole is not written by the loop. */
	if (!r && size >= 0 && ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* "<hex>/layer.tar" -> "../<hex>.tar", nothing else. */
static bool is_layer_alias(const char *name, const char *target)
{
	return target && strlen(name) == 74 && is_hex64(name, 64) &&
	       !strcmp(name + 64, "/layer.tar") && strlen(target) == 71 &&
	       !strncmp(target, "../", 3) && is_hex64(target + 3, 64) &&
	       !strcmp(target + 67, ".tar");
}

static int extract(struct image_source *src)
{
	struct {
		char name[80], target[72];
	} aliases[256];
	size_t naliases = 0;
	const char *base = getenv("TMPDIR");
	struct archive_entry *ae;
	struct archive *a;
	char tmpl[4096], buf[512];
	int dirfd, r = 0, ar;

	snprintf(tmpl, sizeof(tmpl), "%s/strata-import.XXXXXX",
		 src->root ? src->root : (base && *base ? base : "/var/tmp"));
	free(src->root);
	src->root = NULL;
	if (!mkdtemp(tmpl)) {
		r = -errno;
		log_err("%s: cannot create a temporary directory %s: %s", src->path, tmpl,
			strerror(-r));
		return r;
	}
	src->root = strdup(tmpl);
	if (!src->root) {
		rmdir(tmpl);
		return -ENOMEM;
	}
	src->root_is_tmp = true;
	dirfd = open(src->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	a = open_archive(src->path);
	if (!a) {
		close(dirfd);
		return -EBADMSG;
	}
	while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(ae);
		const char *m = member_name(raw, buf, sizeof(buf));
		enum member k = m ? classify(m) : M_NONE;

		if (!m) {
			log_err("%s: refusing archive member \"%.300s\": absolute, empty or with a "
				"\"..\" component",
				src->path, raw ? raw : "");
			r = -EBADMSG;
			break;
		}
		if (archive_entry_filetype(ae) == AE_IFLNK && !archive_entry_hardlink(ae) &&
		    is_layer_alias(m, archive_entry_symlink(ae))) {
			/* skopeo's docker-archive keeps "<id>/layer.tar -> ../<diffid>.tar"
			 * for old readers: materialized as a hard link between two
			 * names we validated, after all members are written. */
			if (naliases == ARRAY_SIZE(aliases)) {
				log_err("%s: too many layer.tar links", src->path);
				r = -EBADMSG;
				break;
			}
			snprintf(aliases[naliases].name, sizeof(aliases[0].name), "%s", m);
			snprintf(aliases[naliases].target, sizeof(aliases[0].target), "%s",
				 archive_entry_symlink(ae) + 3);
			naliases++;
			continue;
		}
		if (archive_entry_hardlink(ae) || archive_entry_filetype(ae) == AE_IFLNK) {
			log_err("%s: refusing archive member \"%s\": links are not allowed in an "
				"image archive",
				src->path, m);
			r = -EBADMSG;
			break;
		}
		if (archive_entry_filetype(ae) == AE_IFDIR) {
			if (k != M_DIR) {
				log_err("%s: refusing unexpected directory \"%s\"", src->path, m);
				r = -EBADMSG;
				break;
			}
			if (mkdirat(dirfd, m, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			continue;
		}
		if (archive_entry_filetype(ae) != AE_IFREG || k != M_FILE) {
			log_err("%s: refusing unexpected archive member \"%s\"", src->path, m);
			r = -EBADMSG;
			break;
		}
		r = write_member(a, dirfd, m, src->path,
				 archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1);
		if (r)
			break;
	}
	if (!r && ar != ARCHIVE_EOF) {
		log_err("%s: %s", src->path, archive_error_string(a));
		r = -EBADMSG;
	}
	for (size_t i = 0; !r && i < naliases; i++) {
		char dir[65];
		struct stat st;

		memcpy(dir, aliases[i].name, 64);
		dir[64] = 0;
		if (mkdirat(dirfd, dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		if (fstatat(dirfd, aliases[i].target, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) ||
		    linkat(dirfd, aliases[i].target, dirfd, aliases[i].name, 0) < 0) {
			log_err("%s: member \"%s\" links to missing or duplicate \"%s\"", src->path,
				aliases[i].name, aliases[i].target);
			r = -EBADMSG;
		}
	}
	archive_read_free(a);
	close(dirfd);
	return r;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 ? -1 : 0;
}

void archive_source_cleanup(struct image_source *src)
{
	if (src->root_is_tmp && src->root)
		nftw(src->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	src->root_is_tmp = false;
}

/* A member name from manifest.json: same rules as the archive's names. */
static int check_ref_path(const char *p, const char *what, const char *field)
{
	char buf[512];
	const char *m = member_name(p, buf, sizeof(buf));

	if (!m || strcmp(m, p) || classify(m) != M_FILE) {
		log_err("%s: %s \"%.200s\" is not a valid archive member name", what, field, p);
		return -EBADMSG;
	}
	return 0;
}

static int docker_open(struct image_source *src)
{
	struct json_object *arr = NULL;
	void *buf = NULL;
	size_t len, n;
	int r;

	r = oci_read_file(src->root, "manifest.json", IMAGE_JSON_MAX, NULL, src->path, &buf, &len);
	if (r)
		return r;
	r = sj_parse_array(buf, len, "manifest.json", &arr);
	free(buf);
	if (r)
		return r;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n && !r; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *layers;
		struct src_item it = {0};
		const char *cfg;
		const char **tags = NULL;
		size_t ntags = 0;
		char what[64];

		snprintf(what, sizeof(what), "manifest.json[%zu]", i);
		if (!e || !json_object_is_type(e, json_type_object)) {
			log_err("%s: not an object", what);
			r = -EBADMSG;
			break;
		}
		if ((r = sj_str(e, "Config", true, what, &cfg)) ||
		    (r = sj_arr(e, "Layers", true, what, &layers))) {
			r = r == -ENOENT ? -EBADMSG : r;
			break;
		}
		if ((r = check_ref_path(cfg, what, "Config")))
			break;
		if ((r = sj_strv(e, "RepoTags", what, &tags, &ntags, NULL)))
			break;
		it.config_path = strdup(cfg);
		it.nlayers = json_object_array_length(layers);
		it.layer_paths = calloc(it.nlayers + 1, sizeof(char *));
		it.tags = calloc(ntags + 1, sizeof(char *));
		r = it.config_path && it.layer_paths && it.tags ? 0 : -ENOMEM;
		for (size_t j = 0; !r && j < ntags; j++) {
			it.tags[j] = strdup(tags[j]);
			it.ntags++;
			r = it.tags[j] ? 0 : -ENOMEM;
		}
		free(tags);
		for (size_t j = 0; !r && j < it.nlayers; j++) {
			struct json_object *l = json_object_array_get_idx(layers, j);

			if (!l || !json_object_is_type(l, json_type_string)) {
				log_err("%s: Layers[%zu] is not a string", what, j);
				r = -EBADMSG;
				break;
			}
			if ((r = check_ref_path(json_object_get_string(l), what, "Layers")))
				break;
			it.layer_paths[j] = strdup(json_object_get_string(l));
			r = it.layer_paths[j] ? 0 : -ENOMEM;
		}
		if (!r && it.ntags && !(it.ref = strdup(it.tags[0])))
			r = -ENOMEM;
		if (!r)
			r = oci_source_add(src, &it);
		if (r) {
			free(it.config_path);
			for (size_t j = 0; j < it.nlayers; j++)
				free(it.layer_paths[j]);
			free(it.layer_paths);
			for (size_t j = 0; j < it.ntags; j++)
				free(it.tags[j]);
			free(it.tags);
			free(it.ref);
		}
	}
	json_object_put(arr);
	if (!r && !src->n) {
		log_err("%s: manifest.json lists no images", src->path);
		r = -ENOENT;
	}
	return r;
}

int archive_source_open(struct image_source *src)
{
	struct src_item it = {0};
	int r;

	if (src->kind == IMAGE_SRC_AUTO && (r = detect_kind(src)))
		return r;
	switch (src->kind) {
	case IMAGE_SRC_OCI_ARCHIVE:
		return extract(src);
	case IMAGE_SRC_DOCKER_ARCHIVE:
		if ((r = extract(src)))
			return r;
		return docker_open(src);
	case IMAGE_SRC_ROOTFS_TAR:
		return oci_source_add(src, &it);
	default:
		return -EINVAL;
	}
}

/* Digest named by a member path "<hex>.json" / "blobs/sha256/<hex>", if any. */
static bool path_digest(const char *p, struct image_digest *d)
{
	char hex[65];

	if (!strncmp(p, "blobs/sha256/", 13))
		p += 13;
	if (strlen(p) < 64 || !is_hex64(p, 64) || (p[64] && strcmp(p + 64, ".json")))
		return false;
	memcpy(hex, p, 64);
	hex[64] = 0;
	return !strata_unhex(hex, d->sha256, IMAGE_DIGEST_LEN);
}

int docker_load_image(struct image_source *src, size_t i, struct image *img)
{
	struct src_item *it = &src->items[i];
	char what[300];
	int r;

	if (src->kind == IMAGE_SRC_ROOTFS_TAR) {
		img->nlayers = 1;
		img->layers = calloc(1, sizeof(*img->layers));
		img->layer_paths = calloc(1, sizeof(char *));
		if (!img->layers || !img->layer_paths || !(img->layer_paths[0] = strdup(src->path)))
			return -ENOMEM;
		img->layers[0].size = -1;
		return 0;
	}
	img->cdesc.media_type = "application/vnd.docker.container.image.v1+json";
	img->cdesc.size = -1;
	img->cdesc.digest_known = path_digest(it->config_path, &img->cdesc.digest);
	snprintf(what, sizeof(what), "config %s", it->config_path);
	r = oci_read_file(src->root, it->config_path, IMAGE_CONFIG_MAX,
			  img->cdesc.digest_known ? &img->cdesc : NULL, what, &img->config_raw,
			  &img->config_len);
	if (r)
		return r;
	img->cdesc.size = (int64_t)img->config_len;
	if (!img->cdesc.digest_known) {
		image_sha256_buf(img->config_raw, img->config_len, &img->cdesc.digest);
		img->cdesc.digest_known = true;
	}
	if ((r = sj_parse(img->config_raw, img->config_len, what, &img->cjson)) ||
	    (r = oci_parse_config(img, what)))
		return r;
	if (img->info.ndiff_ids != it->nlayers) {
		log_err("%s: %zu rootfs.diff_ids for %zu layers in manifest.json", what,
			img->info.ndiff_ids, it->nlayers);
		return -EBADMSG;
	}
	img->nlayers = it->nlayers;
	img->layers = calloc(img->nlayers + 1, sizeof(*img->layers));
	img->layer_paths = calloc(img->nlayers + 1, sizeof(char *));
	if (!img->layers || !img->layer_paths)
		return -ENOMEM;
	for (size_t j = 0; j < img->nlayers; j++) {
		struct image_descriptor *d = &img->layers[j];

		if (!(img->layer_paths[j] = strdup(it->layer_paths[j])))
			return -ENOMEM;
		d->size = -1;
		/* Only blobs/sha256/<hex> names the blob itself; legacy
		 * <id>/layer.tar ids are not content digests. */
		d->digest_known = !strncmp(it->layer_paths[j], "blobs/", 6) &&
				  path_digest(it->layer_paths[j], &d->digest);
	}
	return 0;
}
