// SPDX-License-Identifier: GPL-2.0-or-later
/* common/: size parsing and formatting, hex, mkdir -p. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <stdio.h>

#include "strata/util.h"

static void test_parse_size_units(void **state)
{
	uint64_t v;

	assert_int_equal(strata_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(strata_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(strata_parse_size("1.5G", &v), 0);
	assert_int_equal(v, 3ull << 29);
	assert_int_equal(strata_parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(strata_parse_size("1t", &v), 0);
	assert_int_equal(v, 1ull << 40);
}

static void test_parse_size_rejects(void **state)
{
	uint64_t v = 7;

	assert_int_equal(strata_parse_size("", &v), -EINVAL);
	assert_int_equal(strata_parse_size("-1", &v), -EINVAL);
	assert_int_equal(strata_parse_size("12Q", &v), -EINVAL);
	assert_int_equal(strata_parse_size("1.5", &v), -EINVAL);
	assert_int_equal(strata_parse_size("99999999999T", &v), -EINVAL);
	assert_int_equal(strata_parse_size("nan", &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_fmt_size(void **state)
{
	char buf[32];

	assert_string_equal(strata_fmt_size(512, buf, sizeof(buf)), "512 B");
	assert_string_equal(strata_fmt_size(1536, buf, sizeof(buf)), "1.5 KiB");
	assert_string_equal(strata_fmt_size(3ull << 30, buf, sizeof(buf)), "3.0 GiB");
}

static void test_hex_roundtrip(void **state)
{
	uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char hex[9];

	strata_hex(in, 4, hex);
	assert_string_equal(hex, "00ab7fff");
	assert_int_equal(strata_unhex("00AB7fff", out, 4), 0);
	assert_memory_equal(in, out, 4);
	assert_int_equal(strata_unhex("00ab7ff", out, 4), -EINVAL);
	assert_int_equal(strata_unhex("00ab7fgf", out, 4), -EINVAL);
}

static void test_mkdir_p(void **state)
{
	char tmpl[] = "/tmp/strata-util.XXXXXX";
	char path[256];
	struct stat st;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/a/b/c", tmpl);
	assert_int_equal(strata_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(strata_mkdir_p(path, 0755), 0); /* exists: fine */
	snprintf(path, sizeof(path), "rm -rf %s", tmpl);
	assert_int_equal(system(path), 0);
}

/* Big buffers: 2 MiB aligned, zero-filled, every byte writable, sizes
 * that are not multiples of 2 MiB, impossible sizes refused. */
static void test_big_alloc(void **state)
{
	static const size_t sizes[] = { 1, 4096, (2u << 20) - 1, 2u << 20, (9u << 20) + 5 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *p = strata_big_alloc(sizes[k]);
		size_t sum = 0;

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % (2u << 20), 0);
		for (size_t i = 0; i < sizes[k]; i += 512)
			sum += p[i];
		sum += p[sizes[k] - 1];
		assert_int_equal(sum, 0);
		memset(p, 0xab, sizes[k]);
		assert_int_equal(p[sizes[k] - 1], 0xab);
		strata_big_free(p, sizes[k]);
	}
	assert_null(strata_big_alloc(0));
	assert_null(strata_big_alloc(SIZE_MAX - 4096));
	strata_big_free(NULL, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_rejects),
		cmocka_unit_test(test_fmt_size),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_big_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
