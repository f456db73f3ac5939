/* The service item catalog (catalog.h): the rules every item must meet
 * before a node stores it, and the catalog file parser.  The parser checks
 * each field where it stands so its messages carry a line; it then runs
 * wj_catalog_item_validate() too, so the file and the control API can never
 * accept different items. */
#include "core/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/yaml_doc.h"

#define TASKS_MAX 16
#define MATERIALS_MAX 64
#define ITEMS_MAX 100000

/* ------------------------------------------------------------ validation */

static bool text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t n, i;

	while (*p) {
		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return false;
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 2;
			c = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 3;
			c = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 4;
			c = *p & 0x07;
		} else {
			return false;
		}
		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)  /* also stops at the NUL */
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
		    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff ||
		    (c >= 0x80 && c <= 0x9f))
			return false;
		p += n;
	}
	return true;
}

/* Checks a text field; `what` names it in the message. */
static int check_text(const char *s, const char *what, bool required,
		      wj_err_t *err)
{
	if (!s || !*s) {
		if (required)
			return wj_err_set(err, WJ_EINVAL,
					  "%s is empty; every item needs one",
					  what);
		return 0;
	}
	if (strlen(s) > WJ_TEXT_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "%s is %zu bytes long; the limit is %d "
				  "bytes: shorten it", what, strlen(s),
				  WJ_TEXT_MAX);
	if (!text_valid(s))
		return wj_err_set(err, WJ_EINVAL,
				  "%s contains a control character or invalid "
				  "UTF-8; write it as plain text on one line",
				  what);
	return 0;
}

static bool level_valid(Wuji__Level l)
{
	return l >= WUJI__LEVEL__PROVINCE && l <= WUJI__LEVEL__VILLAGE;
}

