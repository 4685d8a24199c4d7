/* cli_replay.c: `corder policy replay --db FILE --policy FILE [--store S]
 * [--since YYYY-MM-DD]` (PROTOCOL.md "Command line").
 *
 * The transaction log (engine/txlog.c) keeps, with every change, each
 * question the engine put to the store's policy: the hook, the exact
 * arguments it got, the store's "today", the answer, and whether the policy
 * or the engine's default rule gave it. Replay puts the same questions to a
 * candidate policy, in log order, and prints every answer that would differ:
 *
 *   ORDER  OP  HOOK  old=ANSWER new=ANSWER
 *
 * then one summary line. Each question is asked as the engine would ask it:
 * ctx = {the store whose policy answered (the decision's "store"; the
 * entry's in logs older than SPEC A5), the logged today, now = the entry's
 * time, the NEW policy's parameters}; `--store S` replays the questions S's
 * policy answered; a hook the new policy leaves out is answered by
 * the engine's default rule (decide_default_amount, or role == "manager"
 * for permits) with the new parameters. A hook that fails prints
 * new=error and its file:line message; it counts as a change.
 *
 * What replay is not: a re-run of the flows. A different deposit would have
 * changed the amount due, a different permission the whole request, a
 * different charge the totals that later questions were asked about; none
 * of that is recomputed. Each line is "what the new policy would have
 * answered to that question", which is what a retailer reviews before
 * deploying. The output header says so too.
 *
 * The database is opened read-only, so it may be the live database of a
 * running server (a WAL reader does not block the writer).
 *
 * Exit: 0 when the replay ran (whatever changed), 1 when the policy does not
 * load ("file:line: message") or the database cannot be read, 2 on bad
 * usage. */
#include "lua/cli_replay.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua/lcli.h"
#include "store/engine.h"
#include "flows/flow.h"
#include "model/order.h"
#include "model/policy.h"
#include "host/policy_lua.h"

static const char usage[] =
    "corder policy replay --db FILE --policy FILE [--store S] [--since YYYY-MM-DD]";

typedef struct {
    policy *pol;
    const char *store; /* --store: only the questions this store's policy answered */
    long decisions, orders, changed, errors, skipped;
    long by_hook[HOOK_COUNT];
    json_t *seen; /* order numbers with at least one decision, as keys */
} replay;

static int hook_from_name(const char *name)
{
    for (int h = 0; h < HOOK_COUNT; h++)
        if (name && !strcmp(name, policy_hook_name((policy_hook)h))) return h;
    return -1;
}

