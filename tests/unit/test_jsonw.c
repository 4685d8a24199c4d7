/* test_jsonw.c: jsonw_dumps writes the same bytes as json_dumps(JSON_COMPACT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/jsonw.h"

static int failures;

static void ok(int cond, const char *what)
{
    printf("%s - %s\n", cond ? "ok" : "not ok", what);
    if (!cond) failures++;
}

static void same(json_t *v, const char *what)
{
    char *a = json_dumps(v, JSON_COMPACT);
    size_t n = 0;
    char *b = jsonw_dumps(v, &n);
    if ((a == NULL) != (b == NULL) || (a && (strcmp(a, b) || n != strlen(a)))) {
        printf("not ok - %s\n  jansson: %s\n  jsonw:   %s\n", what, a ? a : "(null)",
               b ? b : "(null)");
        failures++;
    } else {
        printf("ok - %s\n", what);
    }
    free(a);
    free(b);
    json_decref(v);
}

int main(void)
{
    json_error_t e;
    same(json_object(), "empty object");
    same(json_array(), "empty array");
    same(json_integer(5), "a bare integer is refused, as by jansson");
    same(json_null(), "a bare null is refused");
    same(json_loads("{\"a\":1,\"b\":[true,false,null,-9223372036854775807,0,-1],\"c\":{}}", 0, &e),
         "scalars and nesting");
    same(json_loads("{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":\"x\"}}", 0, &e),
         "insertion order is kept");
    same(json_loads("[\"q\\\"b\\\\s\\/ \\b\\f\\n\\r\\t \\u0001\\u001f\\u007f \\u00e9\\u20ac"
                    "\\ud83d\\ude00 \\u0000 end\"]",
                    0, &e),
         "string escapes, control characters, non-ASCII, NUL");
    same(json_loads("{\"k\\n\\u0000y\":\"v\"}", JSON_ALLOW_NUL, &e), "escaped keys");
    same(json_loads("[1.5,0.1,1e300,-2.0,100.0,1e-7]", 0, &e), "reals as jansson writes them");
    /* the eight-byte scan: each byte that needs an escape, and bytes that
     * look close to one (space, '!', '[', ']', DEL, two- and three-byte
     * UTF-8), at every position of strings of 0 to 24 bytes */
    {
        static const char *const probes[] = {"\"",       "\\",       "\x01",        "\x1f", "\n",
                                             " ",        "!",        "[",           "]",    "\x7f",
                                             "\xc2\xa2", "\xc3\x9c", "\xe2\x82\xac"};
        int bad = 0, n = 0;
        for (size_t len = 0; len <= 24; len++)
            for (size_t at = 0; at <= len; at++)
                for (size_t p = 0; p < sizeof probes / sizeof *probes; p++) {
                    char s[40];
                    size_t k = 0;
                    for (size_t i = 0; i < at; i++)
                        s[k++] = (char)('a' + (int)(i % 26));
                    for (const char *q = probes[p]; *q; q++)
                        s[k++] = *q;
                    for (size_t i = at; i < len; i++)
                        s[k++] = (char)('A' + (int)(i % 26));
                    json_t *v = json_pack("[s%]", s, k);
                    char *a = v ? json_dumps(v, JSON_COMPACT) : NULL;
                    char *b = v ? jsonw_dumps(v, NULL) : NULL;
                    if (!a || !b || strcmp(a, b)) bad++;
                    n++;
                    free(a);
                    free(b);
                    json_decref(v);
                }
        ok(bad == 0 && n > 4000, "escapes found at every position of short strings");
    }
    json_t *big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, json_pack("{s:i, s:s}", "n", i, "s", "line of text"));
    same(big, "a large array");
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 3000; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    same(deep, "3000 levels deep");
    /* F8: the log's request leaves out every "pin", however deep or wide
     * (the copy it replaced searched at most 64 containers) */
    json_t *req = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(req, json_pack("{s:i, s:{s:s, s:s}}", "line", i, "approval", "staff",
                                             "1002", "pin", "9999"));
    char *text = jsonw_dumps_without(req, "pin", NULL);
    json_t *back = text ? json_loads(text, 0, NULL) : NULL;
    ok(text && !strstr(text, "9999") && !strstr(text, "pin"), "no PIN in 100 approvals");
    ok(back && json_array_size(back) == 100 &&
           !strcmp(json_string_value(json_object_get(
                       json_object_get(json_array_get(back, 99), "approval"), "staff")),
                   "1002"),
       "the rest kept");
    free(text);
    json_decref(back);
    json_decref(req);
    printf("1..14\n");
    return failures ? 1 : 0;
}
