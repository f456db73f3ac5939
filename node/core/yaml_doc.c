/* The YAML layer under the catalog, calendar and config files (yaml_doc.h):
 * loading one document with libyaml's document API, typed getters that
 * refuse wrong types, and error messages that point at file, line and
 * field.  libyaml does no implicit typing, so every scalar is text here and
 * each getter decides what text it accepts. */
#include "core/yaml_doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Values quoted back in messages are cut here so one huge scalar cannot
 * push the file and line out of the message. */
#define ECHO_MAX 60

static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

static bool is_control(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
}

/* Whether s is UTF-8 text a clerk could have typed on one line: the files
 * end up in logs, replies and terminals, where control bytes do harm. */
static bool text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c;

	while (i < len) {
		n = utf8_seq(p + i, len - i, &c);
		if (n == 0 || is_control(c))
			return false;
		i += n;
	}
	return true;
}

/* Replaces control bytes and broken UTF-8 (including a sequence cut by
 * truncation) with '?', in place, so a message is always printable. */
static void sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strlen(s), i = 0, n;
	uint32_t c;

	while (i < len) {
		n = utf8_seq(p + i, len - i, &c);
		if (n == 0 || is_control(c)) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

static const char *type_word(yaml_node_type_t t)
{
	switch (t) {
	case YAML_SCALAR_NODE:
		return "a single value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping (key: value lines)";
	default:
		return "an empty node";
	}
}

static const char *type_name(const yaml_node_t *n)
{
	return n ? type_word(n->type) : "nothing";
}

static int echo_len(const yaml_node_t *n)
{
	size_t len = n->data.scalar.length;

	return len > ECHO_MAX ? ECHO_MAX : (int)len;
}

static const char *echo_more(const yaml_node_t *n)
{
	return n->data.scalar.length > ECHO_MAX ? "..." : "";
}

/* The full name of field `key` of the mapping at `path`.  Callers may pass
 * either the mapping's path ("items[3]") or the field's own full name
 * ("items[3].code"); both give "items[3].code". */
static const char *field_name(char *buf, size_t size, const char *path,
			      const char *key)
{
	size_t pl, kl;

	if (!path || !*path)
		return key;
	pl = strlen(path);
	kl = strlen(key);
	if (pl >= kl && strcmp(path + pl - kl, key) == 0 &&
	    (pl == kl || path[pl - kl - 1] == '.'))
		return path;
	snprintf(buf, size, "%s.%s", path, key);
	return buf;
}

static bool is_null_scalar(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	       strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	       strcmp(v, "NULL") == 0;
}

static int syntax_error(yaml_parser_t *p, const char *file, const char *buf,
			size_t len, wj_err_t *err)
{
	const char *problem = p->problem ? p->problem : "unknown problem";

	if (p->error == YAML_MEMORY_ERROR)
		return wj_err_set(err, WJ_EINTERNAL,
				  "%s: out of memory while reading YAML; the "
				  "file is too large for this machine", file);
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset; a clerk needs a line. */
		size_t line = 1, end = p->problem_offset < len ?
			p->problem_offset : len;

		for (size_t i = 0; i < end; i++)
			line += buf[i] == '\n';
		wj_err_set(err, WJ_EBADREQ,
			   "%s:%zu: byte %zu of the file: %s; save the file "
			   "as UTF-8 text without control characters", file,
			   line, p->problem_offset, problem);
	} else if (p->context) {
		wj_err_set(err, WJ_EBADREQ,
			   "%s:%zu:%zu: YAML syntax error: %s (%s on line "
			   "%zu); check indentation, colons and quotes there",
			   file, p->problem_mark.line + 1,
			   p->problem_mark.column + 1, problem, p->context,
			   p->context_mark.line + 1);
	} else {
		wj_err_set(err, WJ_EBADREQ,
			   "%s:%zu:%zu: YAML syntax error: %s; check "
			   "indentation, colons and quotes there",
			   file, p->problem_mark.line + 1,
			   p->problem_mark.column + 1, problem);
	}
	if (err)
		sanitize(err->msg);
	return WJ_EBADREQ;
}

