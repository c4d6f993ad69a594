// SPDX-License-Identifier: GPL-2.0-or-later
/* An OCI runtime spec from an image config (see ocispec.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/ocispec.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_GIDS 64

static int fail(char *why, size_t n, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t n, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return err;
}

/* path (relative) opened for reading inside the rootfs: ".." and
 * symlinks, absolute ones too, cannot lead outside it. */
static FILE *open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* A decimal id below 2^32 - 1 (-1 is "no change" to chown). */
static bool parse_id(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

struct user {
	uint32_t uid, gid;
	uint32_t gids[MAX_GIDS]; /* additional */
	size_t ngids;
};

/*
 * User as the image spec defines it: "", "user", "uid", "user:group",
 * "uid:gid", "uid:group", "user:gid".  Without a group, the user's
 * passwd entry gives the gid (0 for a uid it does not list) and
 * /etc/group the additional gids.
 */
static int resolve_user(int rootfd, const char *spec, struct user *u, char *why, size_t wn)
{
	char name[256] = "", *colon, userpart[256];
	const char *group = NULL;
	bool by_name, have_name = false;
	struct passwd *pw;
	struct group *gr;
	FILE *f;

	memset(u, 0, sizeof(*u));
	if ((size_t)snprintf(userpart, sizeof(userpart), "%s", *spec ? spec : "0") >=
	    sizeof(userpart))
		return fail(why, wn, -EINVAL, "User '%s' is too long", spec);
	colon = strchr(userpart, ':');
	if (colon) {
		*colon = '\0';
		group = colon + 1;
		if (!*group)
			return fail(why, wn, -EINVAL, "User '%s': empty group", spec);
	}
	if (!*userpart)
		return fail(why, wn, -EINVAL, "User '%s': empty user", spec);
	by_name = !parse_id(userpart, &u->uid);

	f = open_in_root(rootfd, "etc/passwd");
	if (!f && (by_name || errno != ENOENT))
		return fail(why, wn, -errno, "User '%s': the image's /etc/passwd: %s", spec,
			    strerror(errno));
	while (f && (pw = fgetpwent(f))) {
		if (by_name ? strcmp(pw->pw_name, userpart) : pw->pw_uid != u->uid)
			continue;
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
		snprintf(name, sizeof(name), "%s", pw->pw_name);
		have_name = true;
		break;
	}
	if (f)
		fclose(f);
	if (by_name && !have_name)
		return fail(why, wn, -ENOENT, "User '%s': no user '%s' in the image's /etc/passwd",
			    spec, userpart);

	if (group && parse_id(group, &u->gid))
		return 0;
	/* A group name, or the user's groups: /etc/group. */
	f = open_in_root(rootfd, "etc/group");
	if (!f && (group || errno != ENOENT))
		return fail(why, wn, -errno, "User '%s': the image's /etc/group: %s", spec,
			    strerror(errno));
	while (f && (gr = fgetgrent(f))) {
		if (group) {
			if (!strcmp(gr->gr_name, group)) {
				u->gid = gr->gr_gid;
				group = NULL;
				break;
			}
			continue;
		}
		if (!have_name || gr->gr_gid == u->gid)
			continue;
		for (char **m = gr->gr_mem; *m; m++) {
			if (strcmp(*m, name))
				continue;
			if (u->ngids < MAX_GIDS)
				u->gids[u->ngids++] = gr->gr_gid;
			break;
		}
	}
	if (f)
		fclose(f);
	if (group)
		return fail(why, wn, -ENOENT, "User '%s': no group '%s' in the image's /etc/group",
			    spec, group);
	return 0;
}

/* ---- small JSON builders; NULL from any allocation fails the build ---- */

static bool add(json_object *o, const char *k, json_object *v)
{
	if (!v || json_object_object_add(o, k, v)) {
		json_object_put(v);
		return false;
	}
	return true;
}

static bool push(json_object *a, json_object *v)
{
	if (!v || json_object_array_add(a, v)) {
		json_object_put(v);
		return false;
	}
	return true;
}

static json_object *strs(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; a && *v; v++)
		if (!push(a, json_object_new_string(*v))) {
			json_object_put(a);
			return NULL;
		}
	return a;
}

static json_object *mount(const char *dst, const char *type, const char *src,
			  const char *const *opts)
{
	json_object *m = json_object_new_object();

	if (m && add(m, "destination", json_object_new_string(dst)) &&
	    add(m, "type", json_object_new_string(type)) &&
	    add(m, "source", json_object_new_string(src)) &&
	    (!opts || add(m, "options", strs(opts))))
		return m;
	json_object_put(m);
	return NULL;
}

/* Member k of the image's "config" section, checked to be of type t
 * (absent or null: *v = NULL).  -EINVAL when of another type. */
