/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Container state and removal, shared by strata ps/rm (tools/cmd_ps.c) and
 * strata bundle (tools/cmd_bundle.c). */
#ifndef STRATA_TOOLS_CMD_PS_H
#define STRATA_TOOLS_CMD_PS_H

#include <stdbool.h>
#include <sys/types.h>

#include "tools/container.h"

enum ct_state {
	CT_STOPPED,  /* not mounted, no daemon */
	CT_MOUNTED,  /* mounted, served by a live strata-fuse */
	CT_DEAD,     /* still mounted, but its daemon is gone (ENOTCONN) */
	CT_DETACHED, /* not mounted here, yet its daemon lives (another
		      * mount namespace holds the mount) */
};

/* ct's state; *pid is its live strata-fuse or 0. */
enum ct_state ct_state(const struct container *ct, pid_t *pid);
/* "mounted", "dead", "detached", "stopped". */
const char *ct_state_name(enum ct_state s);

/*
 * Delete ct's record and its directory (the default upper and work live
 * there; an upper given with --upper is left where it is, with a note).
 * A mounted or dead container is refused unless force, which unmounts it
 * first and waits for its daemon to exit.  Prints "strata: <what>: ..."
 * and returns 1 on failure, 0 on success.
 */
int ct_destroy(struct container *ct, bool force, const char *what);

#endif
