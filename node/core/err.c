/* The error convention (err.h): filling wj_err_t, code names, and the
 * invariant checks behind wj_require() and wj_fails_assert(). */
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wj_err_vset(wj_err_t *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		err->n_allowed = 0;
		if (fmt)
			vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		else
			err->msg[0] = '\0';
	}
	return code;
}

int wj_err_set(wj_err_t *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wj_err_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void wj_err_clear(wj_err_t *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
	err->n_allowed = 0;
	memset(err->allowed, 0, sizeof(err->allowed));
}

const char *wj_err_name(int code)
{
	switch (code) {
	case WJ_OK:		return "ok";
	case WJ_EBADREQ:	return "bad request";
	case WJ_ENOTFOUND:	return "not found";
	case WJ_ENOTALLOWED:	return "not allowed";
	case WJ_EINVAL:		return "invalid";
	case WJ_EFULL:		return "storage full";
	case WJ_EINTERNAL:	return "internal error";
	case WJ_EBUSY:		return "busy";
	case WJ_EEXIST:		return "already exists";
	case WJ_ESCHEMA:	return "schema mismatch";
	case WJ_EIO:		return "I/O error";
	default:		return "unknown error";
	}
}

void wj__require_failed(const char *expr, const char *file, int line)
{
	fprintf(stderr, "wuji: assertion failed: %s (%s:%d)\n", expr, file, line);
	fflush(stderr);
	abort();
}

int wj__assert_failed(const char *expr, const char *file, int line)
{
	fprintf(stderr, "wuji: assertion failed (recovering): %s (%s:%d)\n",
		expr, file, line);
	return 1;
}
