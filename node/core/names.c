/* The spellings of every enum users see (names.h).  One table per enum,
 * indexed by nothing: a linear scan over a dozen entries is cheaper than
 * keeping a second index in step with the proto. */
#include "core/names.h"

#include <string.h>

struct name {
	int value;
	const char *name;
};

#define N_(t) (sizeof(t) / sizeof((t)[0]))

static const char *lookup(const struct name *t, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == v)
			return t[i].name;
	return "?";
}

static int parse(const struct name *t, size_t n, const char *s, int *out)
{
	if (!s)
		return WJ_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, s) == 0) {
			*out = t[i].value;
			return 0;
		}
	}
	return WJ_EINVAL;
}

/* Generates the typed wrappers so callers never cast enums. */
#define NAME_FN(fn, type, table)					\
	const char *fn(type v)						\
	{								\
		return lookup(table, N_(table), (int)v);		\
	}
#define PARSE_FN(fn, type, table)					\
	int fn(const char *s, type *out)				\
	{								\
		int v;							\
		int rc = parse(table, N_(table), s, &v);		\
		if (rc == 0)						\
			*out = (type)v;					\
		return rc;						\
	}

static const struct name levels[] = {
	{ WUJI__LEVEL__PROVINCE, "province" },
	{ WUJI__LEVEL__CITY, "city" },
	{ WUJI__LEVEL__COUNTY, "county" },
	{ WUJI__LEVEL__TOWNSHIP, "township" },
	{ WUJI__LEVEL__VILLAGE, "village" },
};
NAME_FN(wj_level_name, Wuji__Level, levels)
PARSE_FN(wj_level_parse, Wuji__Level, levels)

static const struct name statuses[] = {
	{ WUJI__CASE_STATUS__RECEIVED, "received" },
	{ WUJI__CASE_STATUS__CORRECTION, "correction" },
	{ WUJI__CASE_STATUS__ACCEPTED, "accepted" },
	{ WUJI__CASE_STATUS__PAUSED, "paused" },
	{ WUJI__CASE_STATUS__APPROVED, "approved" },
	{ WUJI__CASE_STATUS__DENIED, "denied" },
	{ WUJI__CASE_STATUS__DELIVERED, "delivered" },
	{ WUJI__CASE_STATUS__REJECTED, "rejected" },
	{ WUJI__CASE_STATUS__WITHDRAWN, "withdrawn" },
	{ WUJI__CASE_STATUS__ARCHIVED, "archived" },
};
NAME_FN(wj_status_name, Wuji__CaseStatus, statuses)
PARSE_FN(wj_status_parse, Wuji__CaseStatus, statuses)

static const struct name warnings[] = {
	{ WUJI__WARNING__WARNING_NONE, "none" },
	{ WUJI__WARNING__YELLOW, "yellow" },
	{ WUJI__WARNING__RED, "red" },
};
NAME_FN(wj_warning_name, Wuji__Warning, warnings)
PARSE_FN(wj_warning_parse, Wuji__Warning, warnings)

static const struct name item_kinds[] = {
	{ WUJI__ITEM_KIND__ITEM_IMMEDIATE, "immediate" },
	{ WUJI__ITEM_KIND__ITEM_PROMISED, "promised" },
};
NAME_FN(wj_item_kind_name, Wuji__ItemKind, item_kinds)
PARSE_FN(wj_item_kind_parse, Wuji__ItemKind, item_kinds)

static const struct name case_kinds[] = {
	{ WUJI__CASE_KIND__CASE_IMMEDIATE, "immediate" },
	{ WUJI__CASE_KIND__CASE_PROMISED, "promised" },
	{ WUJI__CASE_KIND__CASE_JOINT, "joint" },
	{ WUJI__CASE_KIND__CASE_REPORTED_UP, "reported-up" },
};
NAME_FN(wj_case_kind_name, Wuji__CaseKind, case_kinds)

