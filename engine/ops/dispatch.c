/* dispatch.c: one request in, one response out (see dispatch.h).
 *
 * The order of checks follows PROTOCOL.md's ranking of error codes: the
 * line must be a JSON object with a known shape (bad_request), the op must
 * exist (unknown_op), the session must be signed in (unauthenticated), and
 * then the op's handler checks the rest in the same order. A write runs in
 * its own SAVEPOINT: a failure rolls back to it, so the store, the log and
 * the numbering are exactly as they were, and the requests that share the
 * same group commit are untouched. */
#include "ops/dispatch.h"
#include "ops/slowlog.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model/args.h"
#include "store/auth.h"
#include "flows/flow.h"
#include "store/idem.h"
#include "model/jparse.h"
#include "model/jsonw.h"
#include "model/schema.h"
#include "store/master.h"
#include "model/text.h"

typedef int (*flow_fn)(flow_ctx *c, json_t **result, err_t *err);

/* An op's result: a jansson value, or JSON text a flow wrote directly. */
typedef struct {
    json_t *json;
    char *text;
    size_t len;
} dresult;

typedef struct {
    const char *op;
    flow_fn flow;   /* a flow run with a flow_ctx, or */
    dispatch_fn fn; /* a plain handler */
    bool writes;
    bool needs_session;
    const char *schema_text; /* the arguments' shape (model/schema.h) */
    schema *shape;           /* compiled once, before the first request */
} op_entry;

static int op_ping(engine *e, session *s, json_t *args, json_t **result, err_t *err);
static int op_login(engine *e, session *s, json_t *args, json_t **result, err_t *err);
static int op_customer_create(engine *e, session *s, json_t *args, json_t **r, err_t *err);
static int op_customer_get(engine *e, session *s, json_t *args, json_t **r, err_t *err);
static int op_customer_find(engine *e, session *s, json_t *args, json_t **r, err_t *err);
static int op_customer_address(engine *e, session *s, json_t *args, json_t **r, err_t *err);
static int op_preview(flow_ctx *c, json_t **result, err_t *err);
int op_policy_info(flow_ctx *c, json_t **result, err_t *err);
int op_policy_reload(flow_ctx *c, json_t **result, err_t *err);
int op_sync_status(flow_ctx *c, json_t **result, err_t *err);

/* Shapes several ops share (model/schema.h). */
#define APPROVAL "{staff:s pin:s}"
#define DELIVERY                                                                                   \
    "{mode:s=ship address:s date:s method:s? | mode:s=pickup store:s date:s | mode:s=carryout}"
#define PAYMENTS "payments:[tender:s amount:i ref:s?]?"
#define REFUNDS "refunds:[tender:s amount:i ref:s?]?"
#define CONTACTS "pickup_contacts:[name:s phone:s?]?"
#define DEPOSIT_OVERRIDE "deposit_override:{amount:i approval:" APPROVAL "?}?"
#define NEW_ORDER                                                                                  \
    "customer:s? type:s? quote_expires:s? lines:[item:s qty:i delivery:" DELIVERY "] "             \
    "shipping_charge:i? " DEPOSIT_OVERRIDE " " CONTACTS " " PAYMENTS " idempotency_key:s?"

