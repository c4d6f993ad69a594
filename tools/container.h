/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Containers: what `strata mount` started, kept so that commit, ps, which
 * and umount can find a mount again by name or by mountpoint.
 *
 * Each container has a directory <state dir>/containers/NAME/ holding
 * container.json (written atomically: temporary file, fsync, rename):
 *
 *   { "name": "...", "image": "sha256:<manifest digest>", "ref": "as given",
 *     "store": "/abs/store.img", "mountpoint": "/abs", "upper": "/abs",
 *     "work": "/abs", "created": <unix seconds>, "options": "..." }
 *
 * and, while mounted, daemon.pid written by strata-fuse (-o pidfile=).
 * The default upper and work directories live there too.
 */
#ifndef STRATA_TOOLS_CONTAINER_H
#define STRATA_TOOLS_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONTAINER_NAME_MAX 63

struct container {
	char name[CONTAINER_NAME_MAX + 1];
	char *image;      /* "sha256:<hex>" */
	char *ref;        /* the reference given to strata mount */
	char *store;
	char *mountpoint;
	char *upper;
	char *work;
	char *options;    /* extra strata-fuse options (may be NULL) */
	int64_t created;
};

/* A valid container name: 1..63 bytes of [A-Za-z0-9_.-], not "." or "..". */
bool container_name_ok(const char *name);

/* <state dir>/containers/NAME into buf.  Returns 0 or -ENAMETOOLONG. */
int container_dir(const char *name, char *buf, size_t size);

/* Write ct's container.json (creating its directory).  Returns 0 or -errno. */
int container_save(const struct container *ct);

/* Read NAME's container.json.  Returns 0, -ENOENT, -EBADMSG, -ENOMEM. */
int container_load(const char *name, struct container *ct);
void container_free(struct container *ct);

/*
 * Find a container by name, or by its mountpoint (any path that resolves
 * to it).  Returns 0, -ENOENT, or -errno.
 */
int container_find(const char *name_or_path, struct container *ct);

/* Names of all containers, sorted (free each and the array).  Returns 0 or -errno. */
int container_list(char ***names, size_t *n);

/* Remove NAME's directory and everything in it.  Returns 0 or -errno. */
int container_remove(const char *name);

/* The strata-fuse serving ct, from daemon.pid, if alive; else 0. */
pid_t container_daemon_pid(const struct container *ct);

/* Undo the octal escapes of /proc/self/mounts and mountinfo fields ("\040"
 * for a space) in place. */
void container_unescape_mount(char *s);

/* Whether path is a mountpoint in /proc/self/mounts (as given, not resolved). */
bool container_is_mounted(const char *path);

#endif
