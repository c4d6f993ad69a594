// SPDX-License-Identifier: GPL-2.0-or-later
/* strata: the command-line front end.  Each command lives in tools/cmd_*.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"

static const struct cmd top_cmds[] = {
	{ NULL, NULL, NULL },
};

void cmd_err(const char *fmt, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *cmd_store_path(const char *opt)
{
	static char buf[4096];
	const char *env = getenv("STRATA_STORE");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	snprintf(buf, sizeof(buf), "%s/store.img", strata_state_dir());
	return buf;
}

static void usage(FILE *f, const char *group, const struct cmd *table)
{
	fprintf(f, "usage: strata %s%sCOMMAND [ARGS...]\n\ncommands:\n", group ? group : "",
		group ? " " : "");
	for (const struct cmd *c = table; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nSee strata(1).\n");
}

int cmd_dispatch(const char *group, const struct cmd *table, int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") ||
	    !strcmp(argv[0], "-h")) {
		usage(argc < 1 ? stderr : stdout, group, table);
		return argc < 1 ? 2 : 0;
	}
	for (const struct cmd *c = table; c->name; c++)
		if (!strcmp(c->name, argv[0]))
			return c->fn(argc, argv);
	cmd_err("unknown command '%s%s%s' (see 'strata %s%shelp')", group ? group : "",
		group ? " " : "", argv[0], group ? group : "", group ? " " : "");
	return 2;
}

int main(int argc, char **argv)
{
	strata_log_init("strata", STRATA_LOG_WARN);
	if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("strata %s\n", PACKAGE_VERSION);
		return 0;
	}
	return cmd_dispatch(NULL, top_cmds, argc - 1, argv + 1);
}
