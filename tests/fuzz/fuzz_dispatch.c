/* fuzz_dispatch.c: libFuzzer target for the request parser and dispatcher.
 *
 * One engine for the whole run, on a temp-file store seeded from
 * examples/seed.json, with the clock pinned (so dates in the corpus stay
 * valid) and synchronous=OFF (durability is not under test; speed is). An
 * input is up to 32 request lines, each run through dispatch_line as the
 * server would, with a session signed in as cashier 1001 at S001 (a line may
 * sign in as someone else; the next input starts signed in again). Every
 * answer must be a response object of PROTOCOL.md's shape, and jsonw must
 * write it byte for byte as json_dumps does. After every answer that is ok
 * with an order, order.get of its number must answer ok: every document the
 * engine writes reads back (fuzz_order.c checks the round trip itself).
 * Every line jparse reads (the fast request reader) jansson must read the
 * same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/jparse.h"
#include "store/auth.h"
#include "ops/dispatch.h"
#include "store/engine.h"
#include "model/jsonw.h"
#include "store/seed.h"
#include "host/policy_lua.h"
#include "fuzz_tmp.h"

#define FUZZ_NOW INT64_C(1893499200) /* 2030-01-01T12:00:00Z */
#define MAX_LINES 32

static engine *eng;

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_dispatch: %s: %s\n", what, why);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char db[96];
    if (!fuzz_tmp_db("fuzz_dispatch", db, sizeof db)) fail("mkdtemp", "failed");
    setenv("CORDER_NOW", "1893499200", 1);
    err_t err = {0};
    json_error_t jerr;
    json_t *seed = json_load_file(CORDER_SOURCE_DIR "/examples/seed.json", 0, &jerr);
    if (!seed) fail("seed", jerr.text);
    engine_config cfg = {
        .db_path = db, .policies_dir = CORDER_SOURCE_DIR "/policies", .policy_impl = &policy_lua};
    eng = engine_open(&cfg, &err);
    if (!eng || seed_apply(eng, seed, &err) < 0) fail("engine", err.message);
    json_decref(seed);
    sqlite3_exec(engine_db(eng), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    engine_set_now(eng, FUZZ_NOW);
    /* Remember the right PINs once, so a login costs a hash compare, not
     * crypto_pwhash (tens of ms) on every input that signs in. */
    static const char *const pins[][2] = {
        {"1001", "1234"}, {"1002", "9999"}, {"1003", "5678"}, {"1004", "4321"}};
    for (size_t i = 0; i < sizeof pins / sizeof *pins; i++) {
        auth_staff who;
        auth_check(eng, pins[i][0], pins[i][1], &who, &err);
    }
    unlink(db); /* the open handle keeps it; the rest goes at exit (fuzz_tmp.h) */
    return 0;
}

static void check_response(json_t *r)
{
    if (!json_is_object(r)) fail("response", "not an object");
    json_t *ok = json_object_get(r, "ok");
    if (!json_is_boolean(ok) || !json_object_get(r, "id")) fail("response", "no ok or id");
    json_t *code = json_object_get(json_object_get(r, "error"), "code");
    if (json_is_true(ok) ? !json_object_get(r, "result") : !json_is_string(code))
        fail("response", "no result or error code");
    char *text = json_dumps(r, JSON_COMPACT), *fast = jsonw_dumps(r, NULL);
    if (!text || !fast) fail("response", "cannot be written");
    if (strcmp(text, fast)) fail("jsonw", "differs from json_dumps");
    free(text);
    free(fast);
}

static void check_reads_back(json_t *r)
{
    json_t *res = json_object_get(r, "result");
    if (!json_is_true(json_object_get(r, "ok"))) return;
    json_t *o = json_object_get(res, "order");
    const char *number = json_string_value(json_object_get(o ? o : res, "number"));
    if (!number || strstr(number, "-PREVIEW")) return; /* a preview keeps nothing */
    session reader = {
        .signed_in = true, .store = "S001", .staff = "1001", .name = "Ann", .role = "cashier"};
    json_t *req =
        json_pack("{s:i, s:s, s:{s:s}}", "id", 0, "op", "order.get", "args", "number", number);
    bool is_write;
    json_t *got = dispatch_request(eng, &reader, req, &is_write);
    if (!json_is_true(json_object_get(got, "ok"))) {
        char *text = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "order.get %s: %s\n", number, text ? text : "(null)");
        fail("order.get", "an order the engine answered with does not read back");
    }
    json_decref(got);
    json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session s = {
        .signed_in = true, .store = "S001", .staff = "1001", .name = "Ann", .role = "cashier"};
    const char *p = (const char *)data, *end = p + size;
    for (int n = 0; n < MAX_LINES && p < end; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        bool is_write;
        json_t *r;
        /* the fast reader reads a line as jansson does, or declines it */
        json_t *fast = jparse(p, len);
        if (fast) {
            json_t *slow = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
            char *a = json_dumps(fast, JSON_COMPACT),
                 *b = slow ? json_dumps(slow, JSON_COMPACT) : NULL;
            if (!slow || !json_equal(fast, slow) || !a || !b || strcmp(a, b))
                fail("jparse", "read a line differently from jansson");
            free(a);
            free(b);
            json_decref(slow);
            json_decref(fast);
        }
        if (n % 2) { /* the values path (Lua module, REPL): the text answer read back */
            json_t *req = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
            if (!req) {
                p += len + 1;
                continue; /* the text path below sees unreadable lines */
            }
            r = dispatch_request(eng, &s, req, &is_write);
            json_decref(req);
        } else { /* the text path (the server): its answer must be one JSON object */
            size_t tlen;
            json_t *id;
            char *text = dispatch_line_text(eng, &s, p, len, &is_write, &tlen, &id);
            if (!text) fail("dispatch_line_text", "no answer");
            if (strlen(text) != tlen) fail("dispatch_line_text", "length or NUL in the answer");
            r = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, NULL);
            if (!r) fail("dispatch_line_text", "the answer is not JSON");
            free(text);
            json_decref(id);
        }
        check_response(r);
        check_reads_back(r);
        json_decref(r);
        if (engine_in_txn(eng)) fail("dispatch", "left a transaction open");
        p += len + 1;
    }
    return 0;
}