#define MAX_OPS 64
static op_entry ops[MAX_OPS] = {
    {"ping", NULL, op_ping, false, false, "", NULL},
    {"session.login", NULL, op_login, false, false, "store:s staff:s pin:s", NULL},
    {"customer.create", NULL, op_customer_create, true, true,
     "name:s email:s? phone:s? b2b:b? addresses:a? idempotency_key:s?", NULL},
    {"customer.get", NULL, op_customer_get, false, true, "account:s", NULL},
    {"customer.find", NULL, op_customer_find, false, true, "q:s limit:i?", NULL},
    {"customer.add_address", NULL, op_customer_address, true, true,
     "account:s address:o idempotency_key:s?", NULL},
    {"order.preview", op_preview, NULL, false, true, NEW_ORDER, NULL},
    {"order.create", flow_create, NULL, true, true, NEW_ORDER, NULL},
    {"order.get", flow_get, NULL, false, true, "number:s", NULL},
    {"order.find", flow_find, NULL, false, true,
     "q:s? customer:s? status:s? store:s? pickup_store:s? pickup_from:s? pickup_to:s? open:b? "
     "from:s? to:s? limit:i?",
     NULL},
    {"order.edit", flow_edit, NULL, true, true,
     "number:s version:i add_lines:[item:s qty:i delivery:" DELIVERY
     "]? update_lines:[line:i qty:i? delivery:" DELIVERY
     "?]? remove_lines:a? shipping_charge:i? " PAYMENTS " " REFUNDS " " CONTACTS
     " " DEPOSIT_OVERRIDE " approval:" APPROVAL "? idempotency_key:s?",
     NULL},
    {"order.confirm_quote", flow_confirm_quote, NULL, true, true,
     "number:s " PAYMENTS " " DEPOSIT_OVERRIDE " approval:" APPROVAL "? idempotency_key:s?", NULL},
    {"order.pickup", flow_pickup, NULL, true, true,
     "number:s lines:[line:i qty:i] " PAYMENTS " collected_by:{name:s id_checked:b? id_ref:s?}? "
     "approval:" APPROVAL "? idempotency_key:s?",
     NULL},
    {"order.hold", flow_hold, NULL, true, true,
     "number:s code:s note:s? approval:" APPROVAL "? idempotency_key:s?", NULL},
    {"order.release", flow_release, NULL, true, true,
     "number:s approval:" APPROVAL "? idempotency_key:s?", NULL},
    {"order.ship", flow_ship, NULL, true, true,
     "number:s lines:[line:i qty:i] " PAYMENTS " tracking:s? approval:" APPROVAL
     "? idempotency_key:s?",
     NULL},
    {"order.cancel", flow_cancel, NULL, true, true,
     "number:s version:i? charge_override:{amount:i approval:" APPROVAL "?}? " PAYMENTS " " REFUNDS
     " reason:s? approval:" APPROVAL "? idempotency_key:s?",
     NULL},
    {"order.return", flow_return, NULL, true, true,
     "number:s invoice:i lines:[line:i qty:i reason:s] shipping_refund:i? approval:" APPROVAL
     "? " REFUNDS " idempotency_key:s?",
     NULL},
    {"order.history", flow_history, NULL, false, true, "number:s", NULL},
    {"policy.info", op_policy_info, NULL, false, true, "store:s?", NULL},
    {"policy.reload", op_policy_reload, NULL, false, true, "store:s? approval:" APPROVAL "?", NULL},
    {"sync.status", op_sync_status, NULL, false, true, "", NULL},
    {"store.tenders", flow_store_tenders, NULL, false, true, "date:s?", NULL},
};

/* The built-in entries' shapes are compiled before the first request; a
 * shape that does not compile is a bug in this file, and the program
 * stops at start-up with its message rather than serve without a check. */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static void table_compile(void)
{
    for (int i = 0; i < MAX_OPS && ops[i].op; i++) {
        err_t err = {0};
        if (!ops[i].shape && !(ops[i].shape = schema_compile(ops[i].schema_text, &err))) {
            fprintf(stderr, "corder: op %s: %s\n", ops[i].op, err.message);
            abort();
        }
    }
}

static op_entry *find_op(const char *name)
{
    pthread_once(&table_once, table_compile);
    for (int i = 0; i < MAX_OPS && ops[i].op; i++)
        if (!strcmp(ops[i].op, name)) return &ops[i];
    return NULL;
}

int dispatch_register(const char *op, dispatch_fn fn, bool writes, bool needs_session,
                      const char *schema_text)
{
    /* Re-registering an op (a second server in one process, the tests)
     * replaces it; a full table is an error at start-up, never a silent
     * drop. */
    op_entry *e = find_op(op);
    for (int i = 0; !e && i < MAX_OPS; i++)
        if (!ops[i].op) e = &ops[i];
    err_t err = {0};
    schema *shape = e && schema_text ? schema_compile(schema_text, &err) : NULL;
    if (!shape) {
        fprintf(stderr, "corder: cannot register op %s: %s\n", op,
                !e             ? "the op table is full"
                : !schema_text ? "no argument schema"
                               : err.message);
        return -1;
    }
    schema_free(e->shape);
    *e = (op_entry){op, NULL, fn, writes, needs_session, schema_text, shape};
    return 0;
}

