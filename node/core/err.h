/* Error convention for every wuji library.
 *
 * A function returns 0 on success or a negative WJ_E* code.  When it is
 * given a wj_err_t it also fills it with a sentence a user can act on: what
 * was wrong and what to do.  The codes are the negated protobuf ErrorCode
 * values, so the control API turns an error into a reply without a table.
 * A function that fails leaves its outputs untouched unless it says so. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define WJ_OK 0
#define WJ_EBADREQ (-1)   /* malformed request or input */
#define WJ_ENOTFOUND (-2)
#define WJ_ENOTALLOWED (-3) /* transition not allowed in this state */
#define WJ_EINVAL (-4)    /* well-formed but refused */
#define WJ_EFULL (-5)     /* LMDB map or disk full */
#define WJ_EINTERNAL (-6)
#define WJ_EBUSY (-7)
#define WJ_EEXIST (-8)    /* already present (an event applied before) */
#define WJ_ESCHEMA (-9)   /* data written by another schema version */
#define WJ_EIO (-10)      /* file or OS error */

#define WJ_ERR_ALLOWED_MAX 12

typedef struct wj_err {
	int code;            /* one of WJ_E*, 0 when no error was set */
	char msg[512];
	/* For WJ_ENOTALLOWED: the commands that are allowed (static strings). */
	const char *allowed[WJ_ERR_ALLOWED_MAX];
	size_t n_allowed;
} wj_err_t;

/* Sets err (when not NULL) and returns code, so callers can write
 * `return wj_err_set(err, WJ_EINVAL, "...", ...);`. */
int wj_err_set(wj_err_t *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int wj_err_vset(wj_err_t *err, int code, const char *fmt, va_list ap);
void wj_err_clear(wj_err_t *err);
/* A short name for a code: "bad request", "not found", ... */
const char *wj_err_name(int code);

/* Invariant checks.  wj_require aborts with file and line: for broken
 * invariants that make continuing unsafe.  wj_fails_assert logs and
 * evaluates to true so the caller can recover:
 *     if (wj_fails_assert(n < max)) return WJ_EINTERNAL; */
void wj__require_failed(const char *expr, const char *file, int line)
	__attribute__((noreturn));
int wj__assert_failed(const char *expr, const char *file, int line);
#define wj_require(x) ((x) ? (void)0 : wj__require_failed(#x, __FILE__, __LINE__))
#define wj_fails_assert(x) ((x) ? 0 : wj__assert_failed(#x, __FILE__, __LINE__))
