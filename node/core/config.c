/* The node's configuration files (config.h): the config itself, where one
 * table lists every key with its type, range and default (the defaults,
 * the parser and the messages all come from it, and deploy/wuji.conf
 * documents the same keys); and the two files replication adds, the CURVE
 * key pair and the list of children. */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/division.h"
#include "core/names.h"
#include "core/yaml_doc.h"

/* A config file is a page of text; anything far bigger is the wrong file. */
#define CONFIG_FILE_MAX (1024 * 1024)
/* A key file is two lines. */
#define KEY_FILE_MAX (64 * 1024)
/* A province has a few dozen cities, a township a few hundred villages;
 * far more is a wrong file, not a real tree. */
#define CHILDREN_MAX 10000
#define Z85_KEY_LEN WJ_KEY_Z85_LEN

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
	/* 0: by level (wj_config_batch_max) */
	{ "batch_max", T_UINT, F(batch_max), false, 1, 65536, 0, NULL },
	{ "log_level", T_LOG_LEVEL, F(log_level), false, 0, 0, 0, "info" },
	{ "listen", T_TEXT, F(listen), true, 0, 0, 0, "" },
	{ "parent", T_TEXT, F(parent), true, 0, 0, 0, "" },
	{ "parent_id", T_DIVISION, F(parent_id), true, 0, 0, 0, NULL },
	{ "key_file", T_TEXT, F(key_file), true, 0, 0, 0, "" },
	{ "parent_key", T_Z85, F(parent_key), true, 0, 0, 0, "" },
	{ "children_file", T_TEXT, F(children_file), true, 0, 0, 0, "" },
	{ "skew_warn_ms", T_UINT, F(skew_warn_ms), false, 0, 600000, 2000,
	  NULL },
	{ "log_keep", T_UINT, F(log_keep), false, 1000, 1000000000, 1000000,
	  NULL },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const log_levels[] = {
	"error", "warn", "info", "debug", NULL,
};

