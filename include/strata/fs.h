/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_FS_H
#define STRATA_FS_H

/*
 * strata-fuse: the merged container filesystem.
 *
 * A mount merges read-only lower layers (host directories, or layers of a
 * block store named "store:STORE@sha256:DIFFID", behind the fs_layer_ops
 * interface in fs/fs-internal.h)
 * with an optional writable upper directory kept in kernel overlayfs's
 * on-disk format.  Tools fill a struct fs_config (usually from a
 * fuse-overlayfs compatible "-o" string) and call fs_run().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_MAX_LAYERS 63 /* lowers; bit 0 of a layer mask is the upper */
#define FS_CHUNK_CACHE_DEFAULT (64ull << 20) /* chunk_cache= default */

/* One "containerID:hostID:size" range of uidmapping=/gidmapping=. */
struct fs_idmap {
	uint32_t container;
	uint32_t host;
	uint32_t size;
};

struct fs_config {
	char *lowerdirs[FS_MAX_LAYERS]; /* top first, as in lowerdir=A:B */
	size_t nlower;
	char *upperdir; /* NULL: read-only mount */
	char *workdir;	/* required with upperdir, same filesystem */
	char *mountpoint;

	bool squash_to_root;	/* report every owner as 0:0 */
	int64_t squash_uid;	/* squash_to_uid=, -1 when unset */
	int64_t squash_gid;	/* squash_to_gid=, -1 when unset */
	struct fs_idmap uidmap[16];
	size_t nuidmap;
	struct fs_idmap gidmap[16];
	size_t ngidmap;
	bool noacl;		/* hide system.posix_acl_* xattrs */
	bool fsync;		/* fsync=0 turns fsync/fdatasync into no-ops */
	bool noxattrs;		/* noxattrs=1: every xattr op is ENOTSUP */
	bool metacopy;		/* metacopy=on: metadata changes of lower
				 * files copy no data (kernel overlayfs's
				 * metacopy format; off by default, since a
				 * kernel mount then needs metacopy=on) */
	bool passthrough;	/* passthrough=0 turns off FUSE passthrough
				 * (on where the kernel has it) */
	bool pt_lower;		/* passthrough=1 (default): lower files too;
				 * passthrough=upper: upper files only */
	double timeout;		/* entry/attr/negative timeout, seconds */
	bool foreground;	/* -f: do not daemonize */
	bool debug;		/* -d / debug: libfuse debug output, implies -f */
	unsigned max_threads;	/* worker threads, 0 = libfuse default */
	unsigned read_threads;	/* read_threads=: threads for large reads
				 * (fs/readpool.c), 0 = on the workers */
	char *pidfile;		/* pidfile=: the serving process's PID, written
				 * once the mount is up, removed at exit */
	char *logfile;		/* log=: once the mount is up, messages are
				 * appended here, with times (not stderr) */
	uint64_t upper_size;	/* upper_size=: bytes the upper may allocate
				 * (fs/quota.c), 0 = no limit */
	uint64_t upper_inodes;	/* upper_inodes=: inodes it may hold, 0 = none */
	uint64_t chunk_cache;	/* chunk_cache=: bytes of store chunks kept
				 * for store-backed lowers, 0 = no cache */

	/* Options passed through to the kernel mount ("allow_other,nodev,..."). */
	char *fuse_opts;
};

/*
 * Initialise *cfg with the defaults (fsync on, timeout 86400 s, no squash,
 * allow_other and default_permissions to be passed to the kernel).
 * fs_config_release() frees what parsing allocated; cfg itself belongs to
 * the caller.  Release accepts a zeroed or half-filled config.
 */
void fs_config_init(struct fs_config *cfg);
void fs_config_release(struct fs_config *cfg);

/*
 * Parse one fuse-overlayfs style option string ("lowerdir=A:B,upperdir=U,
 * workdir=W,squash_to_root,fsync=0,nodev,...") into *cfg.  Options strata
 * knows are consumed; kernel/libfuse mount options (allow_other, nodev,
 * context=..., ro, ...) are appended to cfg->fuse_opts; options of
 * fuse-overlayfs that strata accepts without effect (redirect_dir=,
 * fast_ino=, writeback=, plugins=, ...) are ignored with a debug log line.
 * "\," escapes a comma inside a value.  Returns 0, -EINVAL on a malformed
 * value (a message is logged naming the option) or -ENOMEM.
 */
int fs_config_parse_opts(struct fs_config *cfg, const char *opts);

/*
 * Check a filled config: at least one lowerdir, workdir iff upperdir, all
 * directories exist.  Returns 0 or -errno with a log line saying why.
 */
int fs_config_check(const struct fs_config *cfg);

/*
 * Mount cfg->mountpoint and serve it until unmounted or signalled
 * (SIGTERM/SIGINT/SIGHUP unmount cleanly).  Unless cfg->foreground, the
 * process daemonizes after the mount is in place, so the caller's parent
 * sees a ready mount when it returns (what podman's mount_program expects).
 * Returns 0 after a clean unmount, -errno when setting up failed.
 */
int fs_run(const struct fs_config *cfg);

/*
 * Map ids between the container view and the host (uidmapping=/gidmapping=,
 * same semantics as fuse-overlayfs): fs_id_to_container() is applied to
 * owners read from the layers, fs_id_to_host() to owners the caller sets.
 * An id outside every range maps to itself (empty map) or to the overflow
 * id 65534.
 */
uint32_t fs_id_to_container(const struct fs_idmap *map, size_t n, uint32_t id);
uint32_t fs_id_to_host(const struct fs_idmap *map, size_t n, uint32_t id);

/* What a directory tree uses, as upper_size=/upper_inodes= count it. */
struct fs_usage {
	uint64_t bytes;	 /* allocated: sum of st_blocks * 512 */
	uint64_t inodes; /* entries below the root, each inode once */
};

/*
 * Scan the tree under the open directory dirfd (not included itself; mount
 * points below are counted but not entered).  Returns 0 or -errno; dirfd
 * stays open and owned by the caller.
 */
int fs_usage_scan(int dirfd, struct fs_usage *u);

#endif
