// SPDX-License-Identifier: GPL-2.0-or-later
/* strata: the command-line front end.  Each command lives in tools/cmd_*.c. */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"

static const struct cmd top_cmds[] = {
	{ "store", cmd_store, "create or describe a store (init, info)" },
	{ "fsck", cmd_fsck, "check a store's consistency and every record's checksum" },
	{ "bench", cmd_bench, "compare rootfs backends (see strata-bench(1))" },
	{ "import", cmd_import, "import images from an OCI layout, archive or rootfs tar" },
	{ "images", cmd_images, "list images" },
	{ "inspect", cmd_inspect, "show an image's manifest, config and layers" },
	{ "tag", cmd_tag, "give an image another NAME:TAG" },
	{ "rmi", cmd_rmi, "remove images or tags (space comes back with gc)" },
	{ "df", cmd_df, "space used per image: logical, stored, unique, ratios" },
	{ "gc", cmd_gc, "delete what no image uses and compact the store" },
	{ "verify", cmd_verify, "rebuild image layers and check them against their DiffIDs" },
	{ "export", cmd_export, "write images to an OCI layout, oci-archive or docker-archive" },
	{ "mount", cmd_mount, "mount an image as a container root (umount: unmount it)" },
	{ "umount", cmd_umount, "unmount what strata mount mounted" },
	{ "commit", cmd_commit, "make a container's changes a new image" },
	{ "ps", cmd_ps, "list containers: image, state, daemon pid, upper usage" },
	{ "mounts", cmd_ps, "the same as ps" },
	{ "volume", cmd_volume, "volumes with size and inode limits (create, ls, inspect, usage, rm)" },
	{ "rm", cmd_rm, "delete stopped containers and their upper directories" },
	{ "bundle", cmd_bundle, "mount an image as an OCI runtime bundle (runc run)" },
	{ "which", cmd_which, "tell which layer (or the upper) a path comes from" },
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
	/*
	 * Names in tar headers are bytes, and pax headers say they are
	 * UTF-8: libarchive converts them to the locale's character set and
	 * warns about every non-ASCII name in the C locale (keeping the bytes
	 * anyway).  In C.UTF-8 it has nothing to convert.  Only the character
	 * type: messages and numbers stay as they are.
	 */
	setlocale(LC_CTYPE, "C.UTF-8");
	if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("strata %s\n", PACKAGE_VERSION);
		return 0;
	}
	/* Global options come before the command. */
	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		const char *val = NULL, *name = argv[1];
		const char *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);

		if (n == 11 && !strncmp(name, "--state-dir", n)) {
			val = eq ? eq + 1 : argc > 2 ? argv[2] : NULL;
			if (!val || !*val) {
				cmd_err("--state-dir needs a directory");
				return 2;
			}
			setenv("STRATA_STATE_DIR", val, 1);
		} else if (n == 7 && !strncmp(name, "--store", n)) {
			val = eq ? eq + 1 : argc > 2 ? argv[2] : NULL;
			if (!val || !*val) {
				cmd_err("--store needs a path");
				return 2;
			}
			setenv("STRATA_STORE", val, 1);
		} else if (!strcmp(name, "--help")) {
			break;
		} else {
			cmd_err("unknown option '%s' (see 'strata help')", name);
			return 2;
		}
		argc -= eq ? 1 : 2;
		argv += eq ? 1 : 2;
	}
	return cmd_dispatch(NULL, top_cmds, argc - 1, argv + 1);
}
