// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strata volume create|ls|inspect|usage|mount|umount|rm: directories with
 * a size and inode limit that an engine binds into containers.
 *
 * A volume is <state dir>/volumes/NAME/:
 *   volume.json  { "name", "size", "inodes" (0 = no limit), "created" }
 *                written atomically (temporary file, fsync, rename)
 *   data/        what the volume holds: strata-fuse's upper directory
 *   work/        its work directory
 *   lower/       an empty lower (strata-fuse always merges one)
 *   mnt/         the mount (upper_size=, upper_inodes=) engines bind
 *   daemon.pid   the serving strata-fuse, while mounted
 * The limits are enforced by strata-fuse (EDQUOT); usage comes from the
 * mount's statfs, exact since the daemon scans data/ when it mounts, or
 * from a scan of data/ when the volume is not mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "strata/fs.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/spawn.h"
#include "tools/container.h"

#define VOLUME_NAME_MAX 63

struct volume {
	char name[VOLUME_NAME_MAX + 1];
	char dir[PATH_MAX - 32];
	uint64_t size, inodes; /* limits, 0 = none */
	int64_t created;
};

enum vol_state { VOL_UNMOUNTED, VOL_MOUNTED, VOL_DEAD };
static const char *const state_names[] = { "unmounted", "mounted", "dead" };

/* 1..63 bytes of [A-Za-z0-9_.-] starting with a letter or digit: no '/',
 * no "." or "..", no hidden names (used for temporary directories). */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > VOLUME_NAME_MAX)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_.-") == n;
}

static int check_name(const char *cmd, const char *name)
{
	if (name_ok(name))
		return 0;
	cmd_err("volume %s: invalid volume name '%s' (1-%d characters of "
		"A-Z a-z 0-9 _ . -, starting with a letter or digit)",
		cmd, name, VOLUME_NAME_MAX);
	return -EINVAL;
}

static int vol_path(char *buf, size_t size, const char *name, const char *sub)
{
	int n = snprintf(buf, size, "%s/volumes/%s%s%s", strata_state_dir(),
			 name, sub ? "/" : "", sub ? sub : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void sub(char *buf, size_t size, const struct volume *v,
		const char *what)
{
	snprintf(buf, size, "%s/%s", v->dir, what);
}

static int save(const struct volume *v)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct json_object *o = json_object_new_object();
	const char *s;
	int fd, ret = 0;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)v->size));
	json_object_object_add(o, "inodes",
			       json_object_new_int64((int64_t)v->inodes));
	json_object_object_add(o, "created", json_object_new_int64(v->created));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	sub(path, sizeof(path), v, "volume.json");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = strata_pwrite_full(fd, s, strlen(s), 0);
	if (!ret)
		ret = strata_pwrite_full(fd, "\n", 1, (off_t)strlen(s));
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
out:
	json_object_put(o);
	return ret;
}

static int64_t get_int(struct json_object *o, const char *key, bool *ok)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		*ok = false;
	return *ok ? json_object_get_int64(v) : 0;
}

/* 0, -ENOENT (no such volume), -EBADMSG (unreadable metadata). */
static int load(const char *name, struct volume *v)
{
	char path[PATH_MAX];
	struct json_object *o;
	bool ok = true;

	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (vol_path(v->dir, sizeof(v->dir), name, NULL))
		return -ENAMETOOLONG;
	sub(path, sizeof(path), v, "volume.json");
	if (access(path, F_OK))
		return -errno;
	o = json_object_from_file(path);
	if (!o)
		return -EBADMSG;
	v->size = (uint64_t)get_int(o, "size", &ok);
	v->inodes = (uint64_t)get_int(o, "inodes", &ok);
	v->created = get_int(o, "created", &ok);
	json_object_put(o);
	return ok ? 0 : -EBADMSG;
}

static int load_or_complain(const char *cmd, const char *name, struct volume *v)
{
	int r;

	if (check_name(cmd, name))
		return -EINVAL;
	r = load(name, v);
	if (r == -ENOENT)
		cmd_err("volume %s: %s: no such volume", cmd, name);
	else if (r)
		cmd_err("volume %s: %s: reading volume.json: %s", cmd, name,
			strerror(-r));
	return r;
}

static enum vol_state state(const struct volume *v)
{
	char mnt[PATH_MAX];
	struct statvfs sv;

	sub(mnt, sizeof(mnt), v, "mnt");
	if (!container_is_mounted(mnt))
		return VOL_UNMOUNTED;
	/* statfs always asks the daemon (stat may be answered from the
	 * kernel's attribute cache). */
	if (statvfs(mnt, &sv) && errno == ENOTCONN)
		return VOL_DEAD;
	return VOL_MOUNTED;
}

