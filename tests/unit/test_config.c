/* Tests of the config files (config.c): the config's defaults, the
 * reference file deploy/wuji.conf, overrides, and errors that name file,
 * line and key; the CURVE key file; the children file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	assert_int_equal(c.batch_max, 0);
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.listen, "");
	assert_string_equal(c.parent, "");
	assert_int_equal(c.parent_id, 0);
	assert_string_equal(c.key_file, "");
	assert_string_equal(c.parent_key, "");
	assert_string_equal(c.children_file, "");
	assert_int_equal(c.skew_warn_ms, 2000);
	assert_int_equal(c.log_keep, 1000000);
}

/* Unset, batch_max follows the level: a village's burst of requests must
 * fit its 16 MB; a set value wins everywhere. */
static void test_batch_max_by_level(void **state)
{
	static const struct {
		const char *text;
		uint32_t want;
	} cases[] = {
		{ "id: 330106001201\n", 128 },                 /* village */
		{ "id: 330106001000\n", 1024 },                /* township */
		{ "id: 330000000000\n", 1024 },                /* province */
		{ "id: 330106001201\nbatch_max: 600\n", 600 }, /* set */
	};
	wj_config_t c;
	wj_err_t err = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wj_config_defaults(&c);
		if (parse(&c, cases[i].text, &err) != 0)
			fail_msg("%s", err.msg);
		assert_int_equal(wj_config_batch_max(&c), cases[i].want);
	}
}

