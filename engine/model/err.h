/* err.h: errors as values. One struct travels up from any layer to the
 * response; codes are PROTOCOL.md's, in the order PROTOCOL.md ranks them. */
#ifndef CORDER_ERR_H
#define CORDER_ERR_H

#include <stdarg.h>
#include <stdint.h>

typedef enum {
    ERR_NONE = 0,
    ERR_BAD_REQUEST,
    ERR_UNKNOWN_OP,
    ERR_UNAUTHENTICATED,
    ERR_FORBIDDEN,
    ERR_NOT_FOUND,
    ERR_VALIDATION,
    ERR_INVALID_STATE,
    ERR_CONFLICT,
    ERR_APPROVAL_REQUIRED,
    ERR_PAYMENT_MISMATCH,
    ERR_POLICY_ERROR,
    ERR_HQ_UNAVAILABLE,
    ERR_INTERNAL,
} err_code;

typedef struct {
    err_code code;
    char message[512];
    char field[128];     /* details.field for validation/bad_request, or "" */
    char permission[64]; /* details.permission for approval_required, or "" */
    int64_t due;         /* details.due for payment_mismatch */
    int has_due;
    int64_t refund; /* details.refund for payment_mismatch of refunds (R1) */
    int has_refund;
    char extra[192]; /* more members of details, as a JSON object's text, or "" */
} err_t;

/* Sets *e and returns -1 so that callers can write `return err_set(...)`. */
int err_set(err_t *e, err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_field(err_t *e, err_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_clear(err_t *e);
const char *err_code_name(err_code code);
/* Makes s valid UTF-8 in place, each bad byte becoming '?': messages are cut
 * to fixed buffers (which can split a character) and may quote a policy's
 * own error text, and an answer must always be valid JSON. */
void err_utf8_clean(char *s);

#endif
