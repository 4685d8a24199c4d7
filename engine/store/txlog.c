/* txlog.c: the transaction log (SPEC F8).
 *
 * Format: one row per change in table txlog, appended in the same SQLite
 * transaction as the change, so there is no change without its entry and no
 * entry without its change. Columns:
 *   seq            INTEGER, strictly increasing: the order of changes
 *   at             ISO-8601 UTC time of the change
 *   store, staff   who made it, where (the signed-in store and staff; on an
 *                  order of another store, store is not the order's: A5)
 *   op             the protocol op (order.create, order.pickup, …)
 *   order_number   the order it changed
 *   policy_version SHA-256 of the policy source that decided it (L3): the
 *                  policy of the order's store, which makes its money rules
 *   request        JSON: the op's arguments, with every "pin" removed: the
 *                  request line's own text of them when it holds no escape
 *                  and no "pin" (dispatch.c), else written from the tree
 *   decisions      JSON array, one element per question put to a policy:
 *                  {"hook": "deposit", "args": [...], "today": "YYYY-MM-DD",
 *                   "store": "S001", "policy_version": "…",
 *                   "answer": 1234 | true | false, "by": "policy"|"default"}
 *                  store and policy_version name the policy asked: the
 *                  order's store's for money, the signed-in store's for
 *                  permits (A5); a decision leaves them out when they are
 *                  the decision before's (the first has both), and
 *                  txlog_history and replay carry them forward. args are
 *                  what the hook got (ctx aside), the order by reference:
 *                  "$order" (the order as this entry saved it) or
 *                  "$order_before" (as it was before), read back from the
 *                  versions the store keeps (orders.c), so `corder policy
 *                  replay` can ask a new policy the same questions and show
 *                  where its answers differ.
 *   result         JSON summary: {version, status, totals.order, balance, …,
 *                  approvals?: [{permission, approver}]}: each permission
 *                  the signed-in staff lacked and another staff member's
 *                  approval gave (A2, A5); payments?, refunds?: [{tender,
 *                  amount}] the money this change took and paid back, as
 *                  the till's day (till.c, R3) counts it
 */
#include "store/txlog.h"

#include <stdlib.h>

#include "model/jsonw.h"

/* drop: a key left out of every object (or NULL) */
static int bind_json(sqlite3_stmt *st, int i, json_t *j, const char *drop)
{
    size_t len;
    char *s = jsonw_dumps_without(j ? j : json_null(), drop, &len);
    if (!s) return -1;
    sqlite3_bind_text(st, i, s, (int)len, free);
    return 0;
}

int txlog_append(engine *e, const txlog_entry *t, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO txlog(at, store, staff, op, order_number,"
                                   " policy_version, request, decisions, result)"
                                   " VALUES(?,?,?,?,?,?,?,?,?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, t->at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->staff, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->order_number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->policy_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, t->decisions ? t->decisions : "[]", -1, SQLITE_STATIC);
    if (t->result_text) sqlite3_bind_text(st, 9, t->result_text, -1, SQLITE_STATIC);
    if (t->request_text)
        sqlite3_bind_text(st, 7, t->request_text, (int)t->request_len, SQLITE_STATIC);
    if ((!t->request_text && bind_json(st, 7, t->request, "pin") < 0) ||
        (!t->result_text && bind_json(st, 9, t->result, NULL) < 0)) {
        sqlite3_reset(st);
        return err_set(err, ERR_INTERNAL, "out of memory writing the log");
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "txlog");
}

/* A decision names its store and policy version only where they differ
 * from the decision before it (decide.c); each gets them back here, so
 * that order.history shows every decision whole. */
static void decisions_complete(json_t *ds)
{
    json_t *store = NULL, *version = NULL, *d;
    size_t i;
    json_array_foreach(ds, i, d)
    {
        if (!json_is_object(d)) continue;
        json_t *s = json_object_get(d, "store"), *v = json_object_get(d, "policy_version");
        if (s)
            store = s;
        else if (store)
            json_object_set(d, "store", store);
        if (v)
            version = v;
        else if (version)
            json_object_set(d, "policy_version", version);
    }
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    return j ? j : json_null();
}

int txlog_history(engine *e, const char *number, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT seq, at, store, staff, op, policy_version, request,"
                                   " decisions, result FROM txlog WHERE order_number = ?"
                                   " ORDER BY seq",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    json_t *events = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *decisions = column_json(st, 7);
        decisions_complete(decisions);
        json_t *ev = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:o}", "seq",
            (json_int_t)sqlite3_column_int64(st, 0), "at", sqlite3_column_text(st, 1), "store",
            sqlite3_column_text(st, 2), "staff", sqlite3_column_text(st, 3), "op",
            sqlite3_column_text(st, 4), "policy_version", sqlite3_column_text(st, 5), "request",
            column_json(st, 6), "decisions", decisions, "result", column_json(st, 8));
        json_array_append_new(events, ev);
    }
    sqlite3_reset(st);
    *out = json_pack("{s:o}", "events", events);
    return 0;
}
