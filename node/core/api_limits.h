/* Bounds of the control API that the node enforces and node-ctl checks
 * before asking, so that both say the same thing. */
#pragma once

/* Cases in one page of `list` or `warnings`: this many when the request
 * names no limit, at most WJ_LIST_LIMIT_MAX (a larger one is refused by
 * node-ctl and lowered by the node); `--after` gives the next page. */
#define WJ_LIST_LIMIT_DEFAULT 1000
#define WJ_LIST_LIMIT_MAX 10000
