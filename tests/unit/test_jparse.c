/* test_jparse.c: the request reader's fast path (model/jparse.h). PROTOCOL:
 * a request line means the same whichever reader takes it. Whenever jparse
 * returns a tree, json_loadb(JSON_REJECT_DUPLICATES) must accept the same
 * line and give an equal tree, keys in the same order; the lines a till
 * sends (order.create with lines, payments, escapes in a note) must take
 * the fast path; and over many random mutations of such lines the two
 * never disagree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/jparse.h"
#include "t.h"

/* 1 when jparse declined or agreed with jansson, 0 on a disagreement. */
static int agrees(const char *s, size_t n)
{
    json_t *fast = jparse(s, n);
    if (!fast) return 1;
    json_error_t e;
    json_t *slow = json_loadb(s, n, JSON_REJECT_DUPLICATES, &e);
    int ok = 0;
    if (slow) {
        char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(slow, JSON_COMPACT | JSON_ENCODE_ANY);
        ok = a && b && !strcmp(a, b) && json_equal(fast, slow);
        free(a);
        free(b);
    }
    json_decref(fast);
    json_decref(slow);
    return ok;
}

static const char *const fast_lines[] = {
    "{\"id\":1,\"op\":\"order.create\",\"args\":{\"customer\":\"C0001\",\"lines\":[{\"item\":"
    "\"P100\",\"qty\":1,\"delivery\":{\"mode\":\"ship\",\"address\":\"home\",\"date\":"
    "\"2027-01-11\"}},{\"item\":\"P200\",\"qty\":2,\"delivery\":{\"mode\":\"pickup\",\"store\":"
    "\"S002\",\"date\":\"2027-01-11\"}},{\"item\":\"P300\",\"qty\":1,\"delivery\":{\"mode\":"
    "\"carryout\"}}],\"payments\":[{\"tender\":\"card\",\"amount\":21176}]}}",
    "  {\"id\": -7, \"op\": \"ping\", \"args\": {}}\r\n",
    "{\"id\":\"x\",\"op\":\"order.hold\",\"args\":{\"note\":\"line\\nbreak \\\"q\\\" \\\\ \\/ "
    "\\t\","
    "\"on\":true,\"off\":false,\"none\":null,\"empty\":[],\"o\":{}}}",
    "[1,-0,999999999999999999,-999999999999999999,\"\",[[[]]]]",
    /* keys that share a prefix are different keys */
    "{\"a\":1,\"ab\":2,\"b\":3,\"\":4,\"abc\":5}",
};

static const char *const declined[] = {
    "{\"a\":1,\"a\":2}", /* repeated key: jansson's error */
    /* repeated after 8 keys (compared in order) and after 9 (hashed) */
    "{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k8\":0}",
    "{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
    "\"k1\":0}",
    "{\"a\":1.5}",                 /* a real */
    "{\"a\":1e3}",                 /* an exponent */
    "{\"a\":9223372036854775808}", /* too big */
    "{\"a\":\"\\u00e9\"}",         /* \u */
    "{\"a\":\"\xc3\xa9\"}",        /* UTF-8: jansson validates it */
    "{\"a\":\"\x01\"}",            /* a control character */
    "{\"a\":01}",                  /* a leading zero */
    "{\"a\":1} x",                 /* after the value */
    "\"top\"",                     /* not an object or array */
    "{\"a\":tru}",
    "{\"a\":[1,]}",
    "{\"a\" 1}",
    "{,}",
    "",
};

/* jparse_member's span of "args" (the log keeps that text, dispatch.c):
 * when given, it reads back as the tree's args member exactly. */
static int span_agrees(const char *s, size_t n)
{
    size_t off, len;
    json_t *v = jparse_member(s, n, "args", &off, &len);
    int ok = 1;
    if (v && len) {
        json_t *a = json_loadb(s + off, len, JSON_REJECT_DUPLICATES, NULL);
        ok = a && json_equal(a, json_object_get(v, "args"));
        json_decref(a);
    } else if (v) {
        ok = !json_is_object(v) || !json_object_get(v, "args");
    }
    json_decref(v);
    return ok;
}

static void test_member_span(void)
{
    size_t off, n;
    const char *line = "{\"op\":\"x\", \"args\" :  {\"a\": [1, {\"args\":2}]} , \"id\":3}";
    json_t *v = jparse_member(line, strlen(line), "args", &off, &n);
    CHECK(v && n == strlen("{\"a\": [1, {\"args\":2}]}") &&
              !memcmp(line + off, "{\"a\": [1, {\"args\":2}]}", n),
          "the top-level member's value, as spelled, without the blanks around it");
    json_decref(v);
    const char *nested = "{\"op\":\"x\",\"id\":{\"args\":1}}";
    v = jparse_member(nested, strlen(nested), "args", &off, &n);
    CHECK(v && n == 0, "a nested member of that name is not it");
    json_decref(v);
    const char *escaped = "{\"args\":\"\\u00e9\"}";
    v = jparse_member(escaped, strlen(escaped), "args", &off, &n);
    CHECK(!v && n == 0, "a line jparse declines gives no span");
    const char *array = "[{\"args\":1}]";
    v = jparse_member(array, strlen(array), "args", &off, &n);
    CHECK(v && n == 0, "an array has no members");
    json_decref(v);
}

int main(void)
{
    test_member_span();
    for (size_t i = 0; i < sizeof fast_lines / sizeof *fast_lines; i++) {
        json_t *v = jparse(fast_lines[i], strlen(fast_lines[i]));
        CHECK(v != NULL, "fast path taken: %s", fast_lines[i]);
        json_decref(v);
        CHECK(agrees(fast_lines[i], strlen(fast_lines[i])), "agrees: %s", fast_lines[i]);
    }
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        json_t *v = jparse(declined[i], strlen(declined[i]));
        CHECK(v == NULL, "declined: %s", declined[i]);
        json_decref(v);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(jparse(deep, sizeof deep) == NULL, "100 levels: jansson's");
    CHECK(jparse("{\"a\":1}\0", 8) == NULL, "a NUL after the value");

    /* random mutations of the lines above: flip, drop, duplicate bytes */
    static const char alphabet[] = "{}[]\":,\\ -0123456789.eEtrufalsn\x01\x7f\xc3\xa9u";
    srand(12345);
    int disagreements = 0, tried = 0, bad_spans = 0;
    for (int round = 0; round < 20000; round++) {
        const char *base = fast_lines[round % 3];
        size_t n = strlen(base);
        char buf[1024];
        if (n >= sizeof buf - 8) continue;
        memcpy(buf, base, n);
        for (int m = 0, muts = 1 + rand() % 3; m < muts; m++) {
            size_t at = (size_t)rand() % n;
            switch (rand() % 3) {
            case 0:
                buf[at] = alphabet[rand() % (int)(sizeof alphabet - 1)];
                break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(buf + at + 1, buf + at, n - at);
                n++;
                break;
            }
        }
        tried++;
        if (!agrees(buf, n)) {
            if (disagreements++ < 5) fprintf(stderr, "disagree: %.*s\n", (int)n, buf);
        }
        if (!span_agrees(buf, n)) {
            if (bad_spans++ < 5) fprintf(stderr, "span: %.*s\n", (int)n, buf);
        }
    }
    CHECK(disagreements == 0, "%d of %d mutated lines read differently", disagreements, tried);
    CHECK(bad_spans == 0, "%d of %d mutated lines gave a wrong args span", bad_spans, tried);
    return T_DONE();
}
