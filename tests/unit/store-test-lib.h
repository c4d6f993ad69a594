/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the block store unit tests (test_store, test_recovery). */
#ifndef STRATA_TESTS_STORE_TEST_LIB_H
#define STRATA_TESTS_STORE_TEST_LIB_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <cmocka.h>

#include "strata/log.h"
#include "strata/store.h"
#include "strata/util.h"

static char test_path[256];

/* A fresh path under dir (removed first); returns test_path. */
static inline const char *tpath(const char *dir, const char *name)
{
	snprintf(test_path, sizeof(test_path), "%s/strata-test-%d-%s", dir, (int)getpid(), name);
	unlink(test_path);
	return test_path;
}

/*
 * Group teardown: remove every file tpath() made for this process, also
 * those of a test that failed an assertion (cmocka leaves the test function
 * there, before its own unlink).
 */
static inline int tpath_cleanup(void **state)
{
	static const char *const dirs[] = { "/dev/shm", "/var/tmp", "/tmp" };
	char prefix[64];

	(void)state;
	snprintf(prefix, sizeof(prefix), "strata-test-%d-", (int)getpid());
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d)))
			if (!strncmp(e->d_name, prefix, strlen(prefix)))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	return 0;
}

static inline void mkkey(struct store_key *k, uint32_t n, uint32_t salt)
{
	memset(k, 0, sizeof(*k));
	for (int i = 0; i < STORE_KEY_LEN; i += 8) {
		uint64_t v = XXH3_64bits_withSeed(&n, sizeof(n), salt * 131 + (uint64_t)i);

		memcpy(k->b + i, &v, 8);
	}
}

/* Deterministic payload for record n. */
static inline void fill(void *buf, size_t len, uint32_t n)
{
	uint8_t *p = buf;
	uint64_t x = 0x9e3779b97f4a7c15ull * (n + 1);

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static inline size_t rec_len(uint32_t n)
{
	return (n * 7919u) % 20000u;
}

static inline int create_store(const char *path, uint64_t size, uint32_t segsz)
{
	struct store_create_opts o = { .path = path, .size = size, .label = "test",
				       .segment_size = segsz };

	return store_create(&o);
}

static inline struct store *open_store(const char *path, bool ro, int direct)
{
	struct store_open_opts o = { .path = path, .read_only = ro, .direct = direct };
	struct store *s = NULL;

	assert_int_equal(store_open(&o, &s), 0);
	assert_non_null(s);
	return s;
}

/* Put record n (salted) with its deterministic payload. */
static inline int put_n(struct store *s, uint32_t n, uint32_t salt, size_t len)
{
	struct store_key k;
	void *buf = malloc(len ? len : 1);
	int r;

	assert_non_null(buf);
	mkkey(&k, n, salt);
	fill(buf, len, n ^ salt);
	r = store_put(s, STORE_REC_CHUNK, &k, buf, len, (uint16_t)(n & 1), n);
	free(buf);
	return r;
}

/* Read record n back and compare its content; returns get()'s result. */
static inline int check_n(struct store *s, uint32_t n, uint32_t salt, size_t len)
{
	struct store_key k;
	struct store_rec_info info;
	uint8_t *buf = malloc(len + 16), *want = malloc(len ? len : 1);
	size_t got = 0;
	int r;

	assert_non_null(buf);
	assert_non_null(want);
	mkkey(&k, n, salt);
	fill(want, len, n ^ salt);
	r = store_get(s, &k, buf, len + 16, &got, &info);
	if (!r) {
		assert_int_equal(got, len);
		assert_memory_equal(buf, want, len);
		assert_int_equal(info.type, STORE_REC_CHUNK);
		assert_int_equal(info.user, n);
		assert_int_equal(info.flags, n & 1);
		assert_int_equal(info.len, len);
	}
	free(buf);
	free(want);
	return r;
}

static inline uint64_t file_hash(const char *path)
{
	int fd = open(path, O_RDONLY);
	uint8_t buf[65536];
	XXH3_state_t st;
	ssize_t n;

	if (fd < 0)
		return 0;
	XXH3_64bits_reset(&st);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		XXH3_64bits_update(&st, buf, (size_t)n);
	close(fd);
	return XXH3_64bits_digest(&st);
}

static inline void write_at(const char *path, const void *buf, size_t len, off_t off)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(strata_pwrite_full(fd, buf, len, off), 0);
	close(fd);
}

static inline void garbage_at(const char *path, size_t len, off_t off, uint32_t seed)
{
	uint8_t *g = malloc(len);

	assert_non_null(g);
	fill(g, len, seed);
	write_at(path, g, len, off);
	free(g);
}

static inline int fsck(const char *path, struct store_fsck_report *r)
{
	struct store_fsck_opts o = { .path = path, .verify_data = true };

	return store_fsck(&o, r);
}

/* Captured log lines, to check that errors name what they should. */
static char log_buf[8192];

static inline void log_capture(enum strata_log_level lvl, const char *line, void *arg)
{
	size_t l = strlen(log_buf);

	snprintf(log_buf + l, sizeof(log_buf) - l, "%s\n", line);
}

static inline void log_start(void)
{
	log_buf[0] = 0;
	strata_log_set_sink(log_capture, NULL);
}

static inline void log_stop(void)
{
	strata_log_set_sink(NULL, NULL);
}

#endif