bool dispatch_op_writes(const char *op)
{
    op_entry *e = find_op(op);
    return e && e->writes;
}

const double dispatch_lat_bounds[DISPATCH_LAT_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};

/* Beside the op table (ops[i]'s in op_metrics[i]), and the requests
 * refused before their op was known (not JSON, unknown op). */
static dispatch_op_metrics op_metrics[MAX_OPS], no_op_metrics;

static void metrics_count(dispatch_op_metrics *m, err_code code, double secs)
{
    m->by_code[code >= 0 && code < DISPATCH_CODES ? code : ERR_INTERNAL]++;
    int b = 0;
    while (b < DISPATCH_LAT_BUCKETS && secs > dispatch_lat_bounds[b])
        b++;
    m->lat[b]++;
    m->lat_sum += secs;
    m->count++;
}

/* The console's per-op counts, read off the metrics (one count per answer). */
json_t *dispatch_stats(void)
{
    json_t *o = json_object();
    for (int i = 0; i < MAX_OPS && ops[i].op; i++) {
        const dispatch_op_metrics *m = &op_metrics[i];
        if (m->count)
            json_object_set_new(o, ops[i].op,
                                json_pack("{s:I, s:I}", "calls", (json_int_t)m->count, "errors",
                                          (json_int_t)(m->count - m->by_code[ERR_NONE])));
    }
    return o;
}

void dispatch_metrics_each(void (*fn)(void *arg, const char *op, const dispatch_op_metrics *m),
                           void *arg)
{
    for (int i = 0; i < MAX_OPS && ops[i].op; i++)
        if (op_metrics[i].count) fn(arg, ops[i].op, &op_metrics[i]);
    if (no_op_metrics.count) fn(arg, DISPATCH_NO_OP, &no_op_metrics);
}

static double mono_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

json_t *dispatch_error(json_t *id, const err_t *err)
{
    err_t e = *err;
    err_utf8_clean(e.message);
    err_utf8_clean(e.field);
    err_utf8_clean(e.permission);
    json_t *details = json_object();
    if (e.field[0]) json_object_set_new(details, "field", json_string(e.field));
    if (e.permission[0]) json_object_set_new(details, "permission", json_string(e.permission));
    if (e.has_due) json_object_set_new(details, "due", json_integer(e.due));
    if (e.has_refund) json_object_set_new(details, "refund", json_integer(e.refund));
    json_t *extra = e.extra[0] ? json_loads(e.extra, 0, NULL) : NULL;
    if (json_is_object(extra)) json_object_update_missing(details, extra);
    json_decref(extra);
    return json_pack("{s:O, s:b, s:{s:s, s:s, s:o}}", "id", id ? id : json_null(), "ok", 0, "error",
                     "code", err_code_name(e.code), "message", e.message, "details", details);
}

/* ---- plain handlers ---- */

static int op_ping(engine *e, session *s, json_t *args, json_t **result, err_t *err)
{
    *result = json_pack("{s:b}", "pong", 1);
    return 0;
}

static int op_login(engine *e, session *s, json_t *args, json_t **result, err_t *err)
{
    const char *store, *staff, *pin;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_str(args, "", "staff", true, 31, &staff, err) < 0 ||
        args_str(args, "", "pin", true, 4096, &pin, err) < 0 ||
        auth_pin_check_shape(pin, "pin", err) < 0)
        return -1;
    auth_staff who;
    if (auth_check(e, staff, pin, &who, err) < 0) return -1;
    master_store ms;
    if (!auth_staff_at_store(e, staff, store)) {
        if (master_store_get(e, store, &ms, err) < 0) return -1;
        return err_set(err, ERR_FORBIDDEN, "staff %s may not sign in at store %s", staff, store);
    }
    *s = (session){.signed_in = true};
    text_copy(s->store, sizeof s->store, store);
    text_copy(s->staff, sizeof s->staff, who.id);
    text_copy(s->name, sizeof s->name, who.name);
    text_copy(s->role, sizeof s->role, who.role);
    s->staff_epoch = engine_staff_epoch(e);
    *result = json_pack("{s:s, s:s, s:s, s:s}", "staff", who.id, "name", who.name, "role", who.role,
                        "store", store);
    return 0;
}