static void test_reference_file(void **state)
{
	static const char *const keys[] = {
		"id", "data_dir", "control", "map_size_mb", "yellow_days",
		"batch_max", "log_level", "listen", "parent", "parent_id",
		"key_file", "parent_key", "children_file", "skew_warn_ms",
		"log_keep",
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
		"children_file: /etc/wuji/children\n"
		"skew_warn_ms: 600000\n"
		"log_keep: 1000000000\n";

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
	assert_int_equal(c.skew_warn_ms, 600000);
	assert_int_equal(c.log_keep, 1000000000);

	/* A second file overrides only what it names; the rest stays. */
	if (parse(&c, "map_size_mb: 1048576\nlisten: \"\"\n", &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.map_size_mb, 1048576);
	assert_string_equal(c.listen, "");
	assert_string_equal(c.data_dir, "/srv/wuji");
	assert_int_equal(c.id, 330106001001ULL);
	assert_int_equal(c.batch_max, 65536);

	/* The bounds themselves are allowed. */
	if (parse(&c, "yellow_days: 0\nbatch_max: 1\nskew_warn_ms: 0\n"
		  "log_keep: 1000\n", &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.yellow_days, 0);
	assert_int_equal(c.batch_max, 1);
	assert_int_equal(c.skew_warn_ms, 0);
	assert_int_equal(c.log_keep, 1000);
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
	expect_error("skew_warn_ms: 600001\n", 1, "skew_warn_ms",
		     "0..600000");
	expect_error("skew_warn_ms: -1\n", 1, "skew_warn_ms", NULL);
	expect_error("log_keep: 999\n", 1, "log_keep", "1000..1000000000");
	expect_error("log_keep: 1000000001\n", 1, "log_keep", NULL);
	/* Right length and alphabet, but "#####" is 85^5 - 1 > 2^32. */
	expect_error("parent_key: \"########################################\"\n",
		     1, "parent_key", "Z85");
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

/* ------------------------------------------------------------ keys */

/* Key pairs from the ZeroMQ CURVE test vectors: valid Z85, 40 chars. */
#define PUB_A "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define SEC_A "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
#define PUB_B "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define SEC_B "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

static int parse_keys(wj_keypair_t *k, const char *text, wj_err_t *err)
{
	return wj_keypair_parse(k, "node.key", text, strlen(text), err);
}

/* Parsing must fail, leave k unchanged, say "node.key:LINE: FIELD", and
 * never quote the secret key. */
static void expect_key_error(const char *text, size_t line, const char *field,
			     const char *also)
{
	wj_keypair_t k, before;
	wj_err_t err = { 0 };
	char want[64];

	memset(&k, 'x', sizeof(k));
	before = k;
	if (parse_keys(&k, text, &err) == 0)
		fail_msg("accepted:\n%s", text);
	assert_true(err.code < 0);
	assert_memory_equal(&k, &before, sizeof(k));
	snprintf(want, sizeof(want), "node.key:%zu: %s", line, field);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	if (also && !strstr(err.msg, also))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, also);
	if (strstr(err.msg, "IlAW!ahhC2ac") || strstr(err.msg, "wK0E.X)V"))
		fail_msg("message \"%s\" shows the secret key", err.msg);
}

static void test_keypair_parse(void **state)
{
	wj_keypair_t k;
	wj_err_t err = { 0 };

	memset(&k, 0, sizeof(k));
	if (parse_keys(&k, "# written by node-ctl keygen\n"
		       "public: \"" PUB_A "\"\n"
		       "secret: \"" SEC_A "\"\n", &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(k.public_key, PUB_A);
	assert_string_equal(k.secret_key, SEC_A);
	/* Single quotes and any order do as well. */
	if (parse_keys(&k, "secret: '" SEC_B "'\npublic: '" PUB_B "'\n",
		       &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(k.public_key, PUB_B);
	assert_string_equal(k.secret_key, SEC_B);

	/* Short key, bad alphabet, a 5-char group past 2^32. */
	expect_key_error("public: \"" PUB_A "\"\nsecret: \"D:)Q[IlAW\"\n", 2,
			 "secret", "40-character Z85 secret key (9 characters");
	expect_key_error("public: \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\"\n"
			 "secret: \"" SEC_A "\"\n", 1, "public", "40-character");
	expect_key_error("public: \"" PUB_A "\"\n"
			 "secret: \"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%c~\"\n",
			 2, "secret", "not all valid Z85");
	expect_key_error("public: \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI,\"\n"
			 "secret: \"" SEC_A "\"\n", 1, "public", "Z85");
	expect_key_error("public: \"" PUB_A "\"\n"
			 "secret: \"#####IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\"\n",
			 2, "secret", "not all valid Z85");
	/* Missing, empty, unknown and repeated fields. */
	expect_key_error("public: \"" PUB_A "\"\n", 1, "secret", "missing");
	expect_key_error("public: \"" PUB_A "\"\nsecret:\n", 2, "secret",
			 "empty");
	expect_key_error("public: \"" PUB_A "\"\nsecret: \"" SEC_A "\"\n"
			 "comment: x\n", 3, "comment", "unknown key");
	expect_key_error("public: \"" PUB_A "\"\nsecret: \"" SEC_A "\"\n"
			 "secret: \"" SEC_B "\"\n", 3, "secret", "twice");
	expect_key_error("public: \"" PUB_A "\"\nsecret: \"" PUB_A "\"\n", 2,
			 "secret", "same as the public");
	expect_key_error("public: [a]\nsecret: \"" SEC_A "\"\n", 1, "public",
			 "a list");
	memset(&k, 0, sizeof(k));
	assert_true(parse_keys(&k, "", &err) < 0);
	assert_true(parse_keys(&k, "- public\n", &err) < 0);
	assert_non_null(strstr(err.msg, "mapping"));
}

/* A scratch directory for files that must exist on disk. */
static char scratch[PATH_MAX];

static int make_scratch(void **state)
{
	snprintf(scratch, sizeof(scratch), "%s/wj-test-config.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") :
		 "/tmp");
	return mkdtemp(scratch) ? 0 : -1;
}

static int remove_scratch(void **state)
{
	static const char *const names[] = {
		"node.key", "children.yaml", "empty.yaml",
	};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(path, sizeof(path), "%s/%s", scratch, names[i]);
		unlink(path);
	}
	return rmdir(scratch);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	/* chmod, not the umask: the test must not depend on it. */
	assert_int_equal(chmod(path, mode), 0);
}

static void test_keypair_load(void **state)
{
	const char *text = "public: \"" PUB_A "\"\nsecret: \"" SEC_A "\"\n";
	char path[PATH_MAX + 32];
	wj_keypair_t k;
	wj_err_t err = { 0 };

	snprintf(path, sizeof(path), "%s/node.key", scratch);
	write_file(path, text, 0600);
	memset(&k, 0, sizeof(k));
	if (wj_keypair_load(&k, path, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(k.public_key, PUB_A);
	assert_string_equal(k.secret_key, SEC_A);
	write_file(path, text, 0400);
	assert_int_equal(wj_keypair_load(&k, path, &err), 0);

	/* Readable by others: refused with the fix, whatever its content. */
	memset(&k, 0, sizeof(k));
	write_file(path, text, 0644);
	assert_int_equal(wj_keypair_load(&k, path, &err), WJ_EINVAL);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "0644"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_string_equal(k.public_key, "");
	write_file(path, text, 0640);
	assert_int_equal(wj_keypair_load(&k, path, &err), WJ_EINVAL);
	assert_non_null(strstr(err.msg, "chmod 600"));
	write_file(path, text, 0604);
	assert_int_equal(wj_keypair_load(&k, path, &err), WJ_EINVAL);
	/* Writable by the group: someone could swap in their own key. */
	write_file(path, text, 0620);
	assert_int_equal(wj_keypair_load(&k, path, &err), WJ_EINVAL);
	assert_non_null(strstr(err.msg, "chmod 600"));

	/* Errors in the file name the path and line. */
	write_file(path, "public: \"" PUB_A "\"\nsecret: \"short\"\n", 0600);
	assert_int_equal(wj_keypair_load(&k, path, &err), WJ_EINVAL);
	{
		char want[PATH_MAX + 48];

		snprintf(want, sizeof(want), "%s:2: secret", path);
		assert_non_null(strstr(err.msg, want));
	}
	assert_string_equal(k.public_key, "");

	assert_int_equal(wj_keypair_load(&k, "/nonexistent/node.key", &err),
			 WJ_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/node.key"));
	assert_non_null(strstr(err.msg, strerror(ENOENT)));
	assert_int_equal(wj_keypair_load(&k, scratch, &err), WJ_EIO);
	unlink(path);
}

/* ------------------------------------------------------------ children */

#define COUNTY 330106000000ULL

static int parse_children(uint64_t self, const char *text, wj_child_t **v,
			  size_t *n, wj_err_t *err)
{
	return wj_children_parse(self, "children.yaml", text, strlen(text), v,
				 n, err);
}

static void expect_children_error(uint64_t self, const char *text,
				  size_t line, const char *field,
				  const char *also)
{
	wj_child_t *v = (wj_child_t *)&v;   /* must stay as it is */
	size_t n = 77;
	wj_err_t err = { 0 };
	char want[96];

	if (parse_children(self, text, &v, &n, &err) == 0)
		fail_msg("accepted:\n%s", text);
	assert_true(err.code < 0);
	assert_ptr_equal(v, (wj_child_t *)&v);
	assert_int_equal(n, 77);
	snprintf(want, sizeof(want), "children.yaml:%zu: %s", line, field);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	if (also && !strstr(err.msg, also))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, also);
}

static void test_children_parse(void **state)
{
	wj_child_t *v = NULL;
	size_t n = 0;
	wj_err_t err = { 0 };

	if (parse_children(COUNTY,
			   "# townships of Xihu district\n"
			   "children:\n"
			   "  - { id: \"330106001000\", key: \"" PUB_A "\" }\n"
			   "  - id: 330106002000\n"
			   "    key: \"" PUB_B "\"\n", &v, &n, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, 330106001000ULL);
	assert_string_equal(v[0].key, PUB_A);
	assert_int_equal(v[1].id, 330106002000ULL);
	assert_string_equal(v[1].key, PUB_B);
	free(v);

	/* Every level has children one level down: province -> city,
	 * township -> village. */
	v = NULL;
	assert_int_equal(parse_children(330000000000ULL,
					 "children:\n  - { id: 330100000000, "
					 "key: \"" PUB_A "\" }\n", &v, &n,
					 &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, 330100000000ULL);
	free(v);
	v = NULL;
	assert_int_equal(parse_children(330106001000ULL,
					 "children:\n  - { id: 330106001201, "
					 "key: \"" PUB_A "\" }\n", &v, &n,
					 &err), 0);
	assert_int_equal(v[0].id, 330106001201ULL);
	free(v);

	/* No children yet is allowed. */
	v = (wj_child_t *)&v;
	n = 5;
	assert_int_equal(parse_children(COUNTY, "children: []\n", &v, &n,
					&err), 0);
	assert_int_equal(n, 0);
	free(v);
	n = 5;
	assert_int_equal(parse_children(COUNTY, "children:\n", &v, &n, &err),
			 0);
	assert_int_equal(n, 0);
	free(v);
}

static void test_children_errors(void **state)
{
	/* Outside the area: another county's township, another province. */
	expect_children_error(COUNTY,
			      "children:\n"
			      "  - { id: 330106001000, key: \"" PUB_A "\" }\n"
			      "  - { id: 330107001000, key: \"" PUB_B "\" }\n",
			      3, "children[1].id",
			      "330107001000 is not inside this node's area "
			      "(330106000000");
	expect_children_error(COUNTY,
			      "children:\n  - { id: 110106001000, key: \""
			      PUB_A "\" }\n", 2, "children[0].id", "not inside");
	/* Inside, but two levels down: a village connects to its township. */
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106001201, key: \""
			      PUB_A "\" }\n", 2, "children[0].id",
			      "not a direct child");
	/* The node itself, and its parent. */
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106000000, key: \""
			      PUB_A "\" }\n", 2, "children[0].id", "itself");
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330100000000, key: \""
			      PUB_A "\" }\n", 2, "children[0].id", "not inside");
	/* A village has no children at all. */
	expect_children_error(330106001201ULL,
			      "children:\n  - { id: 330106001202, key: \""
			      PUB_A "\" }\n", 2, "children[0].id",
			      "villages have no children");
	/* Not a code. */
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106001001x, key: \""
			      PUB_A "\" }\n", 2, "children[0].id", NULL);
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106000001, key: \""
			      PUB_A "\" }\n", 2, "children[0].id",
			      "not a division code");
	/* Duplicate id, duplicate key. */
	expect_children_error(COUNTY,
			      "children:\n"
			      "  - { id: 330106001000, key: \"" PUB_A "\" }\n"
			      "  - { id: 330106002000, key: \"" PUB_B "\" }\n"
			      "  - { id: \"330106001000\", key: \"" SEC_A "\" }\n",
			      4, "children[2]",
			      "330106001000 is listed twice (also children[0] "
			      "on line 2)");
	expect_children_error(COUNTY,
			      "children:\n"
			      "  - { id: 330106001000, key: \"" PUB_A "\" }\n"
			      "  - { id: 330106002000, key: \"" PUB_A "\" }\n",
			      3, "children[1].key",
			      "same key as children[0] on line 2");
	/* Bad keys. */
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106001000, key: short }\n",
			      2, "children[0].key", "40-character Z85");
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106001000, key: \""
			      "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\\\"\" }\n",
			      2, "children[0].key", "Z85");
	/* Unknown keys, missing fields, wrong shapes. */
	expect_children_error(COUNTY,
			      "children:\n  - { id: 330106001000, key: \""
			      PUB_A "\", name: Liuxia }\n", 2,
			      "children[0].name", "unknown key");
	expect_children_error(COUNTY, "childs:\n  - { id: 330106001000 }\n",
			      1, "childs", "unknown key");
	expect_children_error(COUNTY, "children:\n  - { id: 330106001000 }\n",
			      2, "children[0].key", "missing");
	expect_children_error(COUNTY, "children:\n  - { key: \"" PUB_A "\" }\n",
			      2, "children[0].id", "missing");
	expect_children_error(COUNTY, "children:\n  - 330106001000\n", 2,
			      "children[0]", "mapping");
	expect_children_error(COUNTY, "children: 330106001000\n", 1,
			      "children", "a list");
	{
		wj_child_t *v = NULL;
		size_t n = 0;
		wj_err_t err = { 0 };

		assert_true(parse_children(COUNTY, "# nothing\n", &v, &n,
					   &err) < 0);
		assert_true(parse_children(COUNTY, "other: 1\n", &v, &n,
					   &err) < 0);
		assert_non_null(strstr(err.msg, "unknown key"));
		assert_true(parse_children(COUNTY, "{}\n", &v, &n, &err) < 0);
		assert_non_null(strstr(err.msg, "children"));
		/* A node without a valid id cannot check its children. */
		assert_int_equal(parse_children(0, "children: []\n", &v, &n,
						&err), WJ_EINVAL);
		assert_non_null(strstr(err.msg, "id"));
	}
}

static void test_children_load(void **state)
{
	char path[PATH_MAX + 32];
	wj_child_t *v = NULL;
	size_t n = 0;
	wj_err_t err = { 0 };

	snprintf(path, sizeof(path), "%s/children.yaml", scratch);
	/* A list of public keys is not secret: any mode will do. */
	write_file(path, "children:\n  - { id: 330106001000, key: \"" PUB_A
		   "\" }\n", 0644);
	if (wj_children_load(COUNTY, path, &v, &n, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, 330106001000ULL);
	free(v);
	write_file(path, "children:\n  - { id: 330106001000, key: \"" PUB_A
		   "\" }\n  - { id: 330106001000, key: \"" PUB_B "\" }\n",
		   0600);
	assert_int_equal(wj_children_load(COUNTY, path, &v, &n, &err),
			 WJ_EINVAL);
	{
		char want[PATH_MAX + 48];

		snprintf(want, sizeof(want), "%s:3: children[1]", path);
		assert_non_null(strstr(err.msg, want));
	}
	assert_int_equal(wj_children_load(COUNTY, "/nonexistent/children",
					  &v, &n, &err), WJ_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/children"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_batch_max_by_level),
		cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_id),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax_and_io),
		cmocka_unit_test(test_keypair_parse),
		cmocka_unit_test(test_keypair_load),
		cmocka_unit_test(test_children_parse),
		cmocka_unit_test(test_children_errors),
		cmocka_unit_test(test_children_load),
	};

	return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
