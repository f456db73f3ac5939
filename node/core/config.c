/* The node's configuration file (config.h).  One table lists every key with
 * its type, range and default; the defaults, the parser and the messages
 * all come from it, and deploy/wuji.conf documents the same keys. */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/division.h"
#include "core/yaml_doc.h"

/* A config file is a page of text; anything far bigger is the wrong file. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define Z85_KEY_LEN 40

enum type {
	T_DIVISION,   /* 12-digit division code, as text or number; 0 = unset */
	T_TEXT,       /* path or endpoint */
	T_UINT,
	T_LOG_LEVEL,
	T_Z85,        /* CURVE public key, 40 characters of Z85 */
};

struct key {
	const char *name;
	enum type type;
	size_t off;
	size_t size;
	bool may_be_empty;
	uint64_t min, max;
	uint64_t def;          /* T_DIVISION, T_UINT */
	const char *def_text;  /* T_TEXT, T_LOG_LEVEL, T_Z85 */
};

#define F(field) offsetof(wj_config_t, field), sizeof(((wj_config_t *)0)->field)

static const struct key keys[] = {
	{ "id", T_DIVISION, F(id), true, 0, 0, 0, NULL },
	{ "data_dir", T_TEXT, F(data_dir), false, 0, 0, 0, "/var/lib/wuji" },
	{ "control", T_TEXT, F(control), false, 0, 0, 0, WJ_DEFAULT_CONTROL },
	{ "map_size_mb", T_UINT, F(map_size_mb), false, 16, 1048576, 1024, NULL },
	{ "yellow_days", T_UINT, F(yellow_days), false, 0, 30, 1, NULL },
	{ "batch_max", T_UINT, F(batch_max), false, 1, 65536, 1024, NULL },
	{ "log_level", T_LOG_LEVEL, F(log_level), false, 0, 0, 0, "info" },
	{ "listen", T_TEXT, F(listen), true, 0, 0, 0, "" },
	{ "parent", T_TEXT, F(parent), true, 0, 0, 0, "" },
	{ "parent_id", T_DIVISION, F(parent_id), true, 0, 0, 0, NULL },
	{ "key_file", T_TEXT, F(key_file), true, 0, 0, 0, "" },
	{ "parent_key", T_Z85, F(parent_key), true, 0, 0, 0, "" },
	{ "children_file", T_TEXT, F(children_file), true, 0, 0, 0, "" },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const log_levels[] = {
	"error", "warn", "info", "debug", NULL,
};

static const char z85_chars[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	".-:+=^!/*?&<>()[]{}@%$#";

static void set_uint(wj_config_t *c, const struct key *k, uint64_t v)
{
	char *p = (char *)c + k->off;

	if (k->size == sizeof(uint64_t)) {
		memcpy(p, &v, sizeof(v));
	} else {
		uint32_t v32 = (uint32_t)v;

		wj_require(k->size == sizeof(uint32_t));
		memcpy(p, &v32, sizeof(v32));
	}
}

static void set_text(wj_config_t *c, const struct key *k, const char *s)
{
	char *p = (char *)c + k->off;

	wj_require(strlen(s) < k->size);
	memcpy(p, s, strlen(s) + 1);
}

void wj_config_defaults(wj_config_t *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];

		if (k->def_text)
			set_text(c, k, k->def_text);
		else
			set_uint(c, k, k->def);
	}
}

