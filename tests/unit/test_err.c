/* test_err.c: error values. Every answer must be valid JSON, so a message
 * cut inside a UTF-8 character, or quoting a policy's invalid bytes, is
 * cleaned before it is sent (found by fuzz_dispatch). */
#include <string.h>

#include "ops/dispatch.h"
#include "model/err.h"
#include "t.h"

static void clean_is(const char *in, const char *want)
{
    char buf[64];
    strcpy(buf, in);
    err_utf8_clean(buf);
    CHECK(!strcmp(buf, want), "clean(%s) = %s, want %s", in, buf, want);
}

int main(void)
{
    clean_is("plain ascii", "plain ascii");
    clean_is("caf\xc3\xa9", "caf\xc3\xa9"); /* é kept */
    clean_is("cut \xc3", "cut ?");          /* split 2-byte sequence */
    clean_is("cut \xe2\x82", "cut ??");     /* split 3-byte sequence */
    clean_is("euro \xe2\x82\xac ok", "euro \xe2\x82\xac ok");
    clean_is("bad \xff byte", "bad ? byte");
    clean_is("overlong \xc0\xaf", "overlong ??");
    clean_is("surrogate \xed\xa0\x80", "surrogate ???");
    clean_is("emoji \xf0\x9f\x98\x80", "emoji \xf0\x9f\x98\x80");

    /* an error value with broken UTF-8 still becomes an answer */
    err_t e = {0};
    err_field(&e, ERR_POLICY_ERROR, "x\xc3", "policy says \xff\xfe");
    json_t *r = dispatch_error(NULL, &e);
    CHECK(r != NULL, "dispatch_error answered");
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    CHECK(msg && !strcmp(msg, "policy says ??"), "message cleaned: %s", msg ? msg : "(null)");
    json_decref(r);
    return T_DONE();
}