int wj_catalog_item_validate(const Wuji__CatalogItem *item, wj_err_t *err)
{
	char what[64];
	int rc;

	if (!item)
		return wj_err_set(err, WJ_EBADREQ, "no catalog item given");
	if ((rc = check_text(item->code, "the item code", true, err)) ||
	    (rc = check_text(item->name, "the item name", true, err)) ||
	    (rc = check_text(item->item_type, "item_type", false, err)) ||
	    (rc = check_text(item->legal_basis, "legal_basis", false, err)) ||
	    (rc = check_text(item->result_name, "result_name", false, err)))
		return rc;

	switch (item->kind) {
	case WUJI__ITEM_KIND__ITEM_IMMEDIATE:
		if (item->promised_days != 0)
			return wj_err_set(err, WJ_EINVAL,
					  "item %s is immediate (decided on the "
					  "spot) but promises %u working days; "
					  "set promised_days to 0 or make it a "
					  "promised item", item->code,
					  item->promised_days);
		if (item->statutory_days > WJ_ITEM_DAYS_MAX)
			return wj_err_set(err, WJ_EINVAL,
					  "item %s: statutory_days %u is over "
					  "the limit of %d working days",
					  item->code, item->statutory_days,
					  WJ_ITEM_DAYS_MAX);
		break;
	case WUJI__ITEM_KIND__ITEM_PROMISED:
		if (item->promised_days < 1)
			return wj_err_set(err, WJ_EINVAL,
					  "item %s is a promised item with 0 "
					  "promised days; give at least 1 "
					  "working day, or make it immediate",
					  item->code);
		if (item->statutory_days > WJ_ITEM_DAYS_MAX)
			return wj_err_set(err, WJ_EINVAL,
					  "item %s: statutory_days %u is over "
					  "the limit of %d working days",
					  item->code, item->statutory_days,
					  WJ_ITEM_DAYS_MAX);
		if (item->promised_days > item->statutory_days)
			return wj_err_set(err, WJ_EINVAL,
					  "item %s promises %u working days, "
					  "more than its statutory %u; the "
					  "promised limit may not exceed the "
					  "statutory one", item->code,
					  item->promised_days,
					  item->statutory_days);
		break;
	default:
		return wj_err_set(err, WJ_EINVAL,
				  "item %s has no kind; set it to immediate or "
				  "promised", item->code);
	}

	if (item->n_apply_levels > 0 && !item->apply_levels)
		return wj_err_set(err, WJ_EBADREQ, "item %s: apply_levels "
				  "is missing its values", item->code);
	for (size_t i = 0; i < item->n_apply_levels; i++)
		if (!level_valid(item->apply_levels[i]))
			return wj_err_set(err, WJ_EINVAL,
					  "item %s: apply level %d is not a "
					  "level; use province, city, county, "
					  "township or village", item->code,
					  (int)item->apply_levels[i]);

	if (item->n_tasks == 0 || !item->tasks)
		return wj_err_set(err, WJ_EINVAL,
				  "item %s has no task; list at least one "
				  "department that handles it", item->code);
	if (item->n_tasks > TASKS_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "item %s has %zu tasks; at most %d "
				  "departments may handle one item",
				  item->code, item->n_tasks, TASKS_MAX);
	for (size_t i = 0; i < item->n_tasks; i++) {
		const Wuji__CatalogTask *t = item->tasks[i];

		if (!t)
			return wj_err_set(err, WJ_EBADREQ,
					  "item %s: task %zu is missing",
					  item->code, i);
		snprintf(what, sizeof(what), "task %zu's department", i);
		if ((rc = check_text(t->department, what, true, err)))
			return rc;
		if (!level_valid(t->level))
			return wj_err_set(err, WJ_EINVAL,
					  "item %s: task %zu (%s) has no valid "
					  "level; use province, city, county, "
					  "township or village", item->code, i,
					  t->department);
	}

	if (item->n_materials > MATERIALS_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "item %s lists %zu materials; the limit is "
				  "%d", item->code, item->n_materials,
				  MATERIALS_MAX);
	if (item->n_materials > 0 && !item->materials)
		return wj_err_set(err, WJ_EBADREQ, "item %s: materials are "
				  "missing", item->code);
	for (size_t i = 0; i < item->n_materials; i++) {
		const Wuji__CatalogMaterial *m = item->materials[i];

		if (!m)
			return wj_err_set(err, WJ_EBADREQ,
					  "item %s: material %zu is missing",
					  item->code, i);
		snprintf(what, sizeof(what), "material %zu's name", i);
		if ((rc = check_text(m->name, what, true, err)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (item->materials[j] &&
			    strcmp(item->materials[j]->name, m->name) == 0)
				return wj_err_set(err, WJ_EINVAL,
						  "item %s lists material "
						  "\"%s\" twice; list each "
						  "material once", item->code,
						  m->name);
	}
	return 0;
}

/* ---------------------------------------------------------------- parser */

struct ctx {
	wj_yaml_t *y;
	wj_arena_t *a;
	wj_err_t *err;
};

static const char *const root_keys[] = { "items", NULL };
static const char *const item_keys[] = {
	"code", "name", "kind", "promised_days", "statutory_days",
	"apply_at", "item_type", "legal_basis", "result_name", "version",
	"tasks", "materials", NULL,
};
static const char *const task_keys[] = { "department", "level", NULL };
static const char *const material_keys[] = {
	"name", "required", "waivable", NULL,
};

/* GB/T 39046-2020 item types (事项类型). */
static const char *const item_types[] = {
	"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20", NULL,
};

static yaml_node_t *seq_item(struct ctx *c, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(&c->y->doc,
				      seq->data.sequence.items.start[i]);
}

static size_t seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top -
			seq->data.sequence.items.start);
}

/* A text field copied into the arena; absent optional fields keep *out. */
static int text(struct ctx *c, yaml_node_t *map, const char *path,
		const char *key, bool required, char **out)
{
	char name[128];
	const char *s = NULL;
	int rc;

	rc = wj_yaml_str(c->y, map, key, path, required, &s, c->err);
	if (rc || !s)
		return rc;
	if (strlen(s) > WJ_TEXT_MAX) {
		snprintf(name, sizeof(name), "%s.%s", path, key);
		return wj_yaml_error(c->y, wj_yaml_get(c->y, map, key), name,
				     c->err, "is %zu bytes long; the limit is "
				     "%d bytes: shorten it", strlen(s),
				     WJ_TEXT_MAX);
	}
	*out = wj_arena_strdup(c->a, s);
	return 0;
}

