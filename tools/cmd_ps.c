// SPDX-License-Identifier: GPL-2.0-or-later
/* strata ps (alias mounts) and strata rm: the containers `strata mount`
 * recorded (tools/container.h), their state and upper usage, and their
 * removal. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <linux/magic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "strata/fs.h"
#include "tools/cmd.h"
#include "tools/cmd_ps.h"
#include "tools/container.h"

const char *ct_state_name(enum ct_state s)
{
	switch (s) {
	case CT_MOUNTED:
		return "mounted";
	case CT_DEAD:
		return "dead";
	case CT_DETACHED:
		return "detached";
	case CT_STOPPED:
		break;
	}
	return "stopped";
}

enum ct_state ct_state(const struct container *ct, pid_t *pid)
{
	struct statfs st;

	*pid = container_daemon_pid(ct);
	if (!container_is_mounted(ct->mountpoint))
		return *pid ? CT_DETACHED : CT_STOPPED;
	if (*pid)
		return CT_MOUNTED;
	/* No live daemon on record: a FUSE mount whose daemon is gone
	 * answers ENOTCONN (a mount from before pidfiles still answers).
	 * statfs, unlike stat, is never served from the kernel's cache. */
	if (statfs(ct->mountpoint, &st) < 0)
		return errno == ENOTCONN ? CT_DEAD : CT_MOUNTED;
	/* Something else mounted there since: not this container. */
	return st.f_type == FUSE_SUPER_MAGIC ? CT_MOUNTED : CT_STOPPED;
}