int wj_yaml_load(wj_yaml_t *y, const char *file, const char *buf, size_t len,
		 wj_err_t *err)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	y->file = file ? file : "(input)";
	if (!buf) {
		/* libyaml asserts on a NULL input even when it is empty. */
		buf = "";
		len = 0;
	}
	if (!yaml_parser_initialize(&parser))
		return wj_err_set(err, WJ_EINTERNAL,
				  "%s: cannot start the YAML parser (out of "
				  "memory)", y->file);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
				     len);
	if (!yaml_parser_load(&parser, &y->doc)) {
		rc = syntax_error(&parser, y->file, buf, len, err);
		goto out;
	}
	y->loaded = true;
	if (!yaml_document_get_root_node(&y->doc)) {
		rc = wj_err_set(err, WJ_EBADREQ,
				"%s: the file is empty; see the sample in "
				"deploy/ for what it should hold", y->file);
		goto out;
	}
	/* A second document would be silently ignored by a one-document
	 * reader, which is exactly the kind of mistake we refuse. */
	if (!yaml_parser_load(&parser, &extra)) {
		rc = syntax_error(&parser, y->file, buf, len, err);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		yaml_node_t *r = yaml_document_get_root_node(&extra);

		rc = wj_err_set(err, WJ_EBADREQ,
				"%s:%zu: a second YAML document starts here; "
				"a file holds one document: remove the '---' "
				"line and merge the content", y->file,
				r->start_mark.line + 1);
	}
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
	if (rc)
		wj_yaml_free(y);
	return rc;
}

void wj_yaml_free(wj_yaml_t *y)
{
	if (y && y->loaded) {
		yaml_document_delete(&y->doc);
		y->loaded = false;
	}
}

yaml_node_t *wj_yaml_root(wj_yaml_t *y)
{
	return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

size_t wj_yaml_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 0;
}

const char *wj_yaml_scalar(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

int wj_yaml_error(wj_yaml_t *y, yaml_node_t *n, const char *path, wj_err_t *err,
		  const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return WJ_EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n && path && *path)
		wj_err_set(err, WJ_EINVAL, "%s:%zu: %s: %s", y->file,
			   wj_yaml_line(n), path, msg);
	else if (n)
		wj_err_set(err, WJ_EINVAL, "%s:%zu: %s", y->file,
			   wj_yaml_line(n), msg);
	else if (path && *path)
		wj_err_set(err, WJ_EINVAL, "%s: %s: %s", y->file, path, msg);
	else
		wj_err_set(err, WJ_EINVAL, "%s: %s", y->file, msg);
	sanitize(err->msg);
	return WJ_EINVAL;
}

static yaml_node_t *node_at(wj_yaml_t *y, int index)
{
	return yaml_document_get_node(&y->doc, index);
}

static bool key_is(const yaml_node_t *k, const char *key)
{
	size_t kl = strlen(key);

	return k && k->type == YAML_SCALAR_NODE &&
	       k->data.scalar.length == kl &&
	       memcmp(k->data.scalar.value, key, kl) == 0;
}

yaml_node_t *wj_yaml_get(wj_yaml_t *y, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++)
		if (key_is(node_at(y, p->key), key))
			return node_at(y, p->value);
	return NULL;
}

int wj_yaml_expect(wj_yaml_t *y, yaml_node_t *n, yaml_node_type_t type,
		   const char *path, wj_err_t *err)
{
	if (n && n->type == type)
		return 0;
	if (n && n->type == YAML_SCALAR_NODE)
		return wj_yaml_error(y, n, path, err,
				     "expected %s, got \"%.*s%s\"",
				     type_word(type), echo_len(n),
				     (const char *)n->data.scalar.value,
				     echo_more(n));
	return wj_yaml_error(y, n, path, err, "expected %s, got %s",
			     type_word(type), type_name(n));
}

