/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Running helper programs (strata-fuse, fusermount3) from the strata command. */
#ifndef STRATA_TOOLS_SPAWN_H
#define STRATA_TOOLS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

/* strata-fuse next to this program (a build tree, or bindir), else "strata-fuse" (PATH). */
void spawn_find_daemon(char *buf, size_t size);

/*
 * Run argv (argv[0] a path, or a name looked up in PATH) and wait for it;
 * quiet sends its stderr to /dev/null.  stdout is flushed first.  Returns
 * its exit status (128 when killed by a signal, 127 when it could not be
 * started) or -errno when fork/wait failed.
 */
int spawn_run(char *const argv[], bool quiet);

#endif