static int parse_key(wj_yaml_t *y, yaml_node_t *root, const struct key *k,
		     wj_config_t *c, wj_err_t *err)
{
	yaml_node_t *n = wj_yaml_get(y, root, k->name);
	const char *s = NULL;
	wj_err_t derr = { 0 };
	uint64_t v = 0;
	int rc;

	if (!n)
		return 0;
	if (k->type == T_UINT) {
		rc = wj_yaml_uint(y, root, k->name, "", false, k->min, k->max,
				  &v, err);
		if (rc == 0)
			set_uint(c, k, v);
		return rc;
	}
	rc = wj_yaml_str(y, root, k->name, "", false, &s, err);
	if (rc)
		return rc;
	if (!*s && !k->may_be_empty)
		return wj_yaml_error(y, n, k->name, err,
				     "must not be empty; remove the line to "
				     "use the default");
	if (k->type != T_DIVISION && strlen(s) >= k->size)
		return wj_yaml_error(y, n, k->name, err,
				     "is %zu bytes long; the limit is %zu",
				     strlen(s), k->size - 1);
	switch (k->type) {
	case T_DIVISION:
		if (*s && wj_division_parse(s, &v, &derr) != 0)
			return wj_yaml_error(y, n, k->name, err, "%s",
					     derr.msg);
		set_uint(c, k, v);
		return 0;
	case T_LOG_LEVEL:
		for (size_t i = 0; log_levels[i]; i++) {
			if (strcmp(s, log_levels[i]) == 0) {
				set_text(c, k, s);
				return 0;
			}
		}
		return wj_yaml_error(y, n, k->name, err,
				     "expected error, warn, info or debug, got "
				     "\"%.40s\"", s);
	case T_Z85:
		if (*s && (strlen(s) != Z85_KEY_LEN ||
			   strspn(s, z85_chars) != Z85_KEY_LEN))
			return wj_yaml_error(y, n, k->name, err,
					     "expected a %d-character Z85 "
					     "public key (as zmq_curve_keypair "
					     "prints it; quote it), got \"%.60s\"",
					     Z85_KEY_LEN, s);
		set_text(c, k, s);
		return 0;
	case T_TEXT:
		set_text(c, k, s);
		return 0;
	default:
		return wj_err_set(err, WJ_EINTERNAL, "config key %s has no "
				  "parser", k->name);
	}
}

int wj_config_parse(wj_config_t *c, const char *file, const char *buf,
		    size_t len, wj_err_t *err)
{
	const char *names[N_KEYS + 1];
	wj_config_t *tmp;
	yaml_node_t *root;
	wj_yaml_t y;
	int rc;

	for (size_t i = 0; i < N_KEYS; i++)
		names[i] = keys[i].name;
	names[N_KEYS] = NULL;
	rc = wj_yaml_load(&y, file, buf, len, err);
	if (rc)
		return rc;
	/* Parsed into a copy: a file that fails leaves c as it was. */
	tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		rc = wj_err_set(err, WJ_EINTERNAL, "%s: out of memory", y.file);
		goto out;
	}
	*tmp = *c;
	root = wj_yaml_root(&y);
	rc = wj_yaml_check_keys(&y, root, "", names, err);
	for (size_t i = 0; rc == 0 && i < N_KEYS; i++)
		rc = parse_key(&y, root, &keys[i], tmp, err);
	if (rc == 0)
		*c = *tmp;
	free(tmp);
out:
	wj_yaml_free(&y);
	return rc;
}

int wj_config_load(wj_config_t *c, const char *path, wj_err_t *err)
{
	FILE *f;
	char *buf;
	size_t n;
	int rc;

	f = fopen(path, "rb");
	if (!f)
		return wj_err_set(err, WJ_EIO,
				  "cannot open config file %s: %s; check the "
				  "path and its permissions", path,
				  strerror(errno));
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return wj_err_set(err, WJ_EINTERNAL, "out of memory reading %s",
				  path);
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = wj_err_set(err, WJ_EIO, "cannot read config file %s: %s; "
				"check that it is a readable file", path,
				strerror(errno));
	} else if (n > CONFIG_FILE_MAX) {
		rc = wj_err_set(err, WJ_EINVAL, "config file %s is larger than "
				"%d bytes; is it the right file?", path,
				CONFIG_FILE_MAX);
	} else {
		rc = wj_config_parse(c, path, buf, n, err);
	}
	free(buf);
	fclose(f);
	return rc;
}