/* Whether path lies in dir (path == dir or below it). */
static bool path_in(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

int ct_destroy(struct container *ct, bool force, const char *what)
{
	char dir[PATH_MAX];
	enum ct_state s;
	pid_t pid;
	int r;

	s = ct_state(ct, &pid);
	if (s == CT_DETACHED) {
		cmd_err("%s: %s: strata-fuse %d still serves it (mounted in another namespace?)",
			what, ct->name, (int)pid);
		return 1;
	}
	if (s != CT_STOPPED) {
		char *uargv[] = { "umount", ct->mountpoint, NULL };

		if (!force) {
			cmd_err("%s: %s: mounted at %s (strata umount it first, or use --force)",
				what, ct->name, ct->mountpoint);
			return 1;
		}
		if (cmd_umount(2, uargv))
			return 1;
		/* The daemon exits once the kernel lets go of the mount;
		 * the upper must not be deleted under it. */
		for (int i = 0; i < 100 && container_daemon_pid(ct); i++)
			usleep(50 * 1000);
		if ((pid = container_daemon_pid(ct))) {
			cmd_err("%s: %s: strata-fuse %d did not exit after unmounting", what,
				ct->name, (int)pid);
			return 1;
		}
	}
	r = container_dir(ct->name, dir, sizeof(dir));
	if (!r)
		r = container_remove(ct->name);
	if (r) {
		cmd_err("%s: %s: removing %s: %s", what, ct->name, dir, strerror(-r));
		return 1;
	}
	/* An upper given with --upper belongs to whoever gave it. */
	if (!path_in(ct->upper, dir))
		fprintf(stderr, "strata: %s: %s: left %s and %s in place (given with --upper)\n",
			what, ct->name, ct->upper, ct->work);
	return 0;
}

/* "1.5M" style size into buf. */
static const char *human(uint64_t v, char *buf, size_t size)
{
	static const char unit[] = "BKMGTP";
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lluB", (unsigned long long)v);
	else
		snprintf(buf, size, "%.1f%c", d, unit[u]);
	return buf;
}

/* The upper's usage; -errno when it cannot be scanned. */
static int upper_usage(const struct container *ct, struct fs_usage *u)
{
	int fd = open(ct->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	memset(u, 0, sizeof(*u));
	if (fd < 0)
		return -errno;
	r = fs_usage_scan(fd, u);
	close(fd);
	return r;
}

static json_object *ps_json(const struct container *ct, enum ct_state s, pid_t pid,
			    const struct fs_usage *u, int ur)
{
	json_object *o = json_object_new_object(), *img, *up;

	if (!o)
		return NULL;
	img = json_object_new_object();
	up = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(ct->name));
	json_object_object_add(img, "ref", ct->ref ? json_object_new_string(ct->ref) : NULL);
	json_object_object_add(img, "id", json_object_new_string(ct->image));
	json_object_object_add(o, "image", img);
	json_object_object_add(o, "mountpoint", json_object_new_string(ct->mountpoint));
	json_object_object_add(o, "state", json_object_new_string(ct_state_name(s)));
	json_object_object_add(o, "pid", pid ? json_object_new_int((int)pid) : NULL);
	json_object_object_add(up, "path", json_object_new_string(ct->upper));
	json_object_object_add(up, "bytes", ur ? NULL : json_object_new_int64((int64_t)u->bytes));
	json_object_object_add(up, "inodes", ur ? NULL : json_object_new_int64((int64_t)u->inodes));
	json_object_object_add(o, "upper", up);
	json_object_object_add(o, "store", json_object_new_string(ct->store));
	json_object_object_add(o, "created", json_object_new_int64(ct->created));
	return o;
}

static void usage_ps(FILE *f)
{
	fprintf(f, "usage: strata ps [--all] [--quiet] [--format table|json]\n"
		   "  (alias: strata mounts) mounted containers; --all adds stopped ones\n");
}

int cmd_ps(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false, quiet = false, json = false;
	json_object *arr = NULL;
	char **names;
	size_t n;
	int ch, r, ret = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "aqh", lo, NULL)) != -1) {
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'f':
			if (!strcmp(optarg, "json")) {
				json = true;
			} else if (strcmp(optarg, "table")) {
				cmd_err("ps: unknown format '%s' (table or json)", optarg);
				return 2;
			}
			break;
		case 'h':
			usage_ps(stdout);
			return 0;
		default:
			usage_ps(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage_ps(stderr);
		return 2;
	}
	r = container_list(&names, &n);
	if (r) {
		cmd_err("ps: listing containers: %s", strerror(-r));
		return 1;
	}
	if (json) {
		arr = json_object_new_array();
		if (!arr) {
			cmd_err("ps: %s", strerror(ENOMEM));
			ret = 1;
			goto out;
		}
	} else if (!quiet) {
		printf("%-16s %-24s %-12s %-8s %7s %9s %7s  %s\n", "NAME", "IMAGE", "IMAGE ID",
		       "STATE", "PID", "UPPER", "INODES", "MOUNTPOINT");
	}
	for (size_t i = 0; i < n; i++) {
		struct container ct;
		struct fs_usage u;
		enum ct_state s;
		char id[13], sz[24], pidb[16], inb[24];
		pid_t pid;
		int ur;

		r = container_load(names[i], &ct);
		if (r) {
			/* Half-created or damaged: say so, keep listing. */
			cmd_err("ps: container %s: %s", names[i],
				r == -EBADMSG ? "damaged container.json" : strerror(-r));
			ret = 1;
			continue;
		}
		s = ct_state(&ct, &pid);
		if (!all && s == CT_STOPPED) {
			container_free(&ct);
			continue;
		}
		if (quiet && !json) {
			printf("%s\n", ct.name);
			container_free(&ct);
			continue;
		}
		ur = upper_usage(&ct, &u);
		if (json) {
			json_object *o = ps_json(&ct, s, pid, &u, ur);

			if (!o || json_object_array_add(arr, o)) {
				json_object_put(o);
				cmd_err("ps: %s", strerror(ENOMEM));
				ret = 1;
			}
		} else {
			const char *h = strchr(ct.image, ':');

			snprintf(id, sizeof(id), "%s", h ? h + 1 : ct.image);
			snprintf(pidb, sizeof(pidb), "%d", (int)pid);
			snprintf(inb, sizeof(inb), "%llu", (unsigned long long)u.inodes);
			printf("%-16s %-24s %-12s %-8s %7s %9s %7s  %s\n", ct.name,
			       ct.ref ? ct.ref : "-", id, ct_state_name(s), pid ? pidb : "-",
			       ur ? "?" : human(u.bytes, sz, sizeof(sz)), ur ? "?" : inb,
			       ct.mountpoint);
		}
		container_free(&ct);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(arr);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

static void usage_rm(FILE *f)
{
	fprintf(f, "usage: strata rm [--force] CONTAINER...\n");
}

int cmd_rm(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int ch, r, ret = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "fh", lo, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = true;
			break;
		case 'h':
			usage_rm(stdout);
			return 0;
		default:
			usage_rm(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage_rm(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		struct container ct;

		r = container_find(argv[i], &ct);
		if (r) {
			cmd_err("rm: %s: %s", argv[i],
				r == -ENOENT ? "no such container" :
				r == -EBADMSG ? "damaged container.json" : strerror(-r));
			ret = 1;
			continue;
		}
		if (ct_destroy(&ct, force, "rm"))
			ret = 1;
		else
			printf("%s\n", ct.name);
		container_free(&ct);
	}
	return ret;
}
