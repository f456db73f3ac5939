/* Names of enum values as users and JSON see them, and back.
 * One table per enum (node/core/names.c), shared by the daemon, node-ctl,
 * the file parsers and the tests, so the spellings never drift apart.
 * Each *_name() returns a static string ("?" for an unknown value); each
 * *_parse() returns 0 and sets *out, or WJ_EINVAL for an unknown name. */
#pragma once

#include "core/err.h"
#include "proto/wuji.pb-c.h"

/* province city county township village */
const char *wj_level_name(Wuji__Level v);
int wj_level_parse(const char *s, Wuji__Level *out);
/* received correction accepted paused approved denied delivered rejected
 * withdrawn archived */
const char *wj_status_name(Wuji__CaseStatus v);
int wj_status_parse(const char *s, Wuji__CaseStatus *out);
/* none yellow red */
const char *wj_warning_name(Wuji__Warning v);
int wj_warning_parse(const char *s, Wuji__Warning *out);
/* immediate promised */
const char *wj_item_kind_name(Wuji__ItemKind v);
int wj_item_kind_parse(const char *s, Wuji__ItemKind *out);
/* immediate promised joint reported-up */
const char *wj_case_kind_name(Wuji__CaseKind v);
/* waiting pending approved denied cancelled */
const char *wj_task_status_name(Wuji__TaskStatus v);
/* id-card passport uscc other */
const char *wj_id_type_name(Wuji__IdType v);
int wj_id_type_parse(const char *s, Wuji__IdType *out);
/* window post */
const char *wj_delivery_name(Wuji__Delivery v);
int wj_delivery_parse(const char *s, Wuji__Delivery *out);
/* connecting up down resync ("none" for an unset state) */
const char *wj_link_state_name(Wuji__LinkState v);
/* submitted accepted correction supplied rejected paused resumed extended
 * decided delivered withdrawn archived */
const char *wj_event_name(Wuji__EventType v);
/* The node-ctl verb that produces an event: accept correct supply reject
 * pause resume extend decide deliver withdraw archive (submit for
 * EV_SUBMITTED). */
const char *wj_event_verb(Wuji__EventType v);
