/* Tests of the config file (config.c): defaults, the reference file
 * deploy/wuji.conf, overrides, and errors that name file, line and key. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

/* deploy/: $WJ_SAMPLES/.. under meson test; otherwise found from this
 * source file's path or from the executable (build dir inside the tree). */
static const char *deploy_dir(void)
{
	static char dir[PATH_MAX];
	char probe[PATH_MAX + 32], exe[PATH_MAX];
	const char *env = getenv("WJ_SAMPLES");
	const char *slash;
	ssize_t n;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s/..", env);
		return dir;
	}
	slash = strrchr(__FILE__, '/');
	snprintf(dir, sizeof(dir), "%.*s/../../deploy",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	snprintf(probe, sizeof(probe), "%s/wuji.conf", dir);
	if (access(probe, R_OK) == 0)
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		snprintf(dir, sizeof(dir), "%.*s/../../deploy",
			 slash ? (int)(slash - exe) : 1, slash ? exe : ".");
	}
	return dir;
}

static int parse(wj_config_t *c, const char *text, wj_err_t *err)
{
	return wj_config_parse(c, "x.conf", text, strlen(text), err);
}

/* Parsing must fail, leave c unchanged, and say "x.conf:LINE: KEY". */
static void expect_error(const char *text, size_t line, const char *key,
			 const char *also)
{
	wj_config_t c, before;
	wj_err_t err = { 0 };
	char want[128];

	wj_config_defaults(&c);
	strcpy(c.data_dir, "/keep");
	before = c;
	if (parse(&c, text, &err) == 0)
		fail_msg("accepted:\n%s", text);
	assert_true(err.code < 0);
	assert_memory_equal(&c, &before, sizeof(c));
	snprintf(want, sizeof(want), "x.conf:%zu: %s", line, key);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	if (also && !strstr(err.msg, also))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, also);
}

static void test_defaults(void **state)
{
	wj_config_t c;

	memset(&c, 0x5a, sizeof(c));
	wj_config_defaults(&c);
	assert_int_equal(c.id, 0);
	assert_string_equal(c.data_dir, "/var/lib/wuji");
	assert_string_equal(c.control, WJ_DEFAULT_CONTROL);
	assert_string_equal(c.control, "ipc:///run/wuji/control");
	assert_int_equal(c.map_size_mb, 1024);
	assert_int_equal(c.yellow_days, 1);
	assert_int_equal(c.batch_max, 1024);
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.listen, "");
	assert_string_equal(c.parent, "");
	assert_int_equal(c.parent_id, 0);
	assert_string_equal(c.key_file, "");
	assert_string_equal(c.parent_key, "");
	assert_string_equal(c.children_file, "");
}

static void test_reference_file(void **state)
{
	static const char *const keys[] = {
		"id", "data_dir", "control", "map_size_mb", "yellow_days",
		"batch_max", "log_level", "listen", "parent", "parent_id",
		"key_file", "parent_key", "children_file",
	};
	char path[PATH_MAX + 16], *text;
	wj_config_t c, d;
	wj_err_t err = { 0 };
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/wuji.conf", deploy_dir());
	wj_config_defaults(&c);
	if (wj_config_load(&c, path, &err) != 0)
		fail_msg("%s: %s", path, err.msg);
	assert_int_equal(c.id, 330106000000ULL);
	assert_string_equal(c.control, "ipc:///run/wuji/control");
	/* The reference file shows the defaults for everything else. */
	wj_config_defaults(&d);
	d.id = c.id;
	assert_memory_equal(&c, &d, sizeof(c));

	/* Every key is documented: a "# key:" comment opens its section. */
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n# %s: ", keys[i]);
		if (!strstr(text, want))
			fail_msg("wuji.conf does not document %s", keys[i]);
	}
	free(text);
}