static int op_customer_create(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    json_t *copy = json_copy(args);
    json_object_del(copy, "idempotency_key");
    int rc = master_customer_create(e, s->store, copy, r, err);
    json_decref(copy);
    return rc;
}

static int op_customer_get(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    return master_customer_get(e, args, r, err);
}

static int op_customer_find(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    return master_customer_find(e, args, r, err);
}

static int op_customer_address(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    json_t *copy = json_copy(args);
    json_object_del(copy, "idempotency_key");
    int rc = master_customer_add_address(e, copy, r, err);
    json_decref(copy);
    return rc;
}

static int op_preview(flow_ctx *c, json_t **result, err_t *err)
{
    c->preview = true;
    return flow_create(c, result, err);
}

/* ---- idempotency keys ---- */

/* Removes every "pin" (approvals, at any depth) from a copy of args. */
static void strip_pins(json_t *v, int depth)
{
    if (depth > 16) return;
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_del(v, "pin");
        json_object_foreach(v, k, child) strip_pins(child, depth + 1);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) strip_pins(child, depth + 1);
    }
}

/* The request as remembered for its idempotency key: a hash of the op and
 * its args without the key and without any PIN, so the table holds no
 * secret a guess could be checked against (a 4-digit PIN hashed into it
 * would fall to 10,000 tries). */
static void args_hash(const char *op, json_t *args, char out[65])
{
    json_t *copy = json_deep_copy(args);
    json_object_del(copy, "idempotency_key");
    strip_pins(copy, 0);
    char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)op, strlen(op) + 1);
    if (s) crypto_generichash_update(&st, (const unsigned char *)s, strlen(s));
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, 65, h, sizeof h);
    free(s);
    json_decref(copy);
}

/* ---- running one op ---- */

