// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mount.strata: the mount(8) helper, so that "mount -t strata" and fstab
 * entries of type strata work:
 *   mount.strata SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]
 * runs strata-fuse -o OPTIONS MOUNTPOINT (from bindir, next to this
 * program, or PATH), which daemonizes once the mount is in place.  SOURCE is free text (shown in /proc/mounts as the FUSE
 * fsname is "strata"); the layers come from OPTIONS, as for strata-fuse.
 * mount(8)-only options (defaults, noauto, nofail, _netdev, user, x-*,
 * comment=) are dropped; everything else goes to strata-fuse.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef STRATA_BINDIR
#define STRATA_BINDIR "/usr/local/bin"
#endif

static bool mount_only(const char *o, size_t len)
{
	static const char *const drop[] = { "defaults", "auto", "noauto",
					    "nofail", "_netdev", "user",
					    "users", "nouser", "owner",
					    "group", NULL };

	if (len >= 2 && !strncmp(o, "x-", 2))
		return true;
	if (len >= 8 && !strncmp(o, "comment=", 8))
		return true;
	for (size_t i = 0; drop[i]; i++)
		if (strlen(drop[i]) == len && !strncmp(o, drop[i], len))
			return true;
	return false;
}

/* Append the options of src worth passing on to *dst ("a,b,c"). */
static int add_opts(char **dst, const char *src)
{
	size_t cap = (*dst ? strlen(*dst) : 0) + strlen(src) + 2;
	char *out = realloc(*dst, cap);
	const char *p = src;

	if (!out)
		return -1;
	if (!*dst)
		out[0] = '\0';
	*dst = out;
	while (*p) {
		const char *e = p;
		size_t len;

		/* "\," escapes a comma inside a value (strata-fuse(8)). */
		while (*e && *e != ',') {
			if (*e == '\\' && e[1])
				e++;
			e++;
		}
		len = (size_t)(e - p);
		if (len && !mount_only(p, len)) {
			if (*out)
				strcat(out, ",");
			strncat(out, p, len);
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mount.strata SOURCE MOUNTPOINT [-sfnv] [-o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTION...]]\n"
		   "see mount.strata(8)\n");
}

int main(int argc, char **argv)
{
	char *opts = NULL, prog[4096], self[4096] = "";
	bool fake = false, verbose = false;
	char *args[8];
	int c, n = 0;

	while ((c = getopt(argc, argv, "sfnvo:t:N:h")) != -1) {
		switch (c) {
		case 's': /* sloppy */
		case 'n': /* no mtab: there is none to write */
		case 't':
			break;
		case 'f':
			fake = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'o':
			if (add_opts(&opts, optarg)) {
				fprintf(stderr, "mount.strata: out of memory\n");
				return 1;
			}
			break;
		case 'N':
			fprintf(stderr, "mount.strata: -N (namespaces) is not supported\n");
			return 1;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		free(opts);
		return 1;
	}
	if (!opts || !strstr(opts, "lowerdir=")) {
		fprintf(stderr, "mount.strata: %s: no lowerdir= option given\n",
			argv[optind + 1]);
		free(opts);
		return 1;
	}
	snprintf(prog, sizeof(prog), "%s/strata-fuse", STRATA_BINDIR);
	args[n++] = "strata-fuse";
	args[n++] = "-o";
	args[n++] = opts;
	args[n++] = argv[optind + 1];
	args[n] = NULL;
	if (verbose || fake)
		fprintf(stderr, "mount.strata: strata-fuse -o %s %s\n", opts,
			argv[optind + 1]);
	if (fake) {
		free(opts);
		return 0;
	}
	/* mount(8) runs helpers with a minimal environment: look in the
	 * configured bindir, then next to this program, then in PATH. */
	if (access(prog, X_OK) == 0)
		execv(prog, args);
	if (readlink("/proc/self/exe", self, sizeof(self) - 1) > 0) {
		char *slash = strrchr(self, '/');

		if (slash) {
			snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self),
				 "strata-fuse");
			if (access(self, X_OK) == 0)
				execv(self, args);
		}
	}
	execvp("strata-fuse", args);
	fprintf(stderr, "mount.strata: cannot run strata-fuse: %s\n",
		strerror(errno));
	free(opts);
	return 1;
}