static void test_overrides(void **state)
{
	wj_config_t c;
	wj_err_t err = { 0 };
	const char *all =
		"# every key\n"
		"id: \"330106001001\"\n"
		"data_dir: /srv/wuji\n"
		"control: tcp://127.0.0.1:5600\n"
		"map_size_mb: 16\n"
		"yellow_days: 30\n"
		"batch_max: 65536\n"
		"log_level: debug\n"
		"listen: tcp://0.0.0.0:5601\n"
		"parent: tcp://township:5601\n"
		"parent_id: 330106001000\n"
		"key_file: /etc/wuji/node.key\n"
		"parent_key: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
		"children_file: /etc/wuji/children\n";

	wj_config_defaults(&c);
	if (parse(&c, all, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.id, 330106001001ULL);
	assert_string_equal(c.data_dir, "/srv/wuji");
	assert_string_equal(c.control, "tcp://127.0.0.1:5600");
	assert_int_equal(c.map_size_mb, 16);
	assert_int_equal(c.yellow_days, 30);
	assert_int_equal(c.batch_max, 65536);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.listen, "tcp://0.0.0.0:5601");
	assert_string_equal(c.parent, "tcp://township:5601");
	assert_int_equal(c.parent_id, 330106001000ULL);
	assert_string_equal(c.key_file, "/etc/wuji/node.key");
	assert_string_equal(c.parent_key,
			    "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
	assert_string_equal(c.children_file, "/etc/wuji/children");

	/* A second file overrides only what it names; the rest stays. */
	if (parse(&c, "map_size_mb: 1048576\nlisten: \"\"\n", &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.map_size_mb, 1048576);
	assert_string_equal(c.listen, "");
	assert_string_equal(c.data_dir, "/srv/wuji");
	assert_int_equal(c.id, 330106001001ULL);
	assert_int_equal(c.batch_max, 65536);

	/* The bounds themselves are allowed. */
	if (parse(&c, "yellow_days: 0\nbatch_max: 1\n", &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.yellow_days, 0);
	assert_int_equal(c.batch_max, 1);
}

static void test_unknown_key(void **state)
{
	expect_error("id: 330106000000\nlog_levle: debug\n", 2, "log_levle",
		     "unknown key");
	expect_error("# c\n\nid: 330106000000\nid: 330100000000\n", 4, "id",
		     "line 3");
	expect_error("- id\n", 1, "", "expected a mapping");
	expect_error("replication:\n  parent: x\n", 1, "replication",
		     "unknown key");
}

static void test_bad_id(void **state)
{
	expect_error("data_dir: /x\nid: 330100000001\n", 2, "id",
		     "\"330100000001\" is not a division code");
	expect_error("id: 33010600000\n", 1, "id", "got 11");
	expect_error("id: 3301060000001\n", 1, "id", "got 13");
	expect_error("id: county\n", 1, "id", "not a division code");
	expect_error("id: [330106000000]\n", 1, "id", "a list");
	expect_error("parent_id: 000106000000\n", 1, "parent_id",
		     "province");
}

static void test_bad_values(void **state)
{
	expect_error("log_level: verbose\n", 1, "log_level",
		     "expected error, warn, info or debug, got \"verbose\"");
	expect_error("log_level: INFO\n", 1, "log_level", "\"INFO\"");
	expect_error("map_size_mb: 15\n", 1, "map_size_mb", "16..1048576");
	expect_error("map_size_mb: 1048577\n", 1, "map_size_mb", NULL);
	expect_error("yellow_days: 31\n", 1, "yellow_days", "0..30");
	expect_error("batch_max: 0\n", 1, "batch_max", "1..65536");
	expect_error("batch_max: 1k\n", 1, "batch_max", "\"1k\"");
	expect_error("data_dir: \"\"\n", 1, "data_dir", "empty");
	expect_error("control:\n", 1, "control", "empty");
	expect_error("parent_key: short\n", 1, "parent_key", "40");
	expect_error("parent_key: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\\\"\"\n",
		     1, "parent_key", "Z85");
	expect_error("key_file: \"a\\tb\"\n", 1, "key_file", "control");
	{
		char text[WJ_PATH_MAX + 32];

		memset(text, 'a', sizeof(text));
		memcpy(text, "data_dir: /", 11);
		text[sizeof(text) - 2] = '\n';
		text[sizeof(text) - 1] = '\0';
		expect_error(text, 1, "data_dir", "limit");
	}
}

static void test_syntax_and_io(void **state)
{
	wj_config_t c;
	wj_err_t err = { 0 };

	wj_config_defaults(&c);
	assert_int_equal(parse(&c, "id: [\n", &err), WJ_EBADREQ);
	assert_non_null(strstr(err.msg, "x.conf:"));
	assert_true(parse(&c, "", &err) < 0);
	assert_non_null(strstr(err.msg, "x.conf"));

	assert_int_equal(wj_config_load(&c, "/nonexistent/wuji.conf", &err),
			 WJ_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/wuji.conf"));
	assert_non_null(strstr(err.msg, strerror(ENOENT)));
	assert_int_equal(wj_config_load(&c, "/", &err), WJ_EIO);
	assert_non_null(strstr(err.msg, strerror(EISDIR)));
	assert_string_equal(c.data_dir, "/var/lib/wuji");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_id),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax_and_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
