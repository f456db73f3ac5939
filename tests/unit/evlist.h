/* Unit tests: collecting the events of a case (wj_store_case_events). */
#pragma once

#include <stddef.h>

#include "proto/wuji.pb-c.h"

struct evlist {
	Wuji__Event *ev[8];
	size_t n;
};

/* A wj_event_visit_cb: keeps the first 8 events in *ctx. */
static inline int collect_event(Wuji__Event *ev, void *ctx)
{
	struct evlist *l = ctx;
	if (l->n < 8)
		l->ev[l->n++] = ev;
	return 0;
}
