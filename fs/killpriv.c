// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Clearing set-user-ID and set-group-ID bits on write.
 *
 * A write, truncate or fallocate by a caller without CAP_FSETID clears
 * S_ISUID, and S_ISGID when group-execute is set or the caller is not in
 * the file's group, as kernel overlayfs does through the VFS.  By default the FUSE kernel checks this on every
 * write() by asking the daemon for security.capability (a GETXATTR round
 * trip per write, also with passthrough): the mount cannot be SB_NOSEC.
 * With FUSE_HANDLE_KILLPRIV_V2 (fs/wire.c) the kernel marks the inode
 * S_NOSEC once it has no set-ID bits and no capability, sends no such
 * request, and leaves the clearing to the daemon: WRITE, SETATTR(size)
 * and O_TRUNC OPEN requests of such callers carry a kill flag.
 *
 * The daemon changes the upper as root, whose CAP_FSETID keeps the bits,
 * so they are cleared here.  security.capability needs nothing: the
 * upper filesystem drops it on any write or truncate, whoever writes;
 * chown clears the bits in the upper filesystem too.  Passthrough writes
 * never reach the daemon, so set-ID files are not passed through
 * (fs/passthrough.c).
 */
#include <errno.h>
#include <sys/stat.h>

#include "fs/fs-internal.h"

/* Whether the caller of req is in group gid (its fsgid or one of its
 * supplementary groups). */
static bool in_group(fuse_req_t req, gid_t gid)
{
	gid_t list[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, list);
	for (int i = 0; i < n && i < 64; i++)
		if (list[i] == gid)
			return true;
	return false;
}

int fs_kill_setid(fuse_req_t req, fuse_ino_t ino, int fd, bool force)
{
	struct fs *fs = fs_from_req(req);
	struct stat st;
	mode_t m;

	if (!fs->killpriv || fd < 0 || !(force || fs_wire_kill_suidgid()))
		return 0;
	if (fstat(fd, &st))
		return -errno;
	if (!fs_is_setid(st.st_mode))
		return 0;
	m = st.st_mode & ~(mode_t)S_ISUID;
	if ((m & S_IXGRP) || !in_group(req, st.st_gid))
		m &= ~(mode_t)S_ISGID;
	if (m == st.st_mode)
		return 0;
	if (fchmod(fd, m & 07777))
		return -errno;
	/* The kernel keeps the mode it has cached after a write. */
	fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	return 0;
}

int fs_kill_setid_caller(fuse_req_t req, fuse_ino_t ino, int fd)
{
	/* No flag in these requests: a non-root caller stands for one
	 * without CAP_FSETID. */
	if (fuse_req_ctx(req)->uid == 0)
		return 0;
	return fs_kill_setid(req, ino, fd, true);
}