static void list_keys(char *buf, size_t size, const char *const *known)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; known[i] && used < size; i++) {
		int w = snprintf(buf + used, size - used, "%s%s",
				 i ? ", " : "", known[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int wj_yaml_check_keys(wj_yaml_t *y, yaml_node_t *map, const char *path,
		       const char *const *known, wj_err_t *err)
{
	char name[256], keys[256];
	yaml_node_pair_t *p, *q;
	uint64_t seen = 0;
	int rc;

	rc = wj_yaml_expect(y, map, YAML_MAPPING_NODE, path, err);
	if (rc)
		return rc;
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(y, p->key);
		size_t i;

		if (!k || k->type != YAML_SCALAR_NODE)
			return wj_yaml_error(y, k ? k : map, path, err,
					     "a key must be a plain name, got "
					     "%s", type_name(k));
		for (i = 0; known[i]; i++)
			if (key_is(k, known[i]))
				break;
		if (!known[i]) {
			list_keys(keys, sizeof(keys), known);
			snprintf(name, sizeof(name), "%s%s%.*s",
				 path && *path ? path : "",
				 path && *path ? "." : "", echo_len(k),
				 (const char *)k->data.scalar.value);
			return wj_yaml_error(y, k, name, err,
					     "unknown key; the known keys "
					     "here are: %s", keys);
		}
		if (i >= 64)
			continue;
		if (seen & (1ULL << i)) {
			for (q = map->data.mapping.pairs.start; q < p; q++)
				if (key_is(node_at(y, q->key), known[i]))
					break;
			return wj_yaml_error(
				y, k,
				field_name(name, sizeof(name), path, known[i]),
				err, "given twice (first on line %zu); keep one",
				wj_yaml_line(node_at(y, q->key)));
		}
		seen |= 1ULL << i;
	}
	return 0;
}

/* The key node of `key` in map, for the line of a message. */
static yaml_node_t *get_value(wj_yaml_t *y, yaml_node_t *map, const char *key,
			      const char *name, bool required, wj_err_t *err,
			      int *rc)
{
	yaml_node_t *v = wj_yaml_get(y, map, key);

	*rc = 0;
	if (!v) {
		if (required)
			*rc = wj_yaml_error(y, map, name, err,
					    "required field missing; add "
					    "\"%s: ...\" here", key);
		return NULL;
	}
	if (v->type != YAML_SCALAR_NODE)
		*rc = wj_yaml_error(y, v, name, err,
				    "expected a single value, got %s",
				    type_name(v));
	return v;
}

int wj_yaml_str(wj_yaml_t *y, yaml_node_t *map, const char *key,
		const char *path, bool required, const char **out,
		wj_err_t *err)
{
	char buf[256];
	const char *name = field_name(buf, sizeof(buf), path, key);
	yaml_node_t *v;
	const char *s;
	size_t len;
	int rc;

	v = get_value(y, map, key, name, required, err, &rc);
	if (!v || rc)
		return rc;
	if (is_null_scalar(v)) {
		if (required)
			return wj_yaml_error(y, v, name, err,
					     "must not be empty; write a value "
					     "after the colon");
		*out = "";
		return 0;
	}
	s = (const char *)v->data.scalar.value;
	len = v->data.scalar.length;
	if (len == 0 && required)
		return wj_yaml_error(y, v, name, err,
				     "must not be empty; write a value "
				     "between the quotes");
	if (strlen(s) != len || !text_ok(s, len))
		return wj_yaml_error(y, v, name, err,
				     "contains a control character or "
				     "invalid UTF-8; write it as plain text "
				     "on one line");
	*out = s;
	return 0;
}

int wj_yaml_uint(wj_yaml_t *y, yaml_node_t *map, const char *key,
		 const char *path, bool required, uint64_t min, uint64_t max,
		 uint64_t *out, wj_err_t *err)
{
	char buf[256];
	const char *name = field_name(buf, sizeof(buf), path, key);
	yaml_node_t *v;
	const unsigned char *s;
	uint64_t x = 0;
	size_t len, i;
	int rc;

	v = get_value(y, map, key, name, required, err, &rc);
	if (!v)
		return rc;
	if (rc)
		return wj_yaml_error(y, v, name, err,
				     "expected a whole number %llu..%llu, got %s",
				     (unsigned long long)min,
				     (unsigned long long)max, type_name(v));
	s = v->data.scalar.value;
	len = v->data.scalar.length;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			break;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (len == 0 || i < len || x < min || x > max)
		return wj_yaml_error(y, v, name, err,
				     "expected a whole number %llu..%llu, got "
				     "\"%.*s%s\"", (unsigned long long)min,
				     (unsigned long long)max, echo_len(v),
				     (const char *)s, echo_more(v));
	*out = x;
	return 0;
}

int wj_yaml_bool(wj_yaml_t *y, yaml_node_t *map, const char *key,
		 const char *path, bool required, bool *out, wj_err_t *err)
{
	char buf[256];
	const char *name = field_name(buf, sizeof(buf), path, key);
	yaml_node_t *v;
	const char *s;
	int rc;

	v = get_value(y, map, key, name, required, err, &rc);
	if (!v)
		return rc;
	if (rc)
		return wj_yaml_error(y, v, name, err,
				     "expected true or false, got %s",
				     type_name(v));
	s = (const char *)v->data.scalar.value;
	if (strcmp(s, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0) {
		*out = false;
		return 0;
	}
	return wj_yaml_error(y, v, name, err,
			     "expected true or false, got \"%.*s%s\"",
			     echo_len(v), s, echo_more(v));
}
