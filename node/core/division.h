/* Administrative division codes (统计用区划代码) and the levels they name.
 *
 * A code is 12 digits: 2 province, 2 city, 2 county, 3 township, 3 village,
 * with trailing zeros for higher levels.  A node's ancestor at a level is a
 * truncation of its code, and "X is inside Y's area" is a prefix test. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "proto/wuji.pb-c.h"

typedef Wuji__Level wj_level_t;

#define WJ_DIVISION_MAX 999999999999ULL

/* Parses and validates a 12-digit code: exactly 12 ASCII digits, a non-zero
 * province, and no non-zero part below a zero part (330100000001 is not a
 * code).  Fills err with the reason on failure. */
int wj_division_parse(const char *s, uint64_t *code, wj_err_t *err);
/* Same checks on a number (for codes read from the wire). */
bool wj_division_valid(uint64_t code);
/* Level of a valid code; WUJI__LEVEL__LEVEL_NONE for an invalid one. */
wj_level_t wj_division_level(uint64_t code);
/* Ancestor at `level` (the code itself when it is at that level).
 * Returns 0 when level is below the code's own level. */
uint64_t wj_division_ancestor(uint64_t code, wj_level_t level);
/* The parent (one level up); 0 for a province. */
uint64_t wj_division_parent(uint64_t code);
/* True when code lies inside area (or equals it). */
bool wj_division_inside(uint64_t code, uint64_t area);
/* Writes the 12 digits and a NUL into buf (13 bytes). */
void wj_division_format(uint64_t code, char buf[13]);
