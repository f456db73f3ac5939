/* libFuzzer target for the calendar file parser: any bytes must give a
 * calendar the daemon accepts or an error message, never a crash or a
 * leak. */
#include <stddef.h>
#include <stdint.h>

#include "core/calendar.h"
#include "core/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Wuji__Calendar *cal = NULL;
	wj_arena_t arena;
	wj_err_t err = { 0 };
	int rc;

	wj_arena_init(&arena, 0);
	rc = wj_calendar_parse("fuzz.yaml", (const char *)data, size, &arena,
			       &cal, &err);
	if (rc == 0) {
		wj_calendar_t *c = wj_calendar_new();

		wj_require(cal && cal->n_years > 0);
		for (size_t i = 0; i < cal->n_years; i++)
			wj_require(wj_calendar_set_year(c, cal->years[i],
							NULL) == 0);
		wj_calendar_free(c);
	} else {
		wj_require(err.msg[0] != '\0');
	}
	wj_arena_free(&arena);
	return 0;
}
