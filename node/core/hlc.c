/* Hybrid logical clock (hlc.h).  Packing the physical part above the
 * counter lets the whole algorithm run on one integer: "the larger of the
 * clocks, plus one unless wall time moved past it" is exactly the HLC
 * rule, and a counter that overflows carries into the milliseconds. */
#include "core/hlc.h"

#define PHYS_MAX ((UINT64_C(1) << 48) - 1)

static wj_hlc_t advance(wj_hlc_t seen, uint64_t now_ms)
{
	wj_hlc_t wall;

	if (now_ms > PHYS_MAX)
		now_ms = PHYS_MAX;
	wall = (wj_hlc_t)now_ms << 16;
	if (wall > seen)
		return wall;
	/* Saturate rather than wrap to 0 at the end of time. */
	return seen == UINT64_MAX ? seen : seen + 1;
}

wj_hlc_t wj_hlc_tick(wj_hlc_t *state, uint64_t now_ms)
{
	*state = advance(*state, now_ms);
	return *state;
}

wj_hlc_t wj_hlc_recv(wj_hlc_t *state, wj_hlc_t remote, uint64_t now_ms)
{
	*state = advance(*state > remote ? *state : remote, now_ms);
	return *state;
}