static int member(json_object *cfg, const char *k, json_type t, json_object **v, char *why,
		  size_t wn)
{
	*v = NULL;
	if (!cfg || !json_object_object_get_ex(cfg, k, v) ||
	    json_object_is_type(*v, json_type_null)) {
		*v = NULL;
		return 0;
	}
	if (!json_object_is_type(*v, t))
		return fail(why, wn, -EINVAL, "malformed image config: %s has the wrong type",
			    k);
	if (t == json_type_array)
		for (size_t i = 0; i < json_object_array_length(*v); i++)
			if (!json_object_is_type(json_object_array_get_idx(*v, i),
						 json_type_string))
				return fail(why, wn, -EINVAL,
					    "malformed image config: %s is not a string list", k);
	return 0;
}

static bool append_all(json_object *dst, json_object *src)
{
	for (size_t i = 0; src && i < json_object_array_length(src); i++)
		if (!push(dst, json_object_get(json_object_array_get_idx(src, i))))
			return false;
	return true;
}

/* A new object or array added to parent under k (parent owns it: a
 * failure later is cleaned up with the parent); NULL on ENOMEM. */
static json_object *child(json_object *parent, const char *k, bool array)
{
	json_object *c = array ? json_object_new_array() : json_object_new_object();

	return add(parent, k, c) ? c : NULL;
}

static bool fill_process(json_object *p, const struct ocispec_in *in, const struct user *u,
			 json_object *entry, json_object *cmd, json_object *env, const char *wd)
{
	static const char *const caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL",
					    "CAP_NET_BIND_SERVICE", NULL };
	static const char *const sets[] = { "bounding", "effective", "permitted", "ambient",
					    NULL };
	json_object *user, *gids, *args, *envs, *capo, *rl, *nofile;
	bool have_path = false;
	char cwd[PATH_MAX];

	if (!add(p, "terminal", json_object_new_boolean(0)) || !(user = child(p, "user", false)) ||
	    !add(user, "uid", json_object_new_int64(u->uid)) ||
	    !add(user, "gid", json_object_new_int64(u->gid)))
		return false;
	if (u->ngids) {
		if (!(gids = child(user, "additionalGids", true)))
			return false;
		for (size_t i = 0; i < u->ngids; i++)
			if (!push(gids, json_object_new_int64(u->gids[i])))
				return false;
	}
	if (!(args = child(p, "args", true)) || !append_all(args, entry))
		return false;
	if (in->ncmd) {
		for (size_t i = 0; i < in->ncmd; i++)
			if (!push(args, json_object_new_string(in->cmd[i])))
				return false;
	} else if (!append_all(args, cmd)) {
		return false;
	}
	for (size_t i = 0; env && i < json_object_array_length(env); i++)
		if (!strncmp(json_object_get_string(json_object_array_get_idx(env, i)), "PATH=", 5))
			have_path = true;
	if (!(envs = child(p, "env", true)) ||
	    (!have_path && !push(envs, json_object_new_string(DEFAULT_PATH))) ||
	    !append_all(envs, env))
		return false;
	/* The runtime spec wants an absolute cwd; Docker takes a relative
	 * WorkingDir from the root. */
	snprintf(cwd, sizeof(cwd), "%s%s", wd && *wd == '/' ? "" : "/", wd ? wd : "");
	if (!add(p, "cwd", json_object_new_string(cwd)) ||
	    !(capo = child(p, "capabilities", false)))
		return false;
	for (const char *const *s = sets; *s; s++)
		if (!add(capo, *s, strs(caps)))
			return false;
	return (rl = child(p, "rlimits", true)) && (nofile = json_object_new_object()) &&
	       push(rl, nofile) && add(nofile, "type", json_object_new_string("RLIMIT_NOFILE")) &&
	       add(nofile, "hard", json_object_new_int(1024)) &&
	       add(nofile, "soft", json_object_new_int(1024)) &&
	       add(p, "noNewPrivileges", json_object_new_boolean(1));
}

static json_object *mounts(void)
{
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k",
					   NULL };
	static const char *const pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
					   "mode=0620", "gid=5", NULL };
	static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777",
					   "size=65536k", NULL };
	static const char *const mq[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const cg[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
	json_object *a = json_object_new_array();

	if (a && push(a, mount("/proc", "proc", "proc", NULL)) &&
	    push(a, mount("/dev", "tmpfs", "tmpfs", dev)) &&
	    push(a, mount("/dev/pts", "devpts", "devpts", pts)) &&
	    push(a, mount("/dev/shm", "tmpfs", "shm", shm)) &&
	    push(a, mount("/dev/mqueue", "mqueue", "mqueue", mq)) &&
	    push(a, mount("/sys", "sysfs", "sysfs", sys)) &&
	    push(a, mount("/sys/fs/cgroup", "cgroup", "cgroup", cg)))
		return a;
	json_object_put(a);
	return NULL;
}

static bool fill_linux(json_object *l)
{
	static const char *const ns[] = { "pid", "network", "ipc", "uts", "mount", NULL };
	static const char *const masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore",
					      "/proc/keys", "/proc/latency_stats",
					      "/proc/timer_list", "/proc/timer_stats",
					      "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
					      NULL };
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					  "/proc/sysrq-trigger", NULL };
	json_object *res, *devs, *deny, *nsa, *o;

	/* Deny every device; runtimes add the standard allowed ones. */
	if (!(res = child(l, "resources", false)) || !(devs = child(res, "devices", true)) ||
	    !(deny = json_object_new_object()) || !push(devs, deny) ||
	    !add(deny, "allow", json_object_new_boolean(0)) ||
	    !add(deny, "access", json_object_new_string("rwm")) ||
	    !(nsa = child(l, "namespaces", true)))
		return false;
	for (const char *const *t = ns; *t; t++)
		if (!(o = json_object_new_object()) || !push(nsa, o) ||
		    !add(o, "type", json_object_new_string(*t)))
			return false;
	return add(l, "maskedPaths", strs(masked)) && add(l, "readonlyPaths", strs(ro));
}

