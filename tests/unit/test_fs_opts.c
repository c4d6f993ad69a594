// SPDX-License-Identifier: GPL-2.0-or-later
/* fuse-overlayfs compatible option parsing and id mapping (fs/opts.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "strata/fs.h"
#include "strata/log.h"

static void quiet(enum strata_log_level lvl, const char *line, void *arg)
{
	(void)lvl;
	(void)line;
	(void)arg;
}

static void test_podman_line(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(fs_config_parse_opts(&c,
		"lowerdir=/l/a:/l/b::/l/c,upperdir=/u,workdir=/w,context=\"system_u:object_r:container_file_t:s0\",nodev,fsync=0"), 0);
	assert_int_equal(c.nlower, 3);
	assert_string_equal(c.lowerdirs[0], "/l/a");
	assert_string_equal(c.lowerdirs[2], "/l/c");
	assert_string_equal(c.upperdir, "/u");
	assert_string_equal(c.workdir, "/w");
	assert_false(c.fsync);
	assert_string_equal(c.fuse_opts,
		"context=\"system_u:object_r:container_file_t:s0\",nodev");
	fs_config_release(&c);
}

static void test_flags_and_ignored(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_true(c.fsync);
	assert_true(c.passthrough);
	assert_true(c.pt_lower);
	assert_int_equal((int)c.read_threads, 2);
	assert_int_equal(fs_config_parse_opts(&c,
		"lowerdir=/a,squash_to_root,noacl,redirect_dir=off,fast_ino=1,timeout=5,squash_to_uid=7,passthrough=0,read_threads=0"), 0);
	assert_false(c.passthrough);
	assert_int_equal((int)c.read_threads, 0);
	assert_true(c.squash_to_root);
	assert_true(c.noacl);
	assert_int_equal((int)c.squash_uid, 7);
	assert_int_equal((int)c.squash_gid, -1);
	assert_true(c.timeout == 5);
	assert_null(c.fuse_opts);
	/* upper: passthrough of upper files only; a later 1 means both */
	assert_int_equal(fs_config_parse_opts(&c, "passthrough=upper"), 0);
	assert_true(c.passthrough);
	assert_false(c.pt_lower);
	assert_int_equal(fs_config_parse_opts(&c, "passthrough=1"), 0);
	assert_true(c.passthrough);
	assert_true(c.pt_lower);
	fs_config_release(&c);
}

static void test_escaped_comma(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(fs_config_parse_opts(&c, "lowerdir=/a\\,b:/c"), 0);
	assert_int_equal(c.nlower, 2);
	assert_string_equal(c.lowerdirs[0], "/a,b");
	fs_config_release(&c);
}

static void test_bad_values(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(fs_config_parse_opts(&c, "lowerdir="), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "fsync=maybe"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "passthrough=2"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "passthrough=lower"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "read_threads=65"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "read_threads=x"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "uidmapping=0:1000"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "uidmapping=0:1000:0"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "timeout=-1"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upperdir="), -EINVAL);
	fs_config_release(&c);
}

static void test_idmap(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(fs_config_parse_opts(&c,
		"uidmapping=0:100000:1000:1000:1000:1,gidmapping=0:200000:65536"), 0);
	assert_int_equal(c.nuidmap, 2);
	assert_int_equal(fs_id_to_container(c.uidmap, c.nuidmap, 100005), 5);
	assert_int_equal(fs_id_to_container(c.uidmap, c.nuidmap, 1000), 1000);
	assert_int_equal(fs_id_to_container(c.uidmap, c.nuidmap, 7), 65534);
	assert_int_equal(fs_id_to_host(c.uidmap, c.nuidmap, 999), 100999);
	assert_int_equal(fs_id_to_host(c.gidmap, c.ngidmap, 0), 200000);
	assert_int_equal(fs_id_to_host(NULL, 0, 42), 42);
	fs_config_release(&c);
}

/* Store layers carry colons of their own; they mix with host directories. */
static void test_upper_limits(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(fs_config_parse_opts(&c, "upper_size=64M,upper_inodes=1000"), 0);
	assert_int_equal(c.upper_size, 64ULL << 20);
	assert_int_equal(c.upper_inodes, 1000);
	assert_int_equal(fs_config_parse_opts(&c, "upper_size=4096"), 0);
	assert_int_equal(c.upper_size, 4096);
	assert_null(c.fuse_opts);
	assert_int_equal(fs_config_parse_opts(&c, "upper_size=0"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upper_size=lots"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upper_size"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upper_inodes=0"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upper_inodes=12x"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "upper_inodes"), -EINVAL);
	fs_config_release(&c);
}

/* chunk_cache=: bytes, 0 turns the cache off; not a kernel option. */
static void test_chunk_cache(void **state)
{
	struct fs_config c;

	fs_config_init(&c);
	assert_int_equal(c.chunk_cache, 64ULL << 20);
	assert_int_equal(fs_config_parse_opts(&c, "chunk_cache=8M"), 0);
	assert_int_equal(c.chunk_cache, 8ULL << 20);
	assert_int_equal(fs_config_parse_opts(&c, "chunk_cache=0"), 0);
	assert_int_equal(c.chunk_cache, 0);
	assert_null(c.fuse_opts);
	assert_int_equal(fs_config_parse_opts(&c, "chunk_cache=big"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "chunk_cache=-1"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "chunk_cache"), -EINVAL);
	assert_int_equal(c.chunk_cache, 0);
	fs_config_release(&c);
}

static void test_store_lowers(void **state)
{
	static const char d1[] = "sha256:0123456789abcdef0123456789abcdef"
				 "0123456789abcdef0123456789abcdef";
	static const char d2[] = "sha256:fedcba9876543210fedcba9876543210"
				 "fedcba9876543210fedcba9876543210";
	char opt[512];
	struct fs_config c;

	fs_config_init(&c);
	snprintf(opt, sizeof(opt), "lowerdir=store:/s/a\\,b.img@%s:/host/dir:store:/s.img@%s,"
		 "pidfile=/run/c/daemon.pid", d1, d2);
	assert_int_equal(fs_config_parse_opts(&c, opt), 0);
	assert_int_equal(c.nlower, 3);
	snprintf(opt, sizeof(opt), "store:/s/a,b.img@%s", d1);
	assert_string_equal(c.lowerdirs[0], opt);
	assert_string_equal(c.lowerdirs[1], "/host/dir");
	snprintf(opt, sizeof(opt), "store:/s.img@%s", d2);
	assert_string_equal(c.lowerdirs[2], opt);
	assert_string_equal(c.pidfile, "/run/c/daemon.pid");

	/* A short or non-hex DiffID, junk after it, no digest at all. */
	assert_int_equal(fs_config_parse_opts(&c, "lowerdir=store:/s.img@sha256:0123"), -EINVAL);
	snprintf(opt, sizeof(opt), "lowerdir=store:/s.img@%sx", d1);
	assert_int_equal(fs_config_parse_opts(&c, opt), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "lowerdir=store:/s.img"), -EINVAL);
	/* pidfile= must be an absolute path. */
	assert_int_equal(fs_config_parse_opts(&c, "pidfile=rel.pid"), -EINVAL);
	assert_int_equal(fs_config_parse_opts(&c, "pidfile="), -EINVAL);
	fs_config_release(&c);
	assert_null(c.pidfile);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_podman_line),
		cmocka_unit_test(test_flags_and_ignored),
		cmocka_unit_test(test_escaped_comma),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_store_lowers),
		cmocka_unit_test(test_upper_limits),
		cmocka_unit_test(test_chunk_cache),
	};

	strata_log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
