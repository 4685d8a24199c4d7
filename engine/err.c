/* err.c: filling and naming error values (see err.h). */
#include "err.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = {
    "ok",
    "bad_request",
    "unknown_op",
    "unauthenticated",
    "forbidden",
    "not_found",
    "validation",
    "invalid_state",
    "conflict",
    "approval_required",
    "payment_mismatch",
    "policy_error",
    "hq_unavailable",
    "internal",
};

const char *err_code_name(err_code code)
{
    if ((unsigned)code >= sizeof names / sizeof names[0]) return "internal";
    return names[code];
}

void err_clear(err_t *e)
{
    memset(e, 0, sizeof *e);
}

static void err_vset(err_t *e, err_code code, const char *fmt, va_list ap)
{
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

int err_set(err_t *e, err_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    e->field[0] = '\0';
    return -1;
}

int err_field(err_t *e, err_code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    snprintf(e->field, sizeof e->field, "%s", field);
    return -1;
}
