/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The strata command: one file per command group, one entry point each. */
#ifndef STRATA_TOOLS_CMD_H
#define STRATA_TOOLS_CMD_H

#include <stdbool.h>

/*
 * A command gets argv with argv[0] = its own name ("init" for
 * `strata store init`) and returns the process exit status: 0 success,
 * 1 failure (message already printed as "strata: <what>: <why>"), 2 usage.
 */
typedef int (*cmd_fn)(int argc, char **argv);

struct cmd {
	const char *name;
	cmd_fn fn;
	const char *summary;
};

/* Find and run argv[0] in a NULL-terminated table, or print usage. */
int cmd_dispatch(const char *group, const struct cmd *table, int argc, char **argv);

/* Print "strata: <fmt>" to stderr. */
void cmd_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The store path: --store/-S option, $STRATA_STORE, else <state dir>/store.img. */
const char *cmd_store_path(const char *opt);

int cmd_store(int argc, char **argv);  /* strata store init|info */
int cmd_fsck(int argc, char **argv);   /* strata fsck */
int cmd_bench(int argc, char **argv);  /* strata bench (tools/cmd_bench.c) */
int cmd_import(int argc, char **argv); /* strata import (tools/cmd_import.c) */
int cmd_images(int argc, char **argv); /* strata images (tools/cmd_image.c) */
int cmd_inspect(int argc, char **argv); /* strata inspect (tools/cmd_image.c) */
int cmd_tag(int argc, char **argv);    /* strata tag (tools/cmd_image.c) */
int cmd_rmi(int argc, char **argv);    /* strata rmi (tools/cmd_image.c) */
int cmd_df(int argc, char **argv);     /* strata df (tools/cmd_image.c) */
int cmd_verify(int argc, char **argv); /* strata verify (tools/cmd_image.c) */
int cmd_export(int argc, char **argv); /* strata export (tools/cmd_export.c) */
int cmd_gc(int argc, char **argv);     /* strata gc (tools/cmd_gc.c) */
int cmd_mount(int argc, char **argv), cmd_umount(int argc, char **argv); /* tools/cmd_mount.c */
/* strata mount's work; print: say the mountpoint (strata bundle does not). */
int cmd_mount_ex(int argc, char **argv, bool print);
int cmd_ps(int argc, char **argv), cmd_rm(int argc, char **argv); /* tools/cmd_ps.c */
int cmd_volume(int argc, char **argv); /* strata volume (tools/cmd_volume.c) */
int cmd_bundle(int argc, char **argv); /* strata bundle (tools/cmd_bundle.c) */
int cmd_which(int argc, char **argv);  /* strata which (tools/cmd_which.c) */
int cmd_commit(int argc, char **argv); /* strata commit (tools/cmd_commit.c) */

#endif
