/* Hybrid logical clock: 48 bits of milliseconds since the Unix epoch and
 * 16 bits of logical counter.  Events carry it so every node orders the
 * events of a case the same way even when wall clocks disagree.
 * Pure functions: the caller passes the physical time in. */
#pragma once

#include <stdint.h>

typedef uint64_t wj_hlc_t;

/* A timestamp for a local event at physical time now_ms. */
wj_hlc_t wj_hlc_tick(wj_hlc_t *state, uint64_t now_ms);
/* Merges a timestamp received from another node. */
wj_hlc_t wj_hlc_recv(wj_hlc_t *state, wj_hlc_t remote, uint64_t now_ms);
static inline uint64_t wj_hlc_ms(wj_hlc_t h) { return h >> 16; }
