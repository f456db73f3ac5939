/* libFuzzer target for the catalog file parser: any bytes must give a
 * catalog or an error message, never a crash, a hang or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Wuji__Catalog *cat = NULL;
	wj_arena_t arena;
	wj_err_t err = { 0 };
	int rc;

	wj_arena_init(&arena, 0);
	rc = wj_catalog_parse("fuzz.yaml", (const char *)data, size, &arena,
			      &cat, &err);
	/* Whatever passed the parser must pass the daemon's own check, and
	 * a failure must say something. */
	if (rc == 0) {
		wj_require(cat && cat->n_items > 0);
		for (size_t i = 0; i < cat->n_items; i++)
			wj_require(wj_catalog_item_validate(cat->items[i],
							    NULL) == 0);
	} else {
		wj_require(err.msg[0] != '\0');
		wj_require(strlen(err.msg) < sizeof(err.msg));
	}
	wj_arena_free(&arena);
	return 0;
}