/* A sequence field, checked for type and length; NULL when absent. */
static int list(struct ctx *c, yaml_node_t *map, const char *path,
		const char *key, size_t min, size_t max, yaml_node_t **out)
{
	char name[128];
	yaml_node_t *n = wj_yaml_get(c->y, map, key);
	int rc;

	*out = NULL;
	snprintf(name, sizeof(name), "%s%s%s", path, *path ? "." : "", key);
	if (!n)
		return 0;
	rc = wj_yaml_expect(c->y, n, YAML_SEQUENCE_NODE, name, c->err);
	if (rc)
		return rc;
	if (seq_len(n) < min)
		return wj_yaml_error(c->y, n, name, c->err,
				     "must list at least %zu entr%s", min,
				     min == 1 ? "y" : "ies");
	if (seq_len(n) > max)
		return wj_yaml_error(c->y, n, name, c->err,
				     "lists %zu entries; at most %zu are "
				     "allowed", seq_len(n), max);
	*out = n;
	return 0;
}

static int level_of(struct ctx *c, yaml_node_t *n, const char *path,
		    Wuji__Level *out)
{
	int rc = wj_yaml_expect(c->y, n, YAML_SCALAR_NODE, path, c->err);
	const char *s;

	if (rc)
		return rc;
	s = wj_yaml_scalar(n);
	if (wj_level_parse(s, out) != 0)
		return wj_yaml_error(c->y, n, path, c->err,
				     "expected province, city, county, "
				     "township or village, got \"%.60s\"", s);
	return 0;
}

static int parse_task(struct ctx *c, yaml_node_t *n, const char *path,
		      Wuji__CatalogTask *t)
{
	char name[128];
	const char *s = NULL;
	int rc;

	if ((rc = wj_yaml_check_keys(c->y, n, path, task_keys, c->err)) ||
	    (rc = text(c, n, path, "department", true, &t->department)))
		return rc;
	rc = wj_yaml_str(c->y, n, "level", path, true, &s, c->err);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "%s.level", path);
	return level_of(c, wj_yaml_get(c->y, n, "level"), name, &t->level);
}

static int parse_material(struct ctx *c, yaml_node_t *n, const char *path,
			  Wuji__CatalogMaterial *m)
{
	bool required = true, waivable = false;
	int rc;

	if ((rc = wj_yaml_check_keys(c->y, n, path, material_keys, c->err)) ||
	    (rc = text(c, n, path, "name", true, &m->name)) ||
	    (rc = wj_yaml_bool(c->y, n, "required", path, false, &required,
			       c->err)) ||
	    (rc = wj_yaml_bool(c->y, n, "waivable", path, false, &waivable,
			       c->err)))
		return rc;
	if (waivable && !required) {
		char name[128];

		snprintf(name, sizeof(name), "%s.waivable", path);
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "waivable"),
				     name, c->err,
				     "only a required material can be waivable "
				     "(容缺); drop waivable or set required: "
				     "true");
	}
	m->required = required;
	m->waivable = waivable;
	return 0;
}

static int parse_days(struct ctx *c, yaml_node_t *n, const char *path,
		      Wuji__CatalogItem *it)
{
	bool promised = it->kind == WUJI__ITEM_KIND__ITEM_PROMISED;
	uint64_t pd = 0, sd = 0;
	char name[128];
	int rc;

	if ((rc = wj_yaml_uint(c->y, n, "promised_days", path, promised, 0,
			       WJ_ITEM_DAYS_MAX, &pd, c->err)) ||
	    (rc = wj_yaml_uint(c->y, n, "statutory_days", path, promised, 0,
			       WJ_ITEM_DAYS_MAX, &sd, c->err)))
		return rc;
	snprintf(name, sizeof(name), "%s.promised_days", path);
	if (!promised && pd != 0)
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "promised_days"),
				     name, c->err,
				     "an immediate item is decided on the spot: "
				     "set it to 0, or make the item promised");
	if (promised && pd < 1)
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "promised_days"),
				     name, c->err,
				     "a promised item needs at least 1 working "
				     "day; use kind: immediate for items "
				     "decided on the spot");
	if (promised && pd > sd)
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "promised_days"),
				     name, c->err,
				     "%llu working days is more than "
				     "statutory_days (%llu); the promised limit "
				     "may not exceed the statutory one",
				     (unsigned long long)pd,
				     (unsigned long long)sd);
	it->promised_days = (uint32_t)pd;
	it->statutory_days = (uint32_t)sd;
	return 0;
}