static void dresult_free(dresult *r)
{
    json_decref(r->json);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static int run_op(engine *e, session *s, op_entry *op, dispatch_req *req, dresult *r, err_t *err)
{
    json_t *args = req->args;
    if (req->prepared) /* the create the sync gate prepared: its commit step */
        return flow_create_commit(req->prepared, &req->hq, &r->text, &r->len, err);
    if (op->fn) return op->fn(e, s, args, &r->json, err);
    flow_ctx c;
    int rc = flow_begin(&c, e, s, op->op, args, err);
    c.args_text = req->args_text;
    c.args_len = req->args_len;
    if (rc == 0) rc = op->flow(&c, &r->json, err);
    if (rc == 0 && c.result_text) { /* the flow wrote its result as text */
        r->text = c.result_text;
        r->len = c.result_len;
        c.result_text = NULL;
    }
    flow_end(&c);
    return rc;
}

static int run_write(engine *e, session *s, op_entry *op, dispatch_req *req, dresult *r, err_t *err)
{
    json_t *args = req->args;
    const char *key = json_string_value(json_object_get(args, "idempotency_key"));
    char hash[65];
    if (key) {
        args_hash(op->op, args, hash);
        int found = idem_lookup(e, s->store, key, op->op, hash, &r->text, &r->len, err);
        if (found != 0) return found < 0 ? -1 : 0;
    }
    if (engine_savepoint(e, ENGINE_SP_REQUEST, err) < 0) return -1;
    int rc = run_op(e, s, op, req, r, err);
    if (rc == 0 && key) {
        char *dumped = r->text ? NULL : jsonw_dumps(r->json, NULL);
        if ((!r->text && !dumped && err_set(err, ERR_INTERNAL, "out of memory")) ||
            idem_store(e, s->store, key, op->op, hash, r->text ? r->text : dumped, err) < 0) {
            dresult_free(r);
            rc = -1;
        }
        free(dumped);
    }
    engine_savepoint_end(e, ENGINE_SP_REQUEST, rc == 0);
    return rc;
}

/* ---- one request, parsed once at the edge ---- */

/* The envelope: {id?, op, args?}, a known op, args of the op's shape. */
static int req_envelope(dispatch_req *r)
{
    static const char *const allowed[] = {"id", "op", "args", NULL};
    err_t *err = &r->err;
    json_t *id = json_object_get(r->root, "id");
    if (id && (json_is_object(id) || json_is_array(id)))
        return err_field(err, ERR_BAD_REQUEST, "id",
                         "id: must be a string, number, boolean or null");
    r->id = id;
    const char *name = NULL;
    json_t *args = NULL;
    if (args_only(r->root, "", allowed, err) < 0 ||
        args_str(r->root, "", "op", true, 64, &name, err) < 0 ||
        args_obj(r->root, "", "args", false, &args, err) < 0)
        return -1;
    r->op = name;
    op_entry *op = find_op(name);
    if (!op) return err_field(err, ERR_UNKNOWN_OP, "op", "no op '%s'", name);
    r->entry = op;
    if (!args) {
        args = r->own_args = json_object();
        if (!args) return err_set(err, ERR_INTERNAL, "out of memory");
    }
    r->args = args;
    return schema_check(op->shape, args, err);
}

int dispatch_parse_value(dispatch_req *r, json_t *req)
{
    memset(r, 0, sizeof *r);
    r->root = json_incref(req);
    if (!json_is_object(req))
        return err_set(&r->err, ERR_BAD_REQUEST, "a request is a JSON object");
    return req_envelope(r);
}

int dispatch_parse(dispatch_req *r, const char *line, size_t len)
{
    memset(r, 0, sizeof *r);
    if (len > DISPATCH_MAX_LINE)
        return err_set(&r->err, ERR_BAD_REQUEST, "line longer than %d bytes", DISPATCH_MAX_LINE);
    json_error_t jerr;
    /* the common line the fast way; anything it declines, jansson's way */
    size_t off, n;
    r->root = jparse_member(line, len, "args", &off, &n);
    if (!r->root) r->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    /* The log writes the args without their PINs: serialising the tree
     * again cost 9,000 instructions an order.create, for the text the line
     * already holds. A span with no escape that does not hold "pin" has no
     * member named pin, and a copy of it is what the writer would give
     * (the same members, in the same order, as the client spaced them).
     * Only an object: args that are null run as {}, and are logged so. */
    if (n && line[off] == '{' && !memchr(line + off, '\\', n) &&
        !memmem(line + off, n, "\"pin\"", 5) && (r->args_text = malloc(n))) {
        memcpy(r->args_text, line + off, n);
        r->args_len = n;
    }
    if (!r->root)
        return err_set(&r->err, ERR_BAD_REQUEST, "not JSON: %s (column %d)", jerr.text,
                       jerr.column);
    if (!json_is_object(r->root))
        return err_set(&r->err, ERR_BAD_REQUEST, "a request is a JSON object");
    return req_envelope(r);
}

void dispatch_req_free(dispatch_req *r)
{
    flow_prepared_free(r->prepared);
    json_decref(r->answer);
    json_decref(r->own_args);
    json_decref(r->root);
    free(r->args_text);
    memset(r, 0, sizeof *r);
}

static bool session_still_valid(engine *e, session *s);

int dispatch_prepare(engine *e, session *s, dispatch_req *r, json_t **doc)
{
    if (r->err.code != ERR_NONE || !dispatch_req_is(r, "order.create") || !s->signed_in ||
        !session_still_valid(e, s))
        return -1; /* run as it is: it answers its own error (an ended session too) */
    err_t err = {0};
    auth_use_verdicts(e, r->pins, r->npins);
    r->prepared = flow_create_prepare(e, s, r->args, doc, &err);
    auth_use_verdicts(e, NULL, 0);
    if (!r->prepared) {
        r->err = err; /* answered when run, without running the flow again */
        return -1;
    }
    r->hq = (flow_hq_answer){ERR_HQ_UNAVAILABLE, "headquarters did not answer", ""};
    return 0;
}

bool dispatch_req_is(const dispatch_req *r, const char *op)
{
    return r->op && !strcmp(r->op, op);
}

bool dispatch_req_writes(const dispatch_req *r)
{
    return r->entry && ((const op_entry *)r->entry)->writes;
}

/* One {staff, pin} pair, if it has the shape a check would hash. Pairs of
 * another shape are left to the op, which refuses them unhashed. */
static void add_pin(dispatch_req *r, json_t *obj, size_t keys)
{
    const char *staff = json_string_value(json_object_get(obj, "staff"));
    const char *pin = json_string_value(json_object_get(obj, "pin"));
    /* only the keys the op takes: it refuses any other unhashed */
    if (!staff || !pin || json_object_size(obj) != keys || r->npins >= DISPATCH_MAX_PINS) return;
    size_t sl = json_string_length(json_object_get(obj, "staff"));
    size_t pl = json_string_length(json_object_get(obj, "pin"));
    if (!sl || sl > AUTH_STAFF_MAX || pl > AUTH_PIN_MAX || strlen(staff) != sl || strlen(pin) != pl)
        return;
    r->pins[r->npins++] = (auth_pin){staff, pin, 0};
}

int dispatch_req_pins(dispatch_req *r, const session *s)
{
    r->npins = 0;
    const op_entry *op = r->entry;
    if (!op || r->err.code != ERR_NONE) return 0;
    if (op->fn == op_login) {
        add_pin(r, r->args, 3); /* store, staff, pin */
        return r->npins;
    }
    if (op->needs_session && !s->signed_in) return 0; /* unauthenticated, unhashed */
    /* Approvals: args.approval, and args.X.approval for an override X.
     * Only the args the op's shape knows got this far (schema_check). */
    const char *k;
    json_t *v;
    json_object_foreach(r->args, k, v)
    {
        if (!json_is_object(v)) continue;
        if (!strcmp(k, "approval"))
            add_pin(r, v, 2);
        else if (json_is_object(json_object_get(v, "approval")))
            add_pin(r, json_object_get(v, "approval"), 2);
    }
    return r->npins;
}

/* SPEC C4: staff removed from a store (or from the chain) by master data
 * from HQ lose their sessions there. Checked only when staff changed
 * since the session signed in (one integer compare per request
 * otherwise); a changed PIN or role applies at the next sign-in. */
static bool session_still_valid(engine *e, session *s)
{
    if (!s->staff_epoch || s->staff_epoch == engine_staff_epoch(e)) return true;
    auth_staff who;
    err_t ignore = {0};
    if (auth_lookup(e, s->staff, &who, &ignore) < 0 || !auth_staff_at_store(e, s->staff, s->store))
        return false;
    s->staff_epoch = engine_staff_epoch(e);
    return true;
}

/* Runs a parsed request: 0 with *out, or -1 with *err. */
static int run_request(engine *e, session *s, dispatch_req *req, bool *is_write, dresult *r,
                       err_t *err)
{
    *is_write = false;
    op_entry *op = (op_entry *)req->entry;
    double t0 = mono_secs();
    if (req->err.code != ERR_NONE) {
        *err = req->err; /* counted below: refused by its schema, or a prepared create refused */
        metrics_count(op ? &op_metrics[op - ops] : &no_op_metrics, err->code, mono_secs() - t0);
        return -1;
    }
    auth_use_verdicts(e, req->pins, req->npins);
    int rc;
    if (op->needs_session && s->signed_in && !session_still_valid(e, s)) {
        rc = err_set(err, ERR_UNAUTHENTICATED,
                     "session ended: staff %s may no longer sign in at store %s", s->staff,
                     s->store);
        *s = (session){0};
    } else if (req->answer && (!op->needs_session || s->signed_in)) { /* a gate's (C5) */
        r->json = json_incref(req->answer);
        rc = 0;
    } else if (op->needs_session && !s->signed_in) {
        rc = err_set(err, ERR_UNAUTHENTICATED, "sign in first (session.login)");
    } else if (op->writes) {
        bool own_txn = !engine_in_txn(e);
        *is_write = true;
        if (own_txn && engine_begin(e, err) < 0)
            rc = -1;
        else {
            rc = run_write(e, s, op, req, r, err);
            if (own_txn && engine_commit(e, rc == 0 ? err : &(err_t){0}) < 0 && rc == 0) {
                dresult_free(r);
                rc = -1;
            }
        }
    } else {
        rc = run_op(e, s, op, req, r, err);
    }
    auth_use_verdicts(e, NULL, 0);
    if (rc < 0) {
        if (err->code == ERR_NONE)
            err_set(err, ERR_INTERNAL, "%s failed without saying why", op->op);
    }
    metrics_count(&op_metrics[op - ops], rc < 0 ? err->code : ERR_NONE, mono_secs() - t0);
    return rc;
}

json_t *dispatch_request(engine *e, session *s, json_t *req, bool *is_write)
{
    dispatch_req r;
    dispatch_parse_value(&r, req);
    json_t *resp = dispatch_run(e, s, &r, is_write);
    dispatch_req_free(&r);
    return resp;
}

json_t *dispatch_run(engine *e, session *s, dispatch_req *req, bool *is_write)
{
    /* Answers are made one way, as text; this is that text read back, for
     * callers inside the process that want values (the Lua module, the
     * console, the sync gate). */
    size_t n = 0;
    char *text = dispatch_run_text(e, s, req, is_write, &n);
    json_t *resp = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    if (!resp) {
        err_t err = {0};
        err_set(&err, ERR_INTERNAL, "an answer could not be read back");
        resp = dispatch_error(req->id, &err);
    }
    return resp;
}

/* {"id":…,"ok":true,"result":…} as text, the result copied in as it is. */
static char *ok_text(json_t *id, dresult *r, size_t *len)
{
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "id");
    if (id)
        jw_json(&w, id);
    else
        jw_null(&w);
    jw_key(&w, "ok");
    jw_bool(&w, 1);
    jw_key(&w, "result");
    if (r->text)
        jw_raw(&w, r->text, r->len);
    else
        jw_json(&w, r->json);
    jw_end_obj(&w);
    dresult_free(r);
    return jw_finish(&w, len);
}

