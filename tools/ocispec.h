/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An OCI runtime spec (a bundle's config.json) derived from an OCI image
 * config, following the image spec's "conversion" rules: process.args is
 * Entrypoint + Cmd, env is Env (PATH added when missing), cwd is
 * WorkingDir, user is User resolved in the image's own /etc/passwd and
 * /etc/group; Labels, StopSignal and ExposedPorts become annotations.  The
 * rest is what `runc spec` writes (mounts, namespaces, capabilities,
 * masked paths), with a writable root at "rootfs" and no terminal.
 */
#ifndef STRATA_TOOLS_OCISPEC_H
#define STRATA_TOOLS_OCISPEC_H

#include <json-c/json.h>
#include <stddef.h>

struct ocispec_in {
	json_object *image_config; /* the image config blob, parsed */
	int rootfs_fd;             /* the mounted rootfs (O_PATH is enough) */
	const char *hostname;      /* NULL: "strata" */
	char *const *cmd;          /* replaces the image's Cmd when ncmd > 0 */
	size_t ncmd;
};

/*
 * Build the spec into *out (a new object, caller puts it).  Returns 0, or
 * -errno with a reason in why (at least 256 bytes): -EINVAL when there is
 * no command to run or the config is malformed, -ENOENT when User names a
 * user or group the image does not have.  Paths under rootfs_fd are
 * resolved inside it (symlinks cannot lead out).
 */
int ocispec_build(const struct ocispec_in *in, json_object **out, char *why, size_t whylen);

/* Write obj to path atomically (temporary file, fsync, rename).  0 or -errno. */
int ocispec_write(json_object *obj, const char *path);

#endif
