// SPDX-License-Identifier: GPL-2.0-or-later
/* strata bench: run the rootfs benchmark harness (tests/bench/rootfs-bench.sh),
 * passing the arguments through.  The harness is a set of shell scripts;
 * this command only finds them: $STRATA_BENCH_DIR, else the installed copy
 * in $(pkgdatadir)/bench, else the source tree the binary was built from. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cmd.h"

#ifndef STRATA_BENCHDIR
#define STRATA_BENCHDIR "/usr/local/share/strata/bench"
#endif
#ifndef STRATA_SRCDIR
#define STRATA_SRCDIR "."
#endif

#define BENCH_SCRIPT "rootfs-bench.sh"

/* Put DIR/rootfs-bench.sh in buf if it exists; 0 on success. */
static int bench_try(char *buf, size_t len, const char *dir)
{
	if (!dir || !*dir)
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, BENCH_SCRIPT) >= len)
		return -ENAMETOOLONG;
	return access(buf, R_OK) ? -errno : 0;
}

int cmd_bench(int argc, char **argv)
{
	char script[PATH_MAX];
	const char *env = getenv("STRATA_BENCH_DIR");
	char **args;

	if (env && *env) {
		if (bench_try(script, sizeof(script), env)) {
			cmd_err("bench: no %s in STRATA_BENCH_DIR=%s", BENCH_SCRIPT, env);
			return 1;
		}
	} else if (bench_try(script, sizeof(script), STRATA_BENCHDIR) &&
		   bench_try(script, sizeof(script), STRATA_SRCDIR "/tests/bench")) {
		cmd_err("bench: cannot find %s in %s or %s/tests/bench (set STRATA_BENCH_DIR)",
			BENCH_SCRIPT, STRATA_BENCHDIR, STRATA_SRCDIR);
		return 1;
	}

	/* bash SCRIPT ARGS... (argv[0] is "bench"); the harness needs bash. */
	args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args) {
		cmd_err("bench: %s", strerror(ENOMEM));
		return 1;
	}
	args[0] = "bash";
	args[1] = script;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	fflush(NULL);
	execvp("bash", args);
	cmd_err("bench: cannot run bash %s: %s", script, strerror(errno));
	free(args);
	return 1;
}
