// SPDX-License-Identifier: GPL-2.0-or-later
/* The OCI runtime spec from an image config (tools/ocispec.c): args, env,
 * cwd, User resolved in the rootfs's own passwd/group files (and not in
 * the host's through a symlink), annotations, and the errors. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/ocispec.h"

struct fix {
	char root[64];
	int fd;
};

static void put(const char *root, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));
	char etc[96];

	assert_non_null(x);
	snprintf(x->root, sizeof(x->root), "/tmp/test_ocispec.XXXXXX");
	assert_non_null(mkdtemp(x->root));
	snprintf(etc, sizeof(etc), "%s/etc", x->root);
	assert_int_equal(mkdir(etc, 0755), 0);
	put(x->root, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	    "app:x:1000:1000::/home/app:/bin/sh\n");
	put(x->root, "etc/group",
	    "root:x:0:\n"
	    "daemon:x:1:\n"
	    "adm:x:4:daemon,app\n"
	    "staff:x:50:app\n"
	    "app:x:1000:\n");
	x->fd = open(x->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(x->fd >= 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;
	char cmd[128];

	close(x->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->root);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

/* Build from a config JSON text; returns the error, *out the spec. */
static int build(struct fix *x, const char *cfg, char *const *cmd, size_t ncmd,
		 json_object **out, char *why)
{
	json_object *c = json_tokener_parse(cfg);
	struct ocispec_in in = { .image_config = c, .rootfs_fd = x->fd, .hostname = "h",
				 .cmd = cmd, .ncmd = ncmd };
	int r;

	assert_non_null(c);
	r = ocispec_build(&in, out, why, 256);
	json_object_put(c);
	return r;
}

static const char *get(json_object *o, const char *path)
{
	char buf[128], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	}
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
}

static void test_conversion(void **state)
{
	json_object *s;
	char why[256];

	assert_int_equal(build(*state,
			       "{\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo hi\"],"
			       "\"Env\":[\"A=1\"],\"WorkingDir\":\"srv\","
			       "\"Labels\":{\"l\":\"v\"},\"StopSignal\":\"SIGINT\","
			       "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}}}",
			       NULL, 0, &s, why),
			 0);
	assert_string_equal(get(s, "process.args"), "[\"/bin/sh\",\"-c\",\"echo hi\"]");
	assert_string_equal(get(s, "process.env.0"),
			    "\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"");
	assert_string_equal(get(s, "process.env.1"), "\"A=1\"");
	assert_string_equal(get(s, "process.cwd"), "\"/srv\"");
	assert_string_equal(get(s, "process.user"), "{\"uid\":0,\"gid\":0}");
	assert_string_equal(get(s, "process.terminal"), "false");
	assert_string_equal(get(s, "root"), "{\"path\":\"rootfs\",\"readonly\":false}");
	assert_string_equal(get(s, "hostname"), "\"h\"");
	assert_string_equal(get(s, "annotations.l"), "\"v\"");
	assert_non_null(strstr(get(s, "annotations"),
			       "\"org.opencontainers.image.stopSignal\":\"SIGINT\""));
	assert_non_null(strstr(get(s, "annotations"),
			       "\"org.opencontainers.image.exposedPorts\":\"80/tcp,53/udp\""));
	assert_string_equal(get(s, "linux.namespaces.4"), "{\"type\":\"mount\"}");
	json_object_put(s);
}

static void test_override_and_path(void **state)
{
	char *cmd[] = { "ls", "-l" };
	json_object *s;
	char why[256];

	assert_int_equal(build(*state,
			       "{\"config\":{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/x\"]}}",
			       cmd, 2, &s, why),
			 0);
	assert_string_equal(get(s, "process.args"), "[\"ls\",\"-l\"]");
	assert_string_equal(get(s, "process.env"), "[\"PATH=/x\"]");
	assert_string_equal(get(s, "process.cwd"), "\"/\"");
	json_object_put(s);
}

static void test_users(void **state)
{
	static const struct {
		const char *user, *want;
	} t[] = {
		{ "daemon", "{\"uid\":1,\"gid\":1,\"additionalGids\":[4]}" },
		{ "app", "{\"uid\":1000,\"gid\":1000,\"additionalGids\":[4,50]}" },
		{ "1000", "{\"uid\":1000,\"gid\":1000,\"additionalGids\":[4,50]}" },
		{ "app:staff", "{\"uid\":1000,\"gid\":50}" },
		{ "app:7", "{\"uid\":1000,\"gid\":7}" },
		{ "4321", "{\"uid\":4321,\"gid\":0}" },
		{ "4321:99", "{\"uid\":4321,\"gid\":99}" },
		{ "0:adm", "{\"uid\":0,\"gid\":4}" },
	};
	char cfg[256], why[256];
	json_object *s;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(cfg, sizeof(cfg), "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"%s\"}}",
			 t[i].user);
		assert_int_equal(build(*state, cfg, NULL, 0, &s, why), 0);
		assert_string_equal(get(s, "process.user"), t[i].want);
		json_object_put(s);
	}
}

static void test_errors(void **state)
{
	struct fix *x = *state;
	char why[256], p[128];
	json_object *s = NULL;

	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"nobody\"}}", NULL, 0,
			       &s, why),
			 -ENOENT);
	assert_null(s);
	assert_non_null(strstr(why, "no user 'nobody'"));
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"app:wheel\"}}", NULL, 0,
			       &s, why),
			 -ENOENT);
	assert_non_null(strstr(why, "no group 'wheel'"));
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[]}}", NULL, 0, &s, why), -EINVAL);
	assert_non_null(strstr(why, "neither Entrypoint nor Cmd"));
	assert_int_equal(build(x, "{}", NULL, 0, &s, why), -EINVAL);
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":\"/bin/sh\"}}", NULL, 0, &s, why),
			 -EINVAL);
	assert_non_null(strstr(why, "Cmd"));
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\",1]}}", NULL, 0, &s, why), -EINVAL);
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\"],\"User\":\":0\"}}", NULL, 0, &s,
			       why),
			 -EINVAL);
	assert_int_equal(build(x, "{\"config\":[]}", NULL, 0, &s, why), -EINVAL);

	/* /etc/passwd a symlink to a file the host has: resolved inside the
	 * rootfs, where it does not exist. */
	assert_int_equal(access("/etc/os-release", R_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/passwd", x->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("../../../../../../etc/os-release", p), 0);
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"root\"}}", NULL, 0, &s,
			       why),
			 -ENOENT);
	assert_non_null(strstr(why, "/etc/passwd"));
	/* A numeric user needs no passwd file. */
	assert_int_equal(build(x, "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"5\"}}", NULL, 0, &s,
			       why),
			 0);
	assert_string_equal(get(s, "process.user"), "{\"uid\":5,\"gid\":0}");
	json_object_put(s);
}

static void test_write(void **state)
{
	struct fix *x = *state;
	json_object *o = json_tokener_parse("{\"a\":\"/b\"}"), *back;
	char p[128], tmp[140];

	snprintf(p, sizeof(p), "%s/config.json", x->root);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	assert_int_equal(ocispec_write(o, p), 0);
	back = json_object_from_file(p);
	assert_non_null(back);
	assert_string_equal(json_object_get_string(json_object_object_get(back, "a")), "/b");
	assert_int_equal(access(tmp, F_OK), -1);
	json_object_put(back);
	json_object_put(o);
	snprintf(p, sizeof(p), "%s/nodir/config.json", x->root);
	assert_int_equal(ocispec_write(o = json_object_new_object(), p), -ENOENT);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conversion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_and_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