static const char z85_chars[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	".-:+=^!/*?&<>()[]{}@%$#";

/* A CURVE key in Z85: 40 characters of the alphabet, and every group of
 * five a number that fits 32 bits (85^5 > 2^32, so "#####" is not one). */
static bool z85_key_ok(const char *s)
{
	if (strlen(s) != Z85_KEY_LEN || strspn(s, z85_chars) != Z85_KEY_LEN)
		return false;
	for (size_t g = 0; g < Z85_KEY_LEN; g += 5) {
		uint64_t v = 0;

		for (size_t i = g; i < g + 5; i++)
			v = v * 85 + (uint64_t)(strchr(z85_chars, s[i]) -
						z85_chars);
		if (v > UINT32_MAX)
			return false;
	}
	return true;
}

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
		if (*s && !z85_key_ok(s))
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

uint32_t wj_config_batch_max(const wj_config_t *c)
{
	if (c->batch_max)
		return c->batch_max;
	/* A village's requests in flight cost it about 6 KiB of heap each
	 * while their batch is built, plus the write transaction's dirty
	 * pages: 128 keeps a burst inside its 16 MB and commits as fast as
	 * 1024 does (wuji-bench tree W1); larger centres keep big batches. */
	return wj_division_level(c->id) == WUJI__LEVEL__VILLAGE ? 128 : 1024;
}

/* Reads a whole small file into a malloc'd buffer.  `what` names the file
 * in messages ("config file", "key file").  With `private`, refuses a file
 * that others than its owner may read or change: checked on the open
 * descriptor, so it is the file actually read. */
static int read_small(const char *path, const char *what, size_t max,
		      bool private, char **out, size_t *len, wj_err_t *err)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wj_err_set(err, WJ_EIO, "cannot open %s %s: %s; check "
				  "the path and its permissions", what, path,
				  strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = wj_err_set(err, WJ_EIO, "cannot stat %s %s: %s", what,
				path, strerror(errno));
		goto out_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = wj_err_set(err, WJ_EIO, "cannot read %s %s: %s; give the "
				"path of a file", what, path,
				strerror(EISDIR));
		goto out_fd;
	}
	/* Group or other read would let someone take our key, write would
	 * let them swap in their own. */
	if (private && (st.st_mode & 066)) {
		rc = wj_err_set(err, WJ_EINVAL, "%s %s holds a secret key but "
				"its mode %04o lets other users %s it; run "
				"\"chmod 600 %s\" (and keep it owned by the "
				"user the node runs as)", what, path,
				(unsigned)(st.st_mode & 07777),
				(st.st_mode & 044) ? "read" : "change", path);
		goto out_fd;
	}
	buf = malloc(max + 1);
	if (!buf) {
		rc = wj_err_set(err, WJ_EINTERNAL, "out of memory reading %s",
				path);
		goto out_fd;
	}
	for (;;) {
		ssize_t got = read(fd, buf + n, max + 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = wj_err_set(err, WJ_EIO, "cannot read %s %s: %s; "
					"check that it is a readable file",
					what, path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			rc = wj_err_set(err, WJ_EINVAL, "%s %s is larger than "
					"%zu bytes; is it the right file?",
					what, path, max);
			break;
		}
	}
	if (rc) {
		explicit_bzero(buf, n);
		free(buf);
	} else {
		buf[n] = '\0';
		*out = buf;
		*len = n;
	}
out_fd:
	close(fd);
	return rc;
}

int wj_config_load(wj_config_t *c, const char *path, wj_err_t *err)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	rc = read_small(path, "config file", CONFIG_FILE_MAX, false, &buf, &n,
			err);
	if (rc)
		return rc;
	rc = wj_config_parse(c, path, buf, n, err);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ keys */

/* A required Z85 key field of map.  The secret key is never echoed in a
 * message: messages end up in logs. */
static int key_field(wj_yaml_t *y, yaml_node_t *map, const char *name,
		     const char *path, bool secret, char out[Z85_KEY_LEN + 1],
		     wj_err_t *err)
{
	const char *s = NULL;
	yaml_node_t *n;
	int rc;

	rc = wj_yaml_str(y, map, name, path, true, &s, err);
	if (rc)
		return rc;
	n = wj_yaml_get(y, map, name);
	if (z85_key_ok(s)) {
		memcpy(out, s, Z85_KEY_LEN + 1);
		return 0;
	}
	if (secret)
		return wj_yaml_error(y, n, path, err,
				     "expected a %d-character Z85 secret key "
				     "(%zu characters given%s); write a new "
				     "pair with \"node-ctl keygen\"",
				     Z85_KEY_LEN, strlen(s),
				     strlen(s) == Z85_KEY_LEN ?
				     ", not all valid Z85" : "");
	return wj_yaml_error(y, n, path, err,
			     "expected a %d-character Z85 public key (as "
			     "node-ctl keygen prints it; quote it), got "
			     "\"%.60s\"", Z85_KEY_LEN, s);
}

/* Scalars of the secret are wiped before the document is freed, so the
 * key does not linger in freed heap memory. */
static void wipe_scalar(yaml_node_t *n)
{
	if (n && n->type == YAML_SCALAR_NODE)
		explicit_bzero(n->data.scalar.value, n->data.scalar.length);
}

int wj_keypair_parse(wj_keypair_t *k, const char *file, const char *buf,
		     size_t len, wj_err_t *err)
{
	static const char *const names[] = { "public", "secret", NULL };
	wj_keypair_t tmp = { { 0 }, { 0 } };
	yaml_node_t *root;
	wj_yaml_t y;
	int rc;

	rc = wj_yaml_load(&y, file, buf, len, err);
	if (rc)
		return rc;
	root = wj_yaml_root(&y);
	rc = wj_yaml_check_keys(&y, root, "", names, err);
	if (rc == 0)
		rc = key_field(&y, root, "public", "public", false,
			       tmp.public_key, err);
	if (rc == 0)
		rc = key_field(&y, root, "secret", "secret", true,
			       tmp.secret_key, err);
	if (rc == 0 && strcmp(tmp.public_key, tmp.secret_key) == 0)
		rc = wj_yaml_error(&y, wj_yaml_get(&y, root, "secret"),
				   "secret", err, "is the same as the public "
				   "key; write a new pair with \"node-ctl "
				   "keygen\"");
	if (rc == 0)
		*k = tmp;
	wipe_scalar(wj_yaml_get(&y, root, "secret"));
	explicit_bzero(&tmp, sizeof(tmp));
	wj_yaml_free(&y);
	return rc;
}

int wj_keypair_load(wj_keypair_t *k, const char *path, wj_err_t *err)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	rc = read_small(path, "key file", KEY_FILE_MAX, true, &buf, &n, err);
	if (rc)
		return rc;
	rc = wj_keypair_parse(k, path, buf, n, err);
	explicit_bzero(buf, n);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ children */

static int child_id(wj_yaml_t *y, yaml_node_t *map, const char *path,
		    uint64_t self, uint64_t *out, wj_err_t *err)
{
	char name[64], code[13], own[13];
	yaml_node_t *n;
	wj_err_t derr = { 0 };
	const char *s = NULL;
	uint64_t id = 0;
	int rc;

	snprintf(name, sizeof(name), "%s.id", path);
	rc = wj_yaml_str(y, map, "id", name, true, &s, err);
	if (rc)
		return rc;
	n = wj_yaml_get(y, map, "id");
	if (wj_division_parse(s, &id, &derr) != 0)
		return wj_yaml_error(y, n, name, err, "%s", derr.msg);
	wj_division_format(id, code);
	wj_division_format(self, own);
	if (wj_division_level(self) == WUJI__LEVEL__VILLAGE)
		return wj_yaml_error(y, n, name, err, "this node (%s) is a "
				     "village, and villages have no children; "
				     "empty the list, and leave listen and "
				     "children_file out of its config", own);
	if (id == self)
		return wj_yaml_error(y, n, name, err, "%s is this node itself; "
				     "list only the nodes one level below it",
				     code);
	if (!wj_division_inside(id, self)) {
		static const int digits[] = { 0, 2, 4, 6, 9, 12 };
		wj_level_t l = wj_division_level(self);

		return wj_yaml_error(y, n, name, err, "%s is not inside this "
				     "node's area (%s, %s); a child's code "
				     "starts with %.*s", code, own,
				     wj_level_name(l), digits[l], own);
	}
	if (wj_division_parent(id) != self) {
		char up[13];

		wj_division_format(wj_division_parent(id), up);
		return wj_yaml_error(y, n, name, err, "%s (%s) is not a direct "
				     "child of %s (%s): it connects to its "
				     "parent %s, so list it in that node's "
				     "children file", code,
				     wj_level_name(wj_division_level(id)), own,
				     wj_level_name(wj_division_level(self)),
				     up);
	}
	*out = id;
	return 0;
}

int wj_children_parse(uint64_t self, const char *file, const char *buf,
		      size_t len, wj_child_t **out, size_t *n, wj_err_t *err)
{
	static const char *const top[] = { "children", NULL };
	static const char *const fields[] = { "id", "key", NULL };
	yaml_node_t *root, *list;
	wj_child_t *v = NULL;
	size_t count = 0, lines_cap;
	size_t *lines = NULL;
	wj_yaml_t y;
	int rc;

	if (!wj_division_valid(self))
		return wj_err_set(err, WJ_EINVAL, "%s: this node has no valid "
				  "id, so it cannot have children; set id in "
				  "the config", file ? file : "(input)");
	rc = wj_yaml_load(&y, file, buf, len, err);
	if (rc)
		return rc;
	root = wj_yaml_root(&y);
	rc = wj_yaml_check_keys(&y, root, "", top, err);
	if (rc)
		goto out;
	list = wj_yaml_get(&y, root, "children");
	if (!list) {
		rc = wj_yaml_error(&y, root, "children", err, "required field "
				   "missing; add \"children:\" and one "
				   "\"- { id: CODE, key: KEY }\" line per "
				   "child");
		goto out;
	}
	/* "children:" with nothing after it is an empty list, not an error:
	 * a node may listen before its children exist. */
	if (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0 &&
	    list->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		goto done;
	rc = wj_yaml_expect(&y, list, YAML_SEQUENCE_NODE, "children", err);
	if (rc)
		goto out;
	lines_cap = (size_t)(list->data.sequence.items.top -
			     list->data.sequence.items.start);
	if (lines_cap > CHILDREN_MAX) {
		rc = wj_yaml_error(&y, list, "children", err, "lists %zu "
				   "children; at most %d are allowed",
				   lines_cap, CHILDREN_MAX);
		goto out;
	}
	if (lines_cap) {
		v = calloc(lines_cap, sizeof(*v));
		lines = calloc(lines_cap, sizeof(*lines));
		if (!v || !lines) {
			rc = wj_err_set(err, WJ_EINTERNAL, "%s: out of memory",
					y.file);
			goto out;
		}
	}
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(&y.doc, *it);
		char path[32], kpath[40];
		wj_child_t c = { 0 };

		snprintf(path, sizeof(path), "children[%zu]", count);
		snprintf(kpath, sizeof(kpath), "%s.key", path);
		rc = wj_yaml_check_keys(&y, item, path, fields, err);
		if (rc == 0)
			rc = child_id(&y, item, path, self, &c.id, err);
		if (rc == 0)
			rc = key_field(&y, item, "key", kpath, false, c.key,
				       err);
		if (rc)
			goto out;
		for (size_t k = 0; k < count; k++) {
			char code[13];

			wj_division_format(c.id, code);
			if (v[k].id == c.id) {
				char ipath[40];

				snprintf(ipath, sizeof(ipath), "%s.id", path);
				rc = wj_yaml_error(&y, wj_yaml_get(&y, item,
								   "id"),
						   ipath, err, "%s is listed "
						   "twice (also children[%zu] "
						   "on line %zu); keep one",
						   code, k, lines[k]);
				goto out;
			}
			if (strcmp(v[k].key, c.key) == 0) {
				rc = wj_yaml_error(&y, wj_yaml_get(&y, item,
								   "key"),
						   kpath, err, "the same key "
						   "as children[%zu] on line "
						   "%zu; every node needs its "
						   "own key pair (node-ctl "
						   "keygen on that node)", k,
						   lines[k]);
				goto out;
			}
		}
		lines[count] = wj_yaml_line(item);
		v[count++] = c;
	}
done:
	*out = v;
	*n = count;
	v = NULL;
out:
	free(v);
	free(lines);
	wj_yaml_free(&y);
	return rc;
}

int wj_children_load(uint64_t self, const char *path, wj_child_t **out,
		     size_t *n, wj_err_t *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = read_small(path, "children file", CONFIG_FILE_MAX, false, &buf,
			&len, err);
	if (rc)
		return rc;
	rc = wj_children_parse(self, path, buf, len, out, n, err);
	free(buf);
	return rc;
}