/* "2024-05-01T10:00:00Z" -> epoch seconds; 0 (the real clock) if odd. */
static int64_t parse_at(const char *at)
{
    struct tm tm = {0};
    if (!at || sscanf(at, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* The new answer to one logged question; NULL with err set if the hook
 * failed or the question is malformed (err.code ERR_BAD_REQUEST: skip). */
static json_t *ask(replay *r, policy_hook hook, const char *store, const char *today, json_t *args,
                   err_t *err)
{
    size_t n = json_array_size(args);
    json_t *a[2] = {json_array_get(args, 0), json_array_get(args, 1)};
    const policy_params *params = policy_get_params(r->pol);
    if (hook == HOOK_PERMITS) {
        const char *perm = json_string_value(a[1]);
        if (n != 2 || !json_is_object(a[0]) || !perm) {
            err_set(err, ERR_BAD_REQUEST, "malformed permits question");
            return NULL;
        }
        bool ok;
        if (policy_has_hook(r->pol, HOOK_PERMITS)) {
            if (policy_call_permits(r->pol, store, today, 0, a[0], perm, &ok, err) < 0) return NULL;
        } else {
            const char *role = json_string_value(json_object_get(a[0], "role"));
            ok = role && !strcmp(role, "manager"); /* SPEC A2 default */
        }
        return json_boolean(ok);
    }
    if (n < 1 || n > 2 || !json_is_object(a[0])) {
        err_set(err, ERR_BAD_REQUEST, "malformed %s question", policy_hook_name(hook));
        return NULL;
    }
    int64_t v;
    if (policy_has_hook(r->pol, hook)) {
        if (policy_call_amount(r->pol, hook, store, today, 0, a, (int)n, &v, err) < 0) return NULL;
    } else {
        v = decide_default_amount(hook, params, a);
    }
    return json_integer(v);
}

static void print_change(const char *number, const char *op, policy_hook hook, json_t *question,
                         json_t *old, json_t *answer, const err_t *err)
{
    char label[96];
    if (hook == HOOK_PERMITS)
        snprintf(label, sizeof label, "permits(%s)",
                 json_string_value(json_array_get(question, 1)));
    else
        snprintf(label, sizeof label, "%s", policy_hook_name(hook));
    char *o = json_dumps(old ? old : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
    if (answer) {
        char *n = json_dumps(answer, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-14s  %-20s  %-28s  old=%s new=%s\n", number, op, label, o ? o : "?", n ? n : "?");
        free(n);
    } else {
        printf("%-14s  %-20s  %-28s  old=%s new=error  %s\n", number, op, label, o ? o : "?",
               err->message);
    }
    free(o);
}

/* The order argument of a logged question: the policy's view of the
 * order as the log entry saved it (DECIDE_ORDER_REF), from the document
 * of that version; NULL if the store no longer has it. */
static json_t *order_view_of(const char *doc)
{
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    err_t e;
    err_clear(&e);
    order *o = j ? order_from_json(j, &e) : NULL;
    json_decref(j);
    if (!o) return NULL;
    json_t *view = order_to_json(o, ORDER_POLICY);
    order_free(o);
    return view;
}

/* args with every DECIDE_ORDER_REF replaced by view[0] and every
 * DECIDE_ORDER_BEFORE by view[1] (new references); NULL when one is there
 * whose view is NULL. */
static json_t *args_resolved(json_t *args, json_t *const view[2])
{
    json_t *out = json_array(), *a;
    size_t i;
    json_array_foreach(args, i, a)
    {
        const char *ref = json_string_value(a);
        int k = !ref                                ? -1
                : !strcmp(ref, DECIDE_ORDER_REF)    ? 0
                : !strcmp(ref, DECIDE_ORDER_BEFORE) ? 1
                                                    : -1;
        if (k >= 0) {
            if (!view[k]) {
                json_decref(out);
                return NULL;
            }
            json_array_append(out, view[k]);
        } else {
            json_array_append(out, a);
        }
    }
    return out;
}

/* Replays the decisions of one log entry; docs are the order's documents
 * as the entry saved it and as it was before. */
static void replay_entry(replay *r, const char *store, const char *op, const char *number,
                         json_t *decisions, const char *const docs[2])
{
    json_t *view[2] = {NULL, NULL};
    bool view_made = false;
    const char *prev_store = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(decisions, i, d)
    {
        int hook = hook_from_name(json_string_value(json_object_get(d, "hook")));
        const char *today = json_string_value(json_object_get(d, "today"));
        /* The store whose policy answered: on an order of another store the
         * money questions went to the order's store's policy and permits to
         * the signed-in store's (SPEC A5). Older entries name none: the
         * entry's store answered everything. */
        const char *dstore = json_string_value(json_object_get(d, "store"));
        /* A decision without one has the decision before's (decide.c). */
        if (dstore)
            prev_store = dstore;
        else
            dstore = prev_store ? prev_store : store;
        if (r->store && strcmp(dstore, r->store)) continue;
        json_t *logged = json_object_get(d, "args"), *old = json_object_get(d, "answer");
        if (!view_made) {
            view[0] = order_view_of(docs[0]);
            view[1] = order_view_of(docs[1]);
            view_made = true;
        }
        json_t *args = json_is_array(logged) ? args_resolved(logged, view) : NULL;
        err_t e;
        err_clear(&e);
        json_t *answer = NULL;
        if (hook < 0 || !today || !args || !old ||
            (!(answer = ask(r, (policy_hook)hook, dstore, today, args, &e)) &&
             e.code == ERR_BAD_REQUEST)) {
            r->skipped++;
            json_decref(args);
            continue;
        }
        r->decisions++;
        json_object_set_new(r->seen, number, json_true());
        if (answer && json_equal(old, answer)) {
            json_decref(answer);
            json_decref(args);
            continue;
        }
        r->changed++;
        r->by_hook[hook]++;
        if (!answer) r->errors++;
        print_change(number, op, (policy_hook)hook, args, old, answer, &e);
        json_decref(answer);
        json_decref(args);
    }
    json_decref(view[0]);
    json_decref(view[1]);
}

static void print_summary(const replay *r)
{
    printf("replayed %ld decision%s on %zu order%s: %ld would change", r->decisions,
           r->decisions == 1 ? "" : "s", json_object_size(r->seen),
           json_object_size(r->seen) == 1 ? "" : "s", r->changed);
    if (r->changed) {
        const char *sep = " (";
        for (int h = 0; h < HOOK_COUNT; h++) {
            if (!r->by_hook[h]) continue;
            printf("%s%s: %ld", sep, policy_hook_name((policy_hook)h), r->by_hook[h]);
            sep = ", ";
        }
        printf(")");
    }
    if (r->errors) printf(", %ld of them policy_error", r->errors);
    if (r->skipped) printf("; %ld malformed or unknown question(s) skipped", r->skipped);
    printf("\n");
}

static sqlite3 *open_readonly(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "corder: policy replay: cannot open %s: %s\n", path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* SQL: the document of t's order at version v, current or superseded. */
#define DOC_AT(v)                                                                                  \
    "coalesce((SELECT doc FROM orders o WHERE o.number = t.order_number AND o.version = " v "),"   \
    " (SELECT doc FROM order_docs d WHERE d.number = t.order_number AND d.version = " v "))"

static int replay_log(replay *r, sqlite3 *db, const char *path, const char *store,
                      const char *since)
{
    sqlite3_stmt *st;
    /* each entry with its order's document at the version it saved: the
     * current one, or a superseded one (order_docs, from migration 11) */
    if (sqlite3_prepare_v2(
            db,
            "SELECT t.at, t.store, t.op, t.order_number, t.decisions,"
            " " DOC_AT(
                "json_extract(t.result, '$.version')") ","
                                                       " " DOC_AT(
                                                           "json_extract(t.result, '$.version') - "
                                                           "1") " FROM txlog t WHERE (?2 IS NULL "
                                                                "OR t.at >= ?2) ORDER BY t.seq",
            -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "corder: policy replay: %s is not a corder database: %s\n", path,
                sqlite3_errmsg(db));
        return 1;
    }
    r->store = store; /* filtered per question: see replay_entry */
    if (since) sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *at = (const char *)sqlite3_column_text(st, 0);
        const char *ds = (const char *)sqlite3_column_text(st, 4);
        json_t *decisions = ds ? json_loads(ds, 0, NULL) : NULL;
        if (!json_is_array(decisions)) {
            r->skipped++;
            json_decref(decisions);
            continue;
        }
        const char *number = (const char *)sqlite3_column_text(st, 3);
        const char *docs[2] = {(const char *)sqlite3_column_text(st, 5),
                               (const char *)sqlite3_column_text(st, 6)};
        policy_set_now(parse_at(at)); /* ctx.now as it was when logged */
        replay_entry(r, (const char *)sqlite3_column_text(st, 1),
                     (const char *)sqlite3_column_text(st, 2), number ? number : "-", decisions,
                     docs);
        json_decref(decisions);
    }
    policy_set_now(0);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "corder: policy replay: reading %s: %s\n", path, sqlite3_errmsg(db));
        return 1;
    }
    return 0;
}

int cli_replay_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db", "--policy", "--store", "--since", NULL};
    if (cli_check(argc, argv, allowed, usage)) return 2;
    const char *dbpath = cli_opt(argc, argv, "--db"), *file = cli_opt(argc, argv, "--policy");
    const char *store = cli_opt(argc, argv, "--store"), *since = cli_opt(argc, argv, "--since");
    if (!dbpath || !file) {
        fprintf(stderr, "corder: policy replay needs --db and --policy; usage: %s\n", usage);
        return 2;
    }
    if (since && !engine_valid_date(since)) {
        fprintf(stderr, "corder: --since must be a date YYYY-MM-DD, not '%s'; usage: %s\n", since,
                usage);
        return 2;
    }
    err_t e;
    err_clear(&e);
    replay r = {0};
    if (!(r.pol = policy_load_file(file, NULL, &e))) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    sqlite3 *db = open_readonly(dbpath);
    if (!db) {
        policy_release(r.pol);
        return 1;
    }
    printf("# replay of %s (version %.12s) on %s", file, policy_version(r.pol), dbpath);
    if (store) printf(", store %s", store);
    if (since) printf(", since %s", since);
    printf("\n# each line: a logged question the new policy would answer differently.\n"
           "# This is not a re-run of the flows: amounts due, totals and later questions\n"
           "# that depended on the old answer are not recomputed.\n");
    r.seen = json_object();
    int rc = replay_log(&r, db, dbpath, store, since);
    if (rc == 0) print_summary(&r);
    json_decref(r.seen);
    sqlite3_close(db);
    policy_release(r.pol);
    return rc;
}