static pid_t daemon_pid(const struct volume *v)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	long pid = 0;

	sub(path, sizeof(path), v, "daemon.pid");
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f) || (pid = strtol(buf, NULL, 10)) <= 0 ||
	    kill((pid_t)pid, 0))
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Usage from the mount's statfs (see strata-fuse(8), LIMITS) when it
 * has limits (a mount without counts nothing), else by scanning the data
 * directory. */
static int usage(const struct volume *v, struct fs_usage *u)
{
	char path[PATH_MAX];
	struct statvfs sv;
	int fd, ret;

	if ((v->size || v->inodes) && state(v) == VOL_MOUNTED) {
		sub(path, sizeof(path), v, "mnt");
		if (statvfs(path, &sv))
			return -errno;
		u->bytes = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
		u->inodes = (uint64_t)(sv.f_files - sv.f_ffree);
		return 0;
	}
	sub(path, sizeof(path), v, "data");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = fs_usage_scan(fd, u);
	close(fd);
	return ret;
}

/* Append s to buf with ',' and '\' escaped (fs_config_parse_opts()). */
static int opt_add(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	for (; *s; s++) {
		if (n + 3 > size)
			return -ENAMETOOLONG;
		if (*s == ',' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return 0;
}

static int do_mount(const char *cmd, const struct volume *v)
{
	char daemon[PATH_MAX], o[4 * PATH_MAX + 128], mnt[PATH_MAX];
	char path[PATH_MAX], num[64];
	char *argv[5];
	int r = 0;

	sub(mnt, sizeof(mnt), v, "mnt");
	if (state(v) == VOL_DEAD && umount2(mnt, MNT_DETACH)) {
		cmd_err("volume %s: %s: removing the dead mount: %s", cmd,
			v->name, strerror(errno));
		return -errno;
	}
	o[0] = '\0';
	static const char *const opts[] = { "lowerdir=", "lower",
					    ",upperdir=", "data",
					    ",workdir=", "work",
					    ",pidfile=", "daemon.pid" };
	for (size_t i = 0; i < ARRAY_SIZE(opts) && !r; i += 2) {
		strcat(o, opts[i]);
		sub(path, sizeof(path), v, opts[i + 1]);
		r = opt_add(o, sizeof(o), path);
	}
	if (r) {
		cmd_err("volume %s: %s: path too long", cmd, v->name);
		return r;
	}
	if (v->size) {
		snprintf(num, sizeof(num), ",upper_size=%llu",
			 (unsigned long long)v->size);
		strcat(o, num);
	}
	if (v->inodes) {
		snprintf(num, sizeof(num), ",upper_inodes=%llu",
			 (unsigned long long)v->inodes);
		strcat(o, num);
	}
	spawn_find_daemon(daemon, sizeof(daemon));
	argv[0] = daemon;
	argv[1] = "-o";
	argv[2] = o;
	argv[3] = mnt;
	argv[4] = NULL;
	r = spawn_run(argv, false);
	if (r < 0) {
		cmd_err("volume %s: cannot run %s: %s", cmd, daemon,
			strerror(-r));
		return r;
	}
	if (r || state(v) != VOL_MOUNTED) {
		cmd_err("volume %s: %s: strata-fuse failed (exit %d)", cmd,
			v->name, r);
		return -EIO;
	}
	return 0;
}

/*
 * Count the mounts in one mountinfo file of device dev, except the one at
 * skip; with dev empty, find the device mounted at skip instead (into dev).
 */
static int scan_mountinfo(const char *file, char *dev, size_t size,
			  const char *skip)
{
	char line[2 * PATH_MAX];
	FILE *f = fopen(file, "re");
	int n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *fld[5], *save = NULL, *p = line;
		int k;

		for (k = 0; k < 5; k++, p = NULL)
			if (!(fld[k] = strtok_r(p, " ", &save)))
				break;
		if (k < 5)
			continue;
		container_unescape_mount(fld[4]);
		if (skip && !strcmp(fld[4], skip)) {
			if (!dev[0])
				snprintf(dev, size, "%s", fld[2]);
			continue;
		}
		if (dev[0] && !strcmp(fld[2], dev))
			n++;
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * Other mounts of the volume's filesystem (binds into containers) in every
 * mount namespace: mountinfo lines with the device of the volume's own
 * mount, except that one.
 */
static int other_mounts(const char *mnt)
{
	char dev[64] = "", path[300], ns[64];
	char (*seen)[64] = NULL;
	size_t nseen = 0;
	struct dirent *de;
	int users;
	DIR *d;

	scan_mountinfo("/proc/self/mountinfo", dev, sizeof(dev), mnt);
	if (!dev[0])
		return 0;
	users = scan_mountinfo("/proc/self/mountinfo", dev, sizeof(dev), mnt);
	d = opendir("/proc");
	/* Each other namespace once; ours (the first "seen") is done. */
	for (const char *who = "self"; d && who;
	     who = (de = readdir(d)) ? de->d_name : NULL) {
		ssize_t n;
		size_t i;
		void *t;

		if (strcmp(who, "self") && (who[0] < '0' || who[0] > '9'))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/mnt", who);
		n = readlink(path, ns, sizeof(ns) - 1);
		if (n <= 0)
			continue;
		ns[n] = '\0';
		for (i = 0; i < nseen && strcmp(seen[i], ns); i++)
			;
		if (i < nseen)
			continue;
		t = realloc(seen, (nseen + 1) * sizeof(*seen));
		if (!t)
			break;
		seen = t;
		strcpy(seen[nseen++], ns);
		if (nseen == 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/mountinfo", who);
		users += scan_mountinfo(path, dev, sizeof(dev), NULL);
	}
	if (d)
		closedir(d);
	free(seen);
	return users;
}

static int wait_gone(pid_t pid, int tenths)
{
	for (int i = 0; pid > 0 && i < tenths; i++) {
		if (kill(pid, 0))
			return 0;
		usleep(100000);
	}
	return pid > 0 && !kill(pid, 0) ? -EBUSY : 0;
}

/* Unmount the volume and wait for its daemon; force: also when other
 * mounts keep the daemon serving (they are cut off). */
static int do_umount(const char *cmd, const struct volume *v, bool force)
{
	char mnt[PATH_MAX];
	char *argv[] = { "fusermount3", "-u", mnt, NULL };
	enum vol_state s = state(v);
	pid_t pid = daemon_pid(v);
	int users;

	sub(mnt, sizeof(mnt), v, "mnt");
	if (s == VOL_UNMOUNTED)
		return 0;
	if (s == VOL_MOUNTED) {
		users = other_mounts(mnt);
		if (users && !force) {
			cmd_err("volume %s: %s: in use (%d other mount%s of it, "
				"e.g. by a container); use --force",
				cmd, v->name, users, users > 1 ? "s" : "");
			return -EBUSY;
		}
	}
	if (s == VOL_DEAD || spawn_run(argv, true)) {
		if (umount2(mnt, force || s == VOL_DEAD ? MNT_DETACH : 0)) {
			cmd_err("volume %s: %s: unmounting %s: %s", cmd,
				v->name, mnt, strerror(errno));
			return -errno;
		}
	}
	if (wait_gone(pid, 50)) {
		if (!force) {
			cmd_err("volume %s: %s: strata-fuse (pid %d) still "
				"serves other mounts; use --force",
				cmd, v->name, (int)pid);
			return -EBUSY;
		}
		kill(pid, SIGTERM);
		if (wait_gone(pid, 50)) {
			kill(pid, SIGKILL);
			wait_gone(pid, 50);
		}
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT ?
		       -1 : 0;
}

static int remove_tree(const char *dir)
{
	if (nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return -errno;
	return 0;
}

static void fmt_limit(uint64_t v, bool bytes, char *buf, size_t size)
{
	if (!v)
		snprintf(buf, size, "-");
	else if (bytes)
		strata_fmt_size(v, buf, size);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static int vol_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "inodes", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char tmp[PATH_MAX], path[PATH_MAX], *end;
	struct volume v = { 0 };
	int ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (strata_parse_size(optarg, &v.size) || !v.size) {
				cmd_err("volume create: invalid --size '%s' "
					"(expected BYTES[K|M|G|T] > 0)", optarg);
				return 2;
			}
			break;
		case 'i':
			errno = 0;
			v.inodes = strtoull(optarg, &end, 10);
			if (errno || *end || !v.inodes || optarg[0] == '-') {
				cmd_err("volume create: invalid --inodes '%s' "
					"(expected a number > 0)", optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: strata volume create [--size LIMIT] [--inodes N] NAME\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: strata volume create [--size LIMIT] [--inodes N] NAME\n");
		return 2;
	}
	if (check_name("create", argv[optind]))
		return 1;
	snprintf(v.name, sizeof(v.name), "%s", argv[optind]);
	v.created = (int64_t)time(NULL);
	if (vol_path(v.dir, sizeof(v.dir), v.name, NULL) ||
	    vol_path(path, sizeof(path), "", NULL)) {
		cmd_err("volume create: state directory path too long");
		return 1;
	}
	if (!access(v.dir, F_OK)) {
		cmd_err("volume create: %s: volume exists", v.name);
		return 1;
	}
	/* Built under a hidden name, then renamed: no half-made volume is
	 * ever listed. */
	r = strata_mkdir_p(path, 0700);
	if (!r && snprintf(tmp, sizeof(tmp), "%s.%s.tmp-%d", path, v.name,
			   (int)getpid()) >= (int)sizeof(v.dir))
		r = -ENAMETOOLONG;
	if (!r && mkdir(tmp, 0700))
		r = -errno;
	if (r) {
		cmd_err("volume create: creating %s: %s", tmp, strerror(-r));
		return 1;
	}
	{
		struct volume t = v;
		static const char *const dirs[] = { "data", "work", "lower", "mnt" };

		memcpy(t.dir, tmp, strlen(tmp) + 1); /* fits: checked above */
		for (size_t i = 0; i < ARRAY_SIZE(dirs) && !r; i++) {
			sub(path, sizeof(path), &t, dirs[i]);
			if (mkdir(path, strcmp(dirs[i], "work") ? 0755 : 0700))
				r = -errno;
		}
		if (!r)
			r = save(&t);
	}
	if (!r && rename(tmp, v.dir))
		r = -errno;
	if (r) {
		cmd_err("volume create: %s: %s", v.name,
			r == -EEXIST || r == -ENOTEMPTY ? "volume exists" :
							  strerror(-r));
		remove_tree(tmp);
		return 1;
	}
	if (do_mount("create", &v)) {
		remove_tree(v.dir);
		return 1;
	}
	sub(path, sizeof(path), &v, "mnt");
	printf("%s\n", path);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int vol_ls(int argc, char **argv)
{
	char dir[PATH_MAX], sz[32], in[32], used[32], mnt[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		fprintf(help ? stdout : stderr, "usage: strata volume ls\n");
		return help ? 0 : 2;
	}
	vol_path(dir, sizeof(dir), "", NULL);
	d = opendir(dir);
	if (!d && errno != ENOENT) {
		cmd_err("volume ls: %s: %s", dir, strerror(errno));
		return 1;
	}
	while (d && (de = readdir(d))) {
		char **t;

		if (!name_ok(de->d_name))
			continue;
		t = realloc(names, (n + 1) * sizeof(*names));
		if (!t || !(t[n] = strdup(de->d_name))) {
			cmd_err("volume ls: %s", strerror(ENOMEM));
			free(t ? t : names);
			closedir(d);
			return 1;
		}
		names = t;
		n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	printf("%-24s %-10s %-10s %-10s %-9s %s\n", "NAME", "SIZE", "INODES",
	       "USED", "STATE", "MOUNTPOINT");
	for (size_t i = 0; i < n; i++) {
		struct volume v;
		struct fs_usage u;
		enum vol_state s;

		if (load(names[i], &v)) {
			printf("%-24s (unreadable volume.json)\n", names[i]);
			continue;
		}
		s = state(&v);
		fmt_limit(v.size, true, sz, sizeof(sz));
		fmt_limit(v.inodes, false, in, sizeof(in));
		if (s != VOL_DEAD && !usage(&v, &u))
			strata_fmt_size(u.bytes, used, sizeof(used));
		else
			snprintf(used, sizeof(used), "?");
		sub(mnt, sizeof(mnt), &v, "mnt");
		printf("%-24s %-10s %-10s %-10s %-9s %s\n", v.name, sz, in, used,
		       state_names[s], mnt);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

static int one_name(int argc, char **argv, const char *usage_line)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: %s\n", usage_line);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s\n", usage_line);
		return 2;
	}
	return -1;
}

static int vol_inspect(int argc, char **argv)
{
	struct json_object *o, *uo;
	char path[PATH_MAX];
	struct volume v;
	struct fs_usage u;
	enum vol_state s;
	pid_t pid;
	int r = one_name(argc, argv, "strata volume inspect NAME");

	if (r >= 0)
		return r;
	if (load_or_complain("inspect", argv[1], &v))
		return 1;
	s = state(&v);
	pid = s == VOL_MOUNTED ? daemon_pid(&v) : 0;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(v.name));
	json_object_object_add(o, "size", v.size ? json_object_new_int64((int64_t)v.size) : NULL);
	json_object_object_add(o, "inodes", v.inodes ? json_object_new_int64((int64_t)v.inodes) : NULL);
	json_object_object_add(o, "created", json_object_new_int64(v.created));
	sub(path, sizeof(path), &v, "mnt");
	json_object_object_add(o, "mountpoint", json_object_new_string(path));
	sub(path, sizeof(path), &v, "data");
	json_object_object_add(o, "data", json_object_new_string(path));
	json_object_object_add(o, "state", json_object_new_string(state_names[s]));
	json_object_object_add(o, "pid", pid ? json_object_new_int(pid) : NULL);
	if (s != VOL_DEAD && !usage(&v, &u)) {
		uo = json_object_new_object();
		json_object_object_add(uo, "bytes", json_object_new_int64((int64_t)u.bytes));
		json_object_object_add(uo, "inodes", json_object_new_int64((int64_t)u.inodes));
		json_object_object_add(o, "usage", uo);
	} else {
		json_object_object_add(o, "usage", NULL);
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

static int vol_usage(int argc, char **argv)
{
	char lim[32], used[32];
	struct volume v;
	struct fs_usage u;
	int r = one_name(argc, argv, "strata volume usage NAME");

	if (r >= 0)
		return r;
	if (load_or_complain("usage", argv[1], &v))
		return 1;
	if (state(&v) == VOL_DEAD) {
		cmd_err("volume usage: %s: its strata-fuse is gone; run 'strata volume mount %s'",
			v.name, v.name);
		return 1;
	}
	r = usage(&v, &u);
	if (r) {
		cmd_err("volume usage: %s: %s", v.name, strerror(-r));
		return 1;
	}
	fmt_limit(v.size, true, lim, sizeof(lim));
	printf("bytes  %llu (%s) of %s\n", (unsigned long long)u.bytes,
	       strata_fmt_size(u.bytes, used, sizeof(used)), lim);
	fmt_limit(v.inodes, false, lim, sizeof(lim));
	printf("inodes %llu of %s\n", (unsigned long long)u.inodes, lim);
	return 0;
}

static int vol_mount(int argc, char **argv)
{
	char mnt[PATH_MAX];
	struct volume v;
	int r = one_name(argc, argv, "strata volume mount NAME");

	if (r >= 0)
		return r;
	if (load_or_complain("mount", argv[1], &v))
		return 1;
	if (state(&v) == VOL_MOUNTED) {
		cmd_err("volume mount: %s: already mounted", v.name);
		return 1;
	}
	if (do_mount("mount", &v))
		return 1;
	sub(mnt, sizeof(mnt), &v, "mnt");
	printf("%s\n", mnt);
	return 0;
}

static int vol_umount(int argc, char **argv)
{
	struct volume v;
	int r = one_name(argc, argv, "strata volume umount NAME");

	if (r >= 0)
		return r;
	if (load_or_complain("umount", argv[1], &v))
		return 1;
	if (state(&v) == VOL_UNMOUNTED) {
		cmd_err("volume umount: %s: not mounted", v.name);
		return 1;
	}
	return do_umount("umount", &v, false) ? 1 : 0;
}

static int vol_rm(int argc, char **argv)
{
	char tmp[PATH_MAX];
	bool force = false;
	struct volume v;
	int r;

	if (argc > 1 && !strcmp(argv[1], "--force")) {
		force = true;
		argv++;
		argc--;
	}
	r = one_name(argc, argv, "strata volume rm [--force] NAME");
	if (r >= 0)
		return r;
	if (load_or_complain("rm", argv[1], &v))
		return 1;
	if (do_umount("rm", &v, force))
		return 1;
	/* Out of sight in one step, then deleted. */
	vol_path(tmp, sizeof(tmp), "", NULL);
	snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), ".%s.rm-%d",
		 v.name, (int)getpid());
	if (rename(v.dir, tmp)) {
		cmd_err("volume rm: %s: %s", v.name, strerror(errno));
		return 1;
	}
	r = remove_tree(tmp);
	if (r) {
		cmd_err("volume rm: %s: deleting %s: %s", v.name, tmp, strerror(-r));
		return 1;
	}
	return 0;
}

int cmd_volume(int argc, char **argv)
{
	static const struct cmd table[] = {
		{ "create", vol_create, "create and mount a volume (--size, --inodes)" },
		{ "ls", vol_ls, "list volumes with limits, usage and state" },
		{ "inspect", vol_inspect, "a volume as JSON" },
		{ "usage", vol_usage, "bytes and inodes a volume uses, and its limits" },
		{ "mount", vol_mount, "mount a volume again (after a reboot or a crash)" },
		{ "umount", vol_umount, "unmount a volume" },
		{ "rm", vol_rm, "unmount and delete a volume (--force: even in use)" },
		{ NULL, NULL, NULL },
	};

	return cmd_dispatch("volume", table, argc - 1, argv + 1);
}
