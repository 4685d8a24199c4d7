/* test_engine.c: the engine on its own, linked without Lua (SPEC L1: a
 * hook left out is the default rule). With the built-in policy host every
 * store runs on the SPEC defaults in C: an order is created through the
 * real dispatch with a 10 % deposit (P1), a quote expires after 30 days
 * (P7), a cancel charges 5 % (P6), the manager holds every permission (A2),
 * and a store naming another policy is refused at open. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "store/seed.h"
#include "t.h"

static char dir[] = "/tmp/corder-test-engine.XXXXXX";

static json_t *call(engine *e, session *s, const char *line)
{
    bool w;
    size_t n;
    json_t *id;
    char *text = dispatch_line_text(e, s, line, strlen(line), &w, &n, &id);
    json_decref(id);
    json_t *r = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    return r;
}

static json_t *result_of(json_t *r);

/* The request text the log keeps for op on order number (a copy). */
static char *logged_request(engine *e, const char *number, const char *op)
{
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(engine_db(e),
                           "SELECT request FROM txlog WHERE order_number = ? AND op = ?"
                           " ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, op, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* An order.create of one pickup line paid in cash; its number (owned). */
static char *create_one(engine *e, session *s, const char *args_text)
{
    char line[1024];
    snprintf(line, sizeof line, "{\"op\":\"order.create\",\"args\":%s}", args_text);
    json_t *r = call(e, s, line);
    json_t *o = result_of(r);
    char *number = strdup(json_string_value(json_object_get(o, "number")));
    json_decref(r);
    return number;
}

/* SPEC F8: the log keeps each request's args without any PIN. The args as
 * the line spells them are kept as they are when they hold no escape and
 * no "pin" (dispatch.c); a line naming a PIN, plainly or through a \u
 * escape, has its args written again without it. */
static void test_logged_requests(engine *e, session *s)
{
    const char *spelled = "{ \"customer\": \"C0001\", \"lines\": [{\"item\": \"P200\","
                          " \"qty\": 2, \"delivery\": {\"mode\": \"pickup\", \"store\":"
                          " \"S001\", \"date\": \"2099-01-01\"}}], \"payments\":"
                          " [{\"tender\": \"cash\", \"amount\": 2580}] }";
    char *number = create_one(e, s, spelled);
    char *req = logged_request(e, number, "order.create");
    CHECK(req && !strcmp(req, spelled), "the args as spelled: %s", req ? req : "(none)");
    json_t *a = json_loads(spelled, 0, NULL), *b = req ? json_loads(req, 0, NULL) : NULL;
    CHECK(a && b && json_equal(a, b), "and they read back as the args");
    json_decref(a);
    json_decref(b);
    free(req);
    static const char *const pins[] = {"\"pin\"", "\"p\\u0069n\""};
    for (int i = 0; i < 2; i++) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"op\":\"order.cancel\",\"args\":{\"number\":\"%s\",\"charge_override\":"
                 "{\"amount\":0,\"approval\":{\"staff\":\"1002\",%s:\"9999\"}}}}",
                 number, pins[i]);
        json_t *r = call(e, s, line);
        result_of(r);
        json_decref(r);
        req = logged_request(e, number, "order.cancel");
        b = req ? json_loads(req, 0, NULL) : NULL;
        json_t *ovr = json_object_get(b, "charge_override");
        CHECK(b && !strstr(req, "9999") && json_is_object(json_object_get(ovr, "approval")) &&
                  !json_object_get(json_object_get(ovr, "approval"), "pin") &&
                  json_integer_value(json_object_get(ovr, "amount")) == 0,
              "%s: the cancel logged without the PIN: %s", pins[i], req ? req : "(none)");
        json_decref(b);
        free(req);
        free(number);
        if (i == 0) number = create_one(e, s, spelled);
    }
}

static json_t *result_of(json_t *r)
{
    CHECK(json_is_true(json_object_get(r, "ok")), "answer: %s",
          json_string_value(json_object_get(json_object_get(r, "error"), "message")));
    return json_object_get(r, "result");
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char db[300], seed[300];
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(seed, sizeof seed, "%s/tests/e2e/seed.json",
             getenv("CORDER_ROOT") ? getenv("CORDER_ROOT") : ".");
    err_t err = {0};
    engine_config init = {.db_path = db, .no_policies = true};
    engine *e = engine_open(&init, &err);
    json_t *sj = json_load_file(seed, 0, NULL);
    CHECK(e && sj && seed_apply(e, sj, &err) == 0, "seed: %s", err.message);
    json_decref(sj);
    engine_close(e);

    /* No policy_impl: the built-in host, no Lua anywhere. */
    engine_config cfg = {.db_path = db};
    e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open: %s", err.message);
    session s = {0};
    json_t *r = call(e, &s,
                     "{\"op\":\"session.login\",\"args\":{\"store\":\"S001\",\"staff\":\"1002\","
                     "\"pin\":\"9999\"}}");
    result_of(r);
    json_decref(r);

    /* P1: 10 % of the pickup line (P200, 2 x 129.00) = 25.80 */
    char line[1024];
    snprintf(line, sizeof line,
             "{\"op\":\"order.create\",\"args\":{\"customer\":\"C0001\",\"lines\":[{\"item\":"
             "\"P200\",\"qty\":2,\"delivery\":{\"mode\":\"pickup\",\"store\":\"S001\",\"date\":"
             "\"2099-01-01\"}}],\"payments\":[{\"tender\":\"cash\",\"amount\":2580}]}}");
    r = call(e, &s, line);
    json_t *o = result_of(r);
    CHECK(json_integer_value(json_object_get(json_object_get(o, "deposit"), "required")) == 2580,
          "deposit");
    CHECK(!strcmp(json_string_value(json_object_get(o, "policy_version")), "builtin"),
          "decided by the built-in rules");
    const char *number = json_string_value(json_object_get(o, "number"));
    char cancel[256];
    snprintf(cancel, sizeof cancel, "{\"op\":\"order.cancel\",\"args\":{\"number\":\"%s\"}}",
             number);
    json_decref(r);

    /* F6/P3: 5 % of the open lines = 12.90, booked under CANCEL */
    r = call(e, &s, cancel);
    o = result_of(r);
    json_t *c = json_object_get(o, "cancellation");
    CHECK(json_integer_value(json_object_get(c, "charge")) == 1290, "cancellation charge");
    CHECK(!strcmp(json_string_value(json_object_get(c, "code")), "CANCEL"), "charge code");
    json_decref(r);

    test_logged_requests(e, &s);

    /* policy.info: the defaults, as the Lua host would show them */
    r = call(e, &s, "{\"op\":\"policy.info\",\"args\":{}}");
    o = result_of(r);
    CHECK(json_integer_value(
              json_object_get(json_object_get(o, "parameters"), "default_deposit_pct")) == 10,
          "parameters");
    json_decref(r);
    engine_close(e);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return T_DONE();
}
