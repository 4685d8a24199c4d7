/* err.c: filling and naming error values (see err.h). */
#include "model/err.h"
#include "model/text.h"

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
    e->extra[0] = '\0';
    return -1;
}

int err_field(err_t *e, err_code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    text_copy(e->field, sizeof e->field, field);
    e->extra[0] = '\0';
    return -1;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

void err_utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = utf8_seq(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}
