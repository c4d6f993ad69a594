// SPDX-License-Identifier: GPL-2.0-or-later
/* strata commit's config and manifest: --change parsing (valid and bad
 * instructions), Docker's ENTRYPOINT/CMD rule, ENV replacement, history
 * padding, unknown fields kept, Docker media types mapped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "store/commit-internal.h"
#include "strata/log.h"

static const char parent_cfg[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"x-unknown\":{\"keep\":1},"
    "\"config\":{\"Env\":[\"PATH=/usr/bin\",\"A=1\"],\"Cmd\":[\"/bin/sh\"],"
    "\"WorkingDir\":\"/app\"},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111\"]}}";

static json_object *make(const char *const *ch, size_t n)
{
	struct commit_opts o = {.changes = ch,
				.nchanges = n,
				.message = "msg",
				.author = "me",
				.created = {1700000000, 5}};
	struct image_digest d;
	char *out = NULL;
	size_t len;
	json_object *j;

	memset(&d, 0x22, sizeof(d));
	assert_int_equal(commit_make_config(parent_cfg, strlen(parent_cfg), &o, &d, &out, &len), 0);
	assert_int_equal(image_json_validate("config", out, len), 0);
	j = json_tokener_parse(out);
	assert_non_null(j);
	free(out);
	return j;
}

static const char *jstr(json_object *o, const char *path)
{
	char buf[256], *save, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	}
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE)
		 : NULL;
}

static void test_check(void **state)
{
	static const char *const good[] = {
	    "CMD [\"/bin/echo\", \"hi\"]",
	    "cmd echo hi",
	    "ENTRYPOINT [\"/x\"]",
	    "ENV A=1 B=\"two words\" C='x y'",
	    "ENV LEGACY some value",
	    "LABEL a.b=c",
	    "WORKDIR /srv",
	    "WORKDIR rel",
	    "USER 1000:1000",
	    "EXPOSE 80 53/udp 8000-8002/tcp",
	};
	static const char *const bad[] = {
	    "FROB x",
	    "",
	    "CMD",
	    "CMD [\"a\", 1]",
	    "CMD [broken",
	    "ENV",
	    "ENV =x",
	    "ENV A=\"unterminated",
	    "EXPOSE 0",
	    "EXPOSE 70000",
	    "EXPOSE 80/icmp",
	    "EXPOSE 9-3",
	    "EXPOSE x",
	    "USER",
	    "WORKDIR",
	    "LABEL onlykey",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(commit_check_changes(&good[i], 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (commit_check_changes(&bad[i], 1) != -EINVAL)
			fail_msg("accepted bad change '%s'", bad[i]);
	}
}

static void test_config(void **state)
{
	static const char *const ch[] = {
	    "ENV PATH=/opt/bin B=\"two words\"",
	    "CMD echo hi",
	    "ENTRYPOINT [\"/e\"]",
	    "WORKDIR sub",
	    "EXPOSE 8000-8001 53/udp",
	    "LABEL k=v",
	    "LABEL legacy the value",
	    "USER nobody",
	};
	json_object *j = make(ch, sizeof(ch) / sizeof(ch[0]));

	(void)state;
	assert_string_equal(jstr(j, "config.Env"), "[\"PATH=/opt/bin\",\"A=1\",\"B=two words\"]");
	/* CMD came before ENTRYPOINT: kept. */
	assert_string_equal(jstr(j, "config.Cmd"), "[\"/bin/sh\",\"-c\",\"echo hi\"]");
	assert_string_equal(jstr(j, "config.Entrypoint"), "[\"/e\"]");
	assert_string_equal(jstr(j, "config.WorkingDir"), "\"/app/sub\"");
	assert_string_equal(jstr(j, "config.User"), "\"nobody\"");
	assert_string_equal(jstr(j, "config.ExposedPorts"),
			    "{\"8000/tcp\":{},\"8001/tcp\":{},\"53/udp\":{}}");
	assert_string_equal(jstr(j, "config.Labels"), "{\"k\":\"v\",\"legacy\":\"the value\"}");
	assert_string_equal(jstr(j, "x-unknown"), "{\"keep\":1}");
	assert_string_equal(jstr(j, "created"), "\"2023-11-14T22:13:20.000000005Z\"");
	assert_string_equal(jstr(j, "author"), "\"me\"");
	assert_string_equal(
	    jstr(j, "rootfs.diff_ids.1"),
	    "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"");
	/* The parent had no history: one entry for its layer, then ours. */
	assert_string_equal(jstr(j, "history.0.created_by"), "\"(layer without history)\"");
	assert_string_equal(jstr(j, "history.1.created_by"), "\"strata commit\"");
	assert_string_equal(jstr(j, "history.1.comment"), "\"msg\"");
	assert_string_equal(jstr(j, "history.1.author"), "\"me\"");
	json_object_put(j);
}

static void test_entrypoint_clears_cmd(void **state)
{
	static const char *const ch[] = {"ENTRYPOINT /e"};
	json_object *j = make(ch, 1);

	(void)state;
	assert_null(jstr(j, "config.Cmd"));
	assert_string_equal(jstr(j, "config.Entrypoint"), "[\"/bin/sh\",\"-c\",\"/e\"]");
	json_object_put(j);
}

static void test_manifest(void **state)
{
	static const char man[] =
	    "{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{"
	    "\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":"
	    "\"sha256:3333333333333333333333333333333333333333333333333333333333333333\","
	    "\"size\":10},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":"
	    "\"sha256:4444444444444444444444444444444444444444444444444444444444444444\","
	    "\"size\":99}]}";
	struct image_digest pid, cfg, diff;
	char *out;
	size_t len;
	json_object *j;

	(void)state;
	memset(&pid, 0x55, sizeof(pid));
	memset(&cfg, 0x66, sizeof(cfg));
	memset(&diff, 0x77, sizeof(diff));
	assert_int_equal(
	    commit_make_manifest(man, strlen(man), &pid, &cfg, 123, &diff, 10240, &out, &len), 0);
	assert_int_equal(image_json_validate("manifest", out, len), 0);
	j = json_tokener_parse(out);
	free(out);
	assert_string_equal(jstr(j, "mediaType"), "\"application/vnd.oci.image.manifest.v1+json\"");
	assert_string_equal(jstr(j, "config.size"), "123");
	assert_string_equal(jstr(j, "layers.0.mediaType"),
			    "\"application/vnd.oci.image.layer.v1.tar+gzip\"");
	assert_string_equal(jstr(j, "layers.1.mediaType"),
			    "\"application/vnd.oci.image.layer.v1.tar\"");
	assert_string_equal(jstr(j, "layers.1.size"), "10240");
	assert_non_null(jstr(j, "annotations"));
	json_object_put(j);
	assert_int_equal(commit_make_manifest("[]", 2, &pid, &cfg, 1, &diff, 1, &out, &len),
			 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_entrypoint_clears_cmd),
	    cmocka_unit_test(test_manifest),
	};

	strata_log_init("test_commit", STRATA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