static const struct name task_statuses[] = {
	{ WUJI__TASK_STATUS__TASK_WAITING, "waiting" },
	{ WUJI__TASK_STATUS__TASK_PENDING, "pending" },
	{ WUJI__TASK_STATUS__TASK_APPROVED, "approved" },
	{ WUJI__TASK_STATUS__TASK_DENIED, "denied" },
	{ WUJI__TASK_STATUS__TASK_CANCELLED, "cancelled" },
};
NAME_FN(wj_task_status_name, Wuji__TaskStatus, task_statuses)

static const struct name id_types[] = {
	{ WUJI__ID_TYPE__ID_CARD, "id-card" },
	{ WUJI__ID_TYPE__ID_PASSPORT, "passport" },
	{ WUJI__ID_TYPE__ID_USCC, "uscc" },
	{ WUJI__ID_TYPE__ID_OTHER, "other" },
};
NAME_FN(wj_id_type_name, Wuji__IdType, id_types)
PARSE_FN(wj_id_type_parse, Wuji__IdType, id_types)

static const struct name deliveries[] = {
	{ WUJI__DELIVERY__BY_WINDOW, "window" },
	{ WUJI__DELIVERY__BY_POST, "post" },
};
NAME_FN(wj_delivery_name, Wuji__Delivery, deliveries)
PARSE_FN(wj_delivery_parse, Wuji__Delivery, deliveries)

static const struct name events[] = {
	{ WUJI__EVENT_TYPE__EV_SUBMITTED, "submitted" },
	{ WUJI__EVENT_TYPE__EV_ACCEPTED, "accepted" },
	{ WUJI__EVENT_TYPE__EV_CORRECTION, "correction" },
	{ WUJI__EVENT_TYPE__EV_SUPPLIED, "supplied" },
	{ WUJI__EVENT_TYPE__EV_REJECTED, "rejected" },
	{ WUJI__EVENT_TYPE__EV_PAUSED, "paused" },
	{ WUJI__EVENT_TYPE__EV_RESUMED, "resumed" },
	{ WUJI__EVENT_TYPE__EV_EXTENDED, "extended" },
	{ WUJI__EVENT_TYPE__EV_DECIDED, "decided" },
	{ WUJI__EVENT_TYPE__EV_DELIVERED, "delivered" },
	{ WUJI__EVENT_TYPE__EV_WITHDRAWN, "withdrawn" },
	{ WUJI__EVENT_TYPE__EV_ARCHIVED, "archived" },
	{ WUJI__EVENT_TYPE__EV_CATALOG_ITEM, "catalog-item" },
	{ WUJI__EVENT_TYPE__EV_CALENDAR_YEAR, "calendar-year" },
};
NAME_FN(wj_event_name, Wuji__EventType, events)

static const struct name verbs[] = {
	{ WUJI__EVENT_TYPE__EV_SUBMITTED, "submit" },
	{ WUJI__EVENT_TYPE__EV_ACCEPTED, "accept" },
	{ WUJI__EVENT_TYPE__EV_CORRECTION, "correct" },
	{ WUJI__EVENT_TYPE__EV_SUPPLIED, "supply" },
	{ WUJI__EVENT_TYPE__EV_REJECTED, "reject" },
	{ WUJI__EVENT_TYPE__EV_PAUSED, "pause" },
	{ WUJI__EVENT_TYPE__EV_RESUMED, "resume" },
	{ WUJI__EVENT_TYPE__EV_EXTENDED, "extend" },
	{ WUJI__EVENT_TYPE__EV_DECIDED, "decide" },
	{ WUJI__EVENT_TYPE__EV_DELIVERED, "deliver" },
	{ WUJI__EVENT_TYPE__EV_WITHDRAWN, "withdraw" },
	{ WUJI__EVENT_TYPE__EV_ARCHIVED, "archive" },
};
NAME_FN(wj_event_verb, Wuji__EventType, verbs)

const char *wj_link_state_name(Wuji__LinkState v)
{
	switch (v) {
	case WUJI__LINK_STATE__LINK_NONE:
		return "none";
	case WUJI__LINK_STATE__LINK_CONNECTING:
		return "connecting";
	case WUJI__LINK_STATE__LINK_UP:
		return "up";
	case WUJI__LINK_STATE__LINK_DOWN:
		return "down";
	case WUJI__LINK_STATE__LINK_RESYNC:
		return "resync";
	default:
		return "?";
	}
}