/* Labels, StopSignal and ExposedPorts as the image spec's conversion
 * annotations. */
static bool fill_annotations(json_object *a, json_object *labels, json_object *stop,
			     json_object *ports)
{
	char *list = NULL;
	size_t len = 0;
	bool ok = true, first = true;
	FILE *f;

	if (labels) {
		json_object_object_foreach(labels, lk, lv) {
			if (ok && json_object_is_type(lv, json_type_string))
				ok = add(a, lk, json_object_new_string(json_object_get_string(lv)));
		}
	}
	if (ok && stop)
		ok = add(a, "org.opencontainers.image.stopSignal",
			 json_object_new_string(json_object_get_string(stop)));
	if (!ok || !ports)
		return ok;
	f = open_memstream(&list, &len);
	if (!f)
		return false;
	json_object_object_foreach(ports, pk, pv) {
		(void)pv;
		fprintf(f, "%s%s", first ? "" : ",", pk);
		first = false;
	}
	ok = fclose(f) == 0 &&
	     add(a, "org.opencontainers.image.exposedPorts", json_object_new_string(list));
	free(list);
	return ok;
}

int ocispec_build(const struct ocispec_in *in, json_object **out, char *why, size_t whylen)
{
	json_object *cfg = NULL, *entry, *cmd, *env, *wd, *user, *labels, *stop, *ports;
	json_object *spec, *o;
	struct user u;
	int r;

	*out = NULL;
	why[0] = '\0';
	if (!json_object_is_type(in->image_config, json_type_object))
		return fail(why, whylen, -EINVAL, "malformed image config: not an object");
	if (json_object_object_get_ex(in->image_config, "config", &cfg) &&
	    !json_object_is_type(cfg, json_type_object) &&
	    !json_object_is_type(cfg, json_type_null))
		return fail(why, whylen, -EINVAL,
			    "malformed image config: config is not an object");
	if ((r = member(cfg, "Entrypoint", json_type_array, &entry, why, whylen)) ||
	    (r = member(cfg, "Cmd", json_type_array, &cmd, why, whylen)) ||
	    (r = member(cfg, "Env", json_type_array, &env, why, whylen)) ||
	    (r = member(cfg, "WorkingDir", json_type_string, &wd, why, whylen)) ||
	    (r = member(cfg, "User", json_type_string, &user, why, whylen)) ||
	    (r = member(cfg, "Labels", json_type_object, &labels, why, whylen)) ||
	    (r = member(cfg, "StopSignal", json_type_string, &stop, why, whylen)) ||
	    (r = member(cfg, "ExposedPorts", json_type_object, &ports, why, whylen)))
		return r;
	if (!(entry && json_object_array_length(entry)) && !in->ncmd &&
	    !(cmd && json_object_array_length(cmd)))
		return fail(why, whylen, -EINVAL,
			    "the image has neither Entrypoint nor Cmd: give a command");
	r = resolve_user(in->rootfs_fd, user ? json_object_get_string(user) : "", &u, why, whylen);
	if (r)
		return r;

	spec = json_object_new_object();
	if (!spec || !add(spec, "ociVersion", json_object_new_string("1.0.2")) ||
	    !(o = child(spec, "process", false)) ||
	    !fill_process(o, in, &u, entry, cmd, env, wd ? json_object_get_string(wd) : NULL) ||
	    !(o = child(spec, "root", false)) ||
	    !add(o, "path", json_object_new_string("rootfs")) ||
	    !add(o, "readonly", json_object_new_boolean(0)) ||
	    !add(spec, "hostname",
		 json_object_new_string(in->hostname ? in->hostname : "strata")) ||
	    !add(spec, "mounts", mounts()) || !(o = child(spec, "linux", false)) ||
	    !fill_linux(o) || !(o = child(spec, "annotations", false)) ||
	    !fill_annotations(o, labels, stop, ports))
		goto nomem;
	*out = spec;
	return 0;
nomem:
	json_object_put(spec);
	return fail(why, whylen, -ENOMEM, "%s", strerror(ENOMEM));
}

int ocispec_write(json_object *obj, const char *path)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	char tmp[PATH_MAX];
	size_t len;
	int fd, r = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd))
		r = errno ? -errno : -EIO;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}
