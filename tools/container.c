// SPDX-License-Identifier: GPL-2.0-or-later
/* Container records under <state dir>/containers (see container.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/util.h"
#include "tools/container.h"

bool container_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > CONTAINER_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

int container_dir(const char *name, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/containers/%s", strata_state_dir(), name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int add_str(json_object *o, const char *k, const char *v)
{
	json_object *s;

	if (!v)
		return 0;
	s = json_object_new_string(v);
	if (!s || json_object_object_add(o, k, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

int container_save(const struct container *ct)
{
	char dir[PATH_MAX - 32], path[PATH_MAX], tmp[PATH_MAX];
	json_object *o = json_object_new_object();
	const char *text;
	size_t len;
	int fd, r;

	if (!o)
		return -ENOMEM;
	r = container_dir(ct->name, dir, sizeof(dir));
	if (!r)
		r = strata_mkdir_p(dir, 0700);
	if (!r)
		r = add_str(o, "name", ct->name);
	if (!r)
		r = add_str(o, "image", ct->image);
	if (!r)
		r = add_str(o, "ref", ct->ref);
	if (!r)
		r = add_str(o, "store", ct->store);
	if (!r)
		r = add_str(o, "mountpoint", ct->mountpoint);
	if (!r)
		r = add_str(o, "upper", ct->upper);
	if (!r)
		r = add_str(o, "work", ct->work);
	if (!r)
		r = add_str(o, "options", ct->options);
	if (!r && json_object_object_add(o, "created", json_object_new_int64(ct->created)))
		r = -ENOMEM;
	if (r)
		goto out;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	snprintf(path, sizeof(path), "%s/container.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/.container.json.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd))
		r = errno ? -errno : -EIO;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
out:
	json_object_put(o);
	return r;
}

static int get_str(json_object *o, const char *k, bool required, char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return required ? -EBADMSG : 0;
	if (!json_object_is_type(v, json_type_string))
		return -EBADMSG;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -ENOMEM;
}

void container_free(struct container *ct)
{
	free(ct->image);
	free(ct->ref);
	free(ct->store);
	free(ct->mountpoint);
	free(ct->upper);
	free(ct->work);
	free(ct->options);
	memset(ct, 0, sizeof(*ct));
}

int container_load(const char *name, struct container *ct)
{
	char dir[PATH_MAX - 32], path[PATH_MAX];
	json_object *o, *v;
	int r;

	memset(ct, 0, sizeof(*ct));
	if (!container_name_ok(name))
		return -ENOENT;
	r = container_dir(name, dir, sizeof(dir));
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/container.json", dir);
	if (access(path, F_OK))
		return -errno;
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	snprintf(ct->name, sizeof(ct->name), "%s", name);
	r = get_str(o, "image", true, &ct->image);
	if (!r)
		r = get_str(o, "ref", false, &ct->ref);
	if (!r)
		r = get_str(o, "store", true, &ct->store);
	if (!r)
		r = get_str(o, "mountpoint", true, &ct->mountpoint);
	if (!r)
		r = get_str(o, "upper", true, &ct->upper);
	if (!r)
		r = get_str(o, "work", true, &ct->work);
	if (!r)
		r = get_str(o, "options", false, &ct->options);
	if (!r && json_object_object_get_ex(o, "created", &v))
		ct->created = json_object_get_int64(v);
	json_object_put(o);
	if (r)
		container_free(ct);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int container_list(char ***names, size_t *n)
{
	char dir[PATH_MAX];
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*names = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/containers", strata_state_dir());
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!container_name_ok(de->d_name))
			continue;
		if (cnt == cap) {
			char **nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				goto nomem;
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[cnt] = strdup(de->d_name);
		if (!v[cnt])
			goto nomem;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*names = v;
	*n = cnt;
	return 0;
nomem:
	closedir(d);
	while (cnt)
		free(v[--cnt]);
	free(v);
	return -ENOMEM;
}

int container_find(const char *name_or_path, struct container *ct)
{
	char *real, **names;
	size_t n;
	int r;

	r = container_load(name_or_path, ct);
	if (r != -ENOENT)
		return r;
	/* A path: the container whose mountpoint it is.  A mount whose
	 * daemon died fails realpath() (ENOTCONN): compare as given. */
	real = realpath(name_or_path, NULL);
	r = container_list(&names, &n);
	if (r) {
		free(real);
		return r;
	}
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (r == -ENOENT && container_load(names[i], ct) == 0) {
			if (!strcmp(ct->mountpoint, real ? real : name_or_path))
				r = 0;
			else
				container_free(ct);
		}
		free(names[i]);
	}
	free(names);
	free(real);
	return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

int container_remove(const char *name)
{
	char dir[PATH_MAX];
	int r;

	if (!container_name_ok(name))
		return -EINVAL;
	r = container_dir(name, dir, sizeof(dir));
	if (r)
		return r;
	if (nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return -errno;
	return 0;
}

pid_t container_daemon_pid(const struct container *ct)
{
	char path[PATH_MAX], buf[512], *p;
	long pid = 0;
	FILE *f;

	if (container_dir(ct->name, path, sizeof(path) - 16))
		return 0;
	strcat(path, "/daemon.pid");
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1 || pid > INT_MAX)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	/* "PID (comm) S ...": a stale file may name a recycled PID (check
	 * comm), and a daemon killed while its parent does not reap it
	 * stays a zombie that kill(pid, 0) still finds (check the state,
	 * which follows the last ')'). */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X' || !strstr(buf, " (strata-fuse)"))
		return 0;
	return (pid_t)pid;
}

void container_unescape_mount(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

bool container_is_mounted(const char *path)
{
	char line[PATH_MAX * 2], dev[256], dir[PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s", dev, dir) != 2)
			continue;
		container_unescape_mount(dir);
		found = !strcmp(dir, path);
	}
	fclose(f);
	return found;
}
