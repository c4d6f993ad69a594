// SPDX-License-Identifier: GPL-2.0-or-later
/* strata-fuse: the merged container filesystem daemon.  Takes the command
 * line of fuse-overlayfs, so podman can use it as its mount_program:
 *   strata-fuse [-f] [-d] -o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/fs.h"
#include "strata/log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: strata-fuse [-f] [-d] -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTION...] [SOURCE] MOUNTPOINT\n"
		   "see strata-fuse(8) for the options\n");
}

int main(int argc, char **argv)
{
	struct fs_config cfg;
	int c, ret;

	strata_log_init("strata-fuse", STRATA_LOG_WARN);
	fs_config_init(&cfg);
	if (fs_config_parse_opts(&cfg, "allow_other,default_permissions"))
		return 1;
	while ((c = getopt(argc, argv, "fdho:V")) != -1) {
		switch (c) {
		case 'f':
			cfg.foreground = true;
			break;
		case 'd':
			cfg.debug = true;
			strata_log_init("strata-fuse", STRATA_LOG_DEBUG);
			break;
		case 'o':
			ret = fs_config_parse_opts(&cfg, optarg);
			if (ret) {
				fprintf(stderr, "strata-fuse: bad option in '%s': %s\n",
					optarg, strerror(-ret));
				goto fail;
			}
			break;
		case 'V':
			printf("strata-fuse %s\n", PACKAGE_VERSION);
			fs_config_release(&cfg);
			return 0;
		case 'h':
			usage(stdout);
			fs_config_release(&cfg);
			return 0;
		default:
			usage(stderr);
			goto fail;
		}
	}
	/* "strata-fuse SOURCE MOUNTPOINT" is how mount.fuse3 runs it for
	 * "mount -t fuse.strata-fuse SOURCE MOUNTPOINT": SOURCE is free text,
	 * as for fuse-overlayfs. */
	if (optind != argc - 1 && optind != argc - 2) {
		usage(stderr);
		goto fail;
	}
	cfg.mountpoint = realpath(argv[argc - 1], NULL);
	if (!cfg.mountpoint) {
		fprintf(stderr, "strata-fuse: %s: %s\n", argv[argc - 1],
			strerror(errno));
		goto fail;
	}
	if (fs_config_check(&cfg))
		goto fail;
	ret = fs_run(&cfg);
	if (ret) {
		fprintf(stderr, "strata-fuse: mount of %s failed: %s\n",
			cfg.mountpoint, strerror(-ret));
		goto fail;
	}
	fs_config_release(&cfg);
	return 0;
fail:
	fs_config_release(&cfg);
	return 1;
}
