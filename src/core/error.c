/* error.c — status names and error-message helpers. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *slm_status_name(slm_status status) {
    switch (status) {
    case SLM_OK: return "ok";
    case SLM_ERR_IO: return "i/o error";
    case SLM_ERR_FORMAT: return "format error";
    case SLM_ERR_UNSUPPORTED: return "unsupported";
    case SLM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SLM_ERR_OUT_OF_MEMORY: return "out of memory";
    case SLM_ERR_CONTEXT_FULL: return "context full";
    }
    return "unknown status";
}

void slm_free(void *ptr) { free(ptr); }

slm_status slm_fail(slm_error *err, slm_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

slm_status slm_error_prefix(slm_error *err, const char *prefix) {
    if (!err) return SLM_ERR_INVALID_ARGUMENT;
    /* Shift the old message right, then write the prefix in front; the tail may be cut. */
    size_t cap = sizeof err->message, p = strlen(prefix) + 2;
    if (p >= cap) p = cap - 1;
    size_t old = strnlen(err->message, cap - 1);
    if (old > cap - 1 - p) old = cap - 1 - p;
    memmove(err->message + p, err->message, old);
    err->message[p + old] = '\0';
    memcpy(err->message, prefix, p >= 2 ? p - 2 : 0);
    if (p >= 2) memcpy(err->message + p - 2, ": ", 2);
    return err->status;
}

void slm_error_clear(slm_error *err) {
    if (err) {
        err->status = SLM_OK;
        err->message[0] = '\0';
    }
}
