/* error.h — filling slm_error values. Every failing path in the library
 * returns through slm_fail() so the caller gets a status and a message. */
#ifndef SLM_CORE_ERROR_H
#define SLM_CORE_ERROR_H

#include "slm.h"

#if defined(__GNUC__)
#define SLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SLM_PRINTF(a, b)
#endif

/* Records status and a printf-style message in err (which may be NULL) and returns status. */
slm_status slm_fail(slm_error *err, slm_status status, const char *fmt, ...) SLM_PRINTF(3, 4);

/* Prefixes err's message with "prefix: " (e.g. a file name) and returns its status. */
slm_status slm_error_prefix(slm_error *err, const char *prefix);

void slm_error_clear(slm_error *err);

#endif
