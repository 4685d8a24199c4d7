/* test_schema.c: the argument schema of the op table (model/schema.h).
 * PROTOCOL: a missing, mistyped or unknown field anywhere in a request's
 * args is bad_request, and details.field names its full path; one schema
 * per op yields both the check and its messages. */
#include <string.h>

#include "model/schema.h"
#include "t.h"

#define DELIVERY                                                                                   \
    "{mode:s=ship address:s date:s method:s? | mode:s=pickup store:s date:s | mode:s=carryout}"

static const char *order_schema = "number:s lines:[item:s qty:i delivery:" DELIVERY "] "
                                  "approval:{staff:s pin:s}? tags:a? note:s?";

/* Checks args (JSON text) and expects either success (field NULL) or a
 * bad_request on that field with a message starting with msg. */
static void expect(const schema *s, const char *args, const char *field, const char *msg)
{
    json_t *j = json_loads(args, 0, NULL);
    CHECK(j != NULL, "test input parses: %s", args);
    err_t err = {0};
    int rc = schema_check(s, j, &err);
    if (!field) {
        CHECK(rc == 0, "%s accepted (got %s)", args, err.message);
    } else {
        CHECK(rc < 0 && err.code == ERR_BAD_REQUEST, "%s refused as bad_request", args);
        CHECK(!strcmp(err.field, field), "%s: field %s, want %s", args, err.field, field);
        CHECK(!strncmp(err.message, msg, strlen(msg)), "%s: message '%s', want '%s…'", args,
              err.message, msg);
    }
    json_decref(j);
}

int main(void)
{
    err_t err = {0};
    schema *s = schema_compile(order_schema, &err);
    CHECK(s != NULL, "order schema compiles: %s", err.message);

    const char *ok =
        "{\"number\":\"N1\",\"lines\":[{\"item\":\"P1\",\"qty\":1,"
        "\"delivery\":{\"mode\":\"ship\",\"address\":\"home\",\"date\":\"2026-12-24\"}},"
        "{\"item\":\"P2\",\"qty\":2,\"delivery\":{\"mode\":\"carryout\"}}]}";
    expect(s, ok, NULL, NULL);
    /* null counts as absent for an optional key */
    expect(s, "{\"number\":\"N\",\"lines\":[],\"note\":null}", NULL, NULL);

    /* top level */
    expect(s, "{\"lines\":[]}", "number", "number: required");
    expect(s, "{\"number\":1,\"lines\":[]}", "number", "number: expected a string");
    expect(s, "{\"number\":\"N\",\"lines\":[],\"x\":1}", "x", "x: unknown field");
    expect(s, "{\"number\":\"N\",\"lines\":[],\"\":1}", "", ": unknown field");
    /* nested: array items, objects, the shape picked by delivery.mode */
    expect(s, "{\"number\":\"N\",\"lines\":[7]}", "lines[0]", "lines[0]: expected an object");
    expect(s, "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":\"1\"}]}", "lines[0].qty",
           "lines[0].qty: expected an integer");
    expect(s, "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1,\"colour\":\"red\"}]}",
           "lines[0].colour", "lines[0].colour: unknown field");
    expect(s, "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1}]}", "lines[0].delivery",
           "lines[0].delivery: required");
    expect(s,
           "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1,\"delivery\":"
           "{\"mode\":\"pickup\",\"store\":\"S1\",\"date\":\"2026-12-24\",\"address\":\"home\"}}]}",
           "lines[0].delivery.address", "lines[0].delivery.address: unknown field");
    expect(s,
           "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1,\"delivery\":"
           "{\"mode\":\"drone\"}}]}",
           "lines[0].delivery.mode",
           "lines[0].delivery.mode: 'drone' is not ship, pickup or carryout");
    expect(
        s,
        "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1,\"delivery\":{\"date\":\"x\"}}]}",
        "lines[0].delivery.mode", "lines[0].delivery.mode: required");
    expect(s,
           "{\"number\":\"N\",\"lines\":[{\"item\":\"P\",\"qty\":1,\"delivery\":"
           "{\"mode\":\"ship\",\"address\":\"home\"}}]}",
           "lines[0].delivery.date", "lines[0].delivery.date: required");
    expect(s,
           "{\"number\":\"N\",\"lines\":[],\"approval\":{\"staff\":\"1\",\"pin\":\"1\",\"x\":1}}",
           "approval.x", "approval.x: unknown field");
    expect(s, "{\"number\":\"N\",\"lines\":[],\"approval\":{\"staff\":\"1\"}}", "approval.pin",
           "approval.pin: required");
    schema_free(s);

    /* A schema that does not compile is refused with a reason (the op
     * table fails its start-up on it). */
    const char *bad[] = {"name", "name:x", "lines:[item:s", "a:{m:s=x | n:s}", "a:s=", NULL};
    for (const char **b = bad; *b; b++) {
        err_t e = {0};
        schema *x = schema_compile(*b, &e);
        CHECK(x == NULL && e.message[0], "'%s' refused (%s)", *b, e.message);
        schema_free(x);
    }
    /* A shape of 70 fields: the checker marks the first 64 present in a
     * bit set and looks the rest up; a required field on either side of
     * that line, or null, is still missing. */
    char wide[1024] = "", args[1024];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(wide + n, sizeof wide - n, "f%d:i%s ", i, i % 2 ? "?" : "");
    schema *w = schema_compile(wide, &err);
    CHECK(w != NULL, "a 70-field schema compiles: %s", err.message);
    /* the even fields (the required ones), f<skip> left out, f<nul> null */
#define WIDE_ARGS(skip, nul)                                                                       \
    do {                                                                                           \
        n = (size_t)snprintf(args, sizeof args, "{\"f0\":0");                                      \
        for (int i = 2; i < 70; i += 2)                                                            \
            if (i == (nul))                                                                        \
                n += (size_t)snprintf(args + n, sizeof args - n, ",\"f%d\":null", i);              \
            else if (i != (skip))                                                                  \
                n += (size_t)snprintf(args + n, sizeof args - n, ",\"f%d\":%d", i, i);             \
        snprintf(args + n, sizeof args - n, "}");                                                  \
    } while (0)
    WIDE_ARGS(-1, -1);
    expect(w, args, NULL, NULL);
    WIDE_ARGS(66, -1);
    expect(w, args, "f66", "f66: required");
    WIDE_ARGS(-1, 68);
    expect(w, args, "f68", "f68: required");
    WIDE_ARGS(-1, 2);
    expect(w, args, "f2", "f2: required");
    WIDE_ARGS(4, -1);
    expect(w, args, "f4", "f4: required");
#undef WIDE_ARGS
    schema_free(w);

    schema *empty = schema_compile("", &err);
    CHECK(empty != NULL, "the empty schema compiles");
    expect(empty, "{}", NULL, NULL);
    expect(empty, "{\"a\":1}", "a", "a: unknown field");
    schema_free(empty);
    return T_DONE();
}
