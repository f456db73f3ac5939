/* libFuzzer target for the config file parser: any bytes must give a
 * config or an error message, and a failed parse must leave the previous
 * values untouched. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static wj_config_t c, before;
	wj_err_t err = { 0 };

	wj_config_defaults(&c);
	before = c;
	if (wj_config_parse(&c, "fuzz.yaml", (const char *)data, size,
			    &err) != 0) {
		wj_require(err.msg[0] != '\0');
		wj_require(memcmp(&c, &before, sizeof(c)) == 0);
	} else {
		wj_require(c.data_dir[0] != '\0' && c.control[0] != '\0');
		wj_require(memchr(c.log_level, '\0', sizeof(c.log_level)));
	}
	return 0;
}