static int parse_apply_at(struct ctx *c, yaml_node_t *n, const char *path,
			  Wuji__CatalogItem *it)
{
	char name[128];
	yaml_node_t *seq;
	int rc;

	rc = list(c, n, path, "apply_at", 1, 5, &seq);
	if (rc || !seq)
		return rc;
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *e = seq_item(c, seq, i);
		Wuji__Level l;
		Wuji__Level *slot;

		snprintf(name, sizeof(name), "%s.apply_at[%zu]", path, i);
		if ((rc = level_of(c, e, name, &l)))
			return rc;
		for (size_t j = 0; j < it->n_apply_levels; j++)
			if (it->apply_levels[j] == l)
				return wj_yaml_error(c->y, e, name, c->err,
						     "%s is listed twice; list "
						     "each level once",
						     wj_level_name(l));
		slot = wj_arena_push(c->a, &it->apply_levels,
				     &it->n_apply_levels, sizeof(*slot));
		*slot = l;
	}
	return 0;
}

static int parse_item(struct ctx *c, yaml_node_t *n, size_t index,
		      Wuji__CatalogItem **out)
{
	Wuji__CatalogItem *it;
	char path[32], name[64];
	const char *kind = NULL;
	uint64_t version = 0;
	yaml_node_t *seq;
	wj_err_t verr = { 0 };
	int rc;

	snprintf(path, sizeof(path), "items[%zu]", index);
	rc = wj_yaml_check_keys(c->y, n, path, item_keys, c->err);
	if (rc)
		return rc;
	it = wj_arena_alloc(c->a, sizeof(*it));
	wuji__catalog_item__init(it);

	if ((rc = text(c, n, path, "code", true, &it->code)) ||
	    (rc = text(c, n, path, "name", true, &it->name)) ||
	    (rc = wj_yaml_str(c->y, n, "kind", path, true, &kind, c->err)))
		return rc;
	if (wj_item_kind_parse(kind, &it->kind) != 0) {
		snprintf(name, sizeof(name), "%s.kind", path);
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "kind"), name,
				     c->err, "expected immediate or promised, "
				     "got \"%.60s\"", kind);
	}
	if ((rc = parse_days(c, n, path, it)) ||
	    (rc = parse_apply_at(c, n, path, it)) ||
	    (rc = text(c, n, path, "item_type", false, &it->item_type)) ||
	    (rc = text(c, n, path, "legal_basis", false, &it->legal_basis)) ||
	    (rc = text(c, n, path, "result_name", false, &it->result_name)) ||
	    (rc = wj_yaml_uint(c->y, n, "version", path, false, 0, UINT32_MAX,
			       &version, c->err)))
		return rc;
	it->version = (uint32_t)version;
	if (*it->item_type) {
		size_t i;

		for (i = 0; item_types[i]; i++)
			if (strcmp(item_types[i], it->item_type) == 0)
				break;
		if (!item_types[i]) {
			snprintf(name, sizeof(name), "%s.item_type", path);
			return wj_yaml_error(
				c->y, wj_yaml_get(c->y, n, "item_type"), name,
				c->err,
				"\"%.60s\" is not a GB/T 39046 item type; use "
				"01..10 or 20 (quoted, e.g. \"01\")",
				it->item_type);
		}
	}

	rc = list(c, n, path, "tasks", 1, TASKS_MAX, &seq);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "%s.tasks", path);
	if (!seq)
		return wj_yaml_error(c->y, n, name, c->err,
				     "required field missing; list the "
				     "departments that handle the item, e.g. "
				     "tasks: [{ department: 县市场监督管理局, "
				     "level: county }]");
	for (size_t i = 0; i < seq_len(seq); i++) {
		Wuji__CatalogTask **slot;

		slot = wj_arena_push(c->a, &it->tasks, &it->n_tasks,
				     sizeof(*slot));
		*slot = wj_arena_alloc(c->a, sizeof(**slot));
		wuji__catalog_task__init(*slot);
		snprintf(name, sizeof(name), "%s.tasks[%zu]", path, i);
		if ((rc = parse_task(c, seq_item(c, seq, i), name, *slot)))
			return rc;
	}

	rc = list(c, n, path, "materials", 0, MATERIALS_MAX, &seq);
	if (rc)
		return rc;
	for (size_t i = 0; seq && i < seq_len(seq); i++) {
		Wuji__CatalogMaterial **slot;
		yaml_node_t *e = seq_item(c, seq, i);

		slot = wj_arena_push(c->a, &it->materials, &it->n_materials,
				     sizeof(*slot));
		*slot = wj_arena_alloc(c->a, sizeof(**slot));
		wuji__catalog_material__init(*slot);
		snprintf(name, sizeof(name), "%s.materials[%zu]", path, i);
		if ((rc = parse_material(c, e, name, *slot)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(it->materials[j]->name, (*slot)->name) == 0)
				return wj_yaml_error(
					c->y, e, name, c->err,
					"material \"%s\" is already listed as "
					"materials[%zu]; list each material "
					"once", (*slot)->name, j);
	}

	/* The parser's own checks should have caught everything; this keeps
	 * the file and the control API on one set of rules regardless. */
	if (wj_catalog_item_validate(it, &verr) != 0)
		return wj_yaml_error(c->y, n, path, c->err, "%s", verr.msg);
	*out = it;
	return 0;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Item codes must be unique: an open-addressing set of item indexes (+1),
 * so a catalog of many thousand items costs no quadratic scan. */
struct codes {
	uint32_t *slots;
	size_t mask;
};

static int codes_init(struct codes *s, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	s->mask = cap - 1;
	s->slots = calloc(cap, sizeof(*s->slots));
	return s->slots ? 0 : -1;
}

/* Adds item i of cat, or reports the item that already has its code. */
static int codes_add(struct ctx *c, struct codes *s, yaml_node_t *seq,
		     const Wuji__Catalog *cat, size_t i)
{
	const char *code = cat->items[i]->code;
	size_t j, k;
	char path[48];

	for (j = hash(code) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
		k = s->slots[j] - 1;
		if (strcmp(cat->items[k]->code, code) != 0)
			continue;
		snprintf(path, sizeof(path), "items[%zu].code", i);
		return wj_yaml_error(c->y,
				     wj_yaml_get(c->y, seq_item(c, seq, i),
						 "code"),
				     path, c->err,
				     "\"%.80s\" is already the code of items[%zu] "
				     "(line %zu); item codes must be unique",
				     code, k, wj_yaml_line(seq_item(c, seq, k)));
	}
	s->slots[j] = (uint32_t)(i + 1);
	return 0;
}

int wj_catalog_parse(const char *file, const char *buf, size_t len,
		     wj_arena_t *arena, Wuji__Catalog **out, wj_err_t *err)
{
	wj_yaml_t y;
	struct ctx c = { &y, arena, err };
	struct codes codes = { NULL, 0 };
	Wuji__Catalog *cat;
	yaml_node_t *root, *seq;
	int rc;

	rc = wj_yaml_load(&y, file, buf, len, err);
	if (rc)
		return rc;
	root = wj_yaml_root(&y);
	if ((rc = wj_yaml_check_keys(&y, root, "", root_keys, err)) ||
	    (rc = list(&c, root, "", "items", 1, ITEMS_MAX, &seq)))
		goto out;
	if (!seq) {
		rc = wj_yaml_error(&y, root, "items", err,
				   "required field missing; the catalog "
				   "lists its items under \"items:\"");
		goto out;
	}
	cat = wj_arena_alloc(arena, sizeof(*cat));
	wuji__catalog__init(cat);
	cat->items = wj_arena_alloc(arena, seq_len(seq) * sizeof(*cat->items));
	if (codes_init(&codes, seq_len(seq)) != 0) {
		rc = wj_err_set(err, WJ_EINTERNAL, "%s: out of memory",
				y.file);
		goto out;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		rc = parse_item(&c, seq_item(&c, seq, i), i,
				&cat->items[cat->n_items]);
		if (rc == 0)
			rc = codes_add(&c, &codes, seq, cat, i);
		if (rc)
			goto out;
		cat->n_items++;
	}
	*out = cat;
out:
	free(codes.slots);
	wj_yaml_free(&y);
	return rc;
}