static char *error_text(json_t *id, const err_t *err, size_t *len)
{
    json_t *resp = dispatch_error(id, err);
    char *text = jsonw_dumps(resp, len);
    json_decref(resp);
    return text;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The order a request was about: args.number, else the number its result
 * begins with (an order written as text starts {"number":"…"). */
static void slow_order(const dispatch_req *req, const dresult *r, char out[64])
{
    const char *n = json_string_value(json_object_get(req->args, "number"));
    static const char lead[] = "{\"number\":\"";
    out[0] = 0;
    if (!n && r->text && r->len > sizeof lead && !memcmp(r->text, lead, sizeof lead - 1)) {
        const char *b = r->text + sizeof lead - 1, *q = memchr(b, '"', r->len - (sizeof lead - 1));
        if (q && q - b < 64) snprintf(out, 64, "%.*s", (int)(q - b), b);
    } else if (!n && r->json) {
        n = json_string_value(json_object_get(r->json, "number"));
    }
    if (n) snprintf(out, 64, "%s", n);
}

char *dispatch_run_text(engine *e, session *s, dispatch_req *req, bool *is_write, size_t *out_len)
{
    err_t err = {0};
    dresult r = {0};
    int64_t t0 = mono_us();
    int rc = run_request(e, s, req, is_write, &r, &err);
    int64_t us = mono_us() - t0;
    if (us >= slowlog_threshold() * 1000) {
        char order[64];
        slow_order(req, &r, order);
        slowlog_note(req->op ? req->op : "?", rc < 0 ? err_code_name(err.code) : "ok", us, order,
                     s ? s->store : NULL, s ? s->staff : NULL);
    }
    if (rc < 0) return error_text(req->id, &err, out_len);
    return ok_text(req->id, &r, out_len);
}

char *dispatch_line_text(engine *e, session *s, const char *line, size_t len, bool *is_write,
                         size_t *out_len, json_t **id_out)
{
    dispatch_req r;
    dispatch_parse(&r, line, len);
    char *text = dispatch_run_text(e, s, &r, is_write, out_len);
    if (id_out) *id_out = r.id ? json_incref(r.id) : NULL;
    dispatch_req_free(&r);
    return text;
}
