/* orders.c: the order rows (see orders.h). Every statement is prepared
 * with bound parameters and cached by the engine. */
#include "store/orders.h"

#include <stdlib.h>
#include <string.h>

#include "model/text.h"
#include "store/fts.h"
#include "store/master.h"

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col, const char *def)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    text_copy(dst, n, t ? t : def);
}

int orders_read(engine *e, const char *number, orders_row *row, err_t *err)
{
    memset(row, 0, sizeof *row);
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT doc, sync_state, hq_order, sync_error, sync_attempts,"
                                   " version, read_only FROM orders WHERE number = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "number", "no order %s", number);
    }
    row->doc_len = (size_t)sqlite3_column_bytes(st, 0);
    row->doc = malloc(row->doc_len + 1);
    if (row->doc) memcpy(row->doc, sqlite3_column_text(st, 0), row->doc_len + 1);
    copy_col(row->sync_state, sizeof row->sync_state, st, 1, "pending");
    copy_col(row->hq_order, sizeof row->hq_order, st, 2, "");
    copy_col(row->sync_error, sizeof row->sync_error, st, 3, "");
    row->sync_attempts = sqlite3_column_int64(st, 4);
    row->version = sqlite3_column_int64(st, 5);
    row->read_only = sqlite3_column_int(st, 6) != 0;
    sqlite3_reset(st);
    return row->doc ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
}

void orders_row_free(orders_row *row)
{
    free(row->doc);
    row->doc = NULL;
}

/* Keeps version of order number in order_docs before its row is
 * replaced (outbox.h: an event not yet sent, a log entry and replay name
 * versions); nothing when the row is at another version. */
static int keep_version(engine *e, const char *number, int64_t version, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT OR IGNORE INTO order_docs(number, version, doc)"
                                   " SELECT number, version, doc FROM orders"
                                   " WHERE number = ?1 AND version = ?2",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "order_docs");
}

/* Binds ?1..?10, the columns orders_write and orders_adopt share. */
static void bind_cols(sqlite3_stmt *st, const orders_cols *c)
{
    sqlite3_bind_text(st, 1, c->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->store, -1, SQLITE_STATIC);
    if (c->customer && *c->customer) sqlite3_bind_text(st, 3, c->customer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->created_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->created_at, 10, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, c->version);
    sqlite3_bind_text(st, 9, c->policy_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, c->doc, -1, SQLITE_STATIC);
}

/* A new row's order_pickups rows. A trigger wrote them once, reading the
 * pairs back from the row's JSON (json_each): about 6 % of an
 * order.create's instructions. */
static int add_pickups(engine *e, const orders_cols *c, err_t *err)
{
    if (c->pickup_n == 0) return 0;
    sqlite3_stmt *st = engine_stmt(
        e, "INSERT OR IGNORE INTO order_pickups(store, date, number) VALUES(?, ?, ?)", err);
    if (!st) return -1;
    for (size_t i = 0; i < c->pickup_n; i++) {
        sqlite3_bind_text(st, 1, c->pickup_v[i].store, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->pickup_v[i].date, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->number, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "order_pickups");
    }
    return 0;
}

int orders_write(engine *e, const orders_cols *c, bool is_new, err_t *err)
{
    const char *sql_insert = "INSERT INTO orders(number, store, customer, type, status, created_at,"
                             " created_date, version, policy_version, doc, pickups)"
                             " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?12)";
    const char *sql_update =
        "UPDATE orders SET customer=?3, type=?4, status=?5, version=?8,"
        " policy_version=?9, doc=?10, pickups=?12 WHERE number=?1 AND version=?11";
    /* a stale version copies nothing; the update below reports the conflict */
    if (!is_new && keep_version(e, c->number, c->version - 1, err) < 0) return -1;
    sqlite3_stmt *st = engine_stmt(e, is_new ? sql_insert : sql_update, err);
    if (!st) return -1;
    bind_cols(st, c);
    if (!is_new) sqlite3_bind_int64(st, 11, c->version - 1);
    if (c->pickups) sqlite3_bind_text(st, 12, c->pickups, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int changes = sqlite3_changes(engine_db(e));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "orders");
    if (changes != 1) return err_set(err, ERR_CONFLICT, "order %s changed meanwhile", c->number);
    return is_new ? add_pickups(e, c, err) : 0;
}

int orders_adopt(engine *e, const orders_cols *c, const char *owner, bool read_only,
                 const char *sync_state, const char *hq_order, bool *skipped, err_t *err)
{
    *skipped = false;
    orders_row old;
    err_t nf = {0};
    bool have = orders_read(e, c->number, &old, &nf) == 0;
    if (!have && nf.code != ERR_NOT_FOUND) {
        *err = nf;
        return -1;
    }
    if (have) orders_row_free(&old);
    /* A newer copy never gives way to an older one (polls may cross). An
     * order this server may change becomes a copy when HQ says another
     * store owns it now: HQ's word on the owner is the one that counts. */
    if (have && read_only && old.read_only && old.version >= c->version) {
        *skipped = true;
        return 0;
    }
    const char *sql_insert =
        "INSERT INTO orders(number, store, customer, type, status, created_at, created_date,"
        " version, policy_version, doc, pickups, owner, read_only, sync_state, hq_order)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?15,?13,?14)";
    const char *sql_update =
        "UPDATE orders SET customer=?3, type=?4, status=?5, version=?8, policy_version=?9,"
        " doc=?10, pickups=?11, owner=?12, read_only=?15, sync_state=?13, hq_order=?14,"
        " sync_error=NULL WHERE number=?1";
    /* the version a newer copy replaces stays readable, as in orders_write */
    if (have && old.version != c->version && keep_version(e, c->number, old.version, err) < 0)
        return -1;
    sqlite3_stmt *st = engine_stmt(e, have ? sql_update : sql_insert, err);
    if (!st) return -1;
    bind_cols(st, c);
    if (c->pickups) sqlite3_bind_text(st, 11, c->pickups, -1, SQLITE_STATIC);
    if (owner && strcmp(owner, c->store)) sqlite3_bind_text(st, 12, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 15, read_only ? 1 : 0);
    sqlite3_bind_text(st, 13, sync_state, -1, SQLITE_STATIC);
    if (hq_order && *hq_order) sqlite3_bind_text(st, 14, hq_order, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "orders adopt");
    return have ? 0 : add_pickups(e, c, err);
}

int orders_store_of(engine *e, const char *number, char store[32], err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT store FROM orders WHERE number = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) copy_col(store, 32, st, 0, "");
    sqlite3_reset(st);
    return found;
}

/* order.find's SQL: static texts (the statement cache is keyed by their
 * address), one per way in, so that SQLite can pick the index the filter
 * needs: the customer's or the store's index, or none; order_pickups for
 * a pickup store (or, for pickup dates alone, per store of the chain); for
 * q, see find_q below. Parameters: ?1 customer, ?2 status, ?3 store,
 * ?4 from, ?5 to, ?6 limit, ?7 pickup_store, ?8 pickup_from, ?9 pickup_to,
 * ?10 open (1/0), ?11 the MATCH text, ?12 one matching customer.
 * Newest first is by creation date, then by the order rows were stored in
 * (rowid: within a store, the number's order), which orders_date serves
 * without a sort however many orders share a date. */
#define FIND_FILTERS                                                                               \
    " AND (?1 IS NULL OR o.customer = ?1) AND (?2 IS NULL OR o.status = ?2)"                       \
    " AND (?3 IS NULL OR o.store = ?3) AND (?4 IS NULL OR o.created_date >= ?4)"                   \
    " AND (?5 IS NULL OR o.created_date <= ?5)"                                                    \
    " AND (?10 IS NULL OR (o.status IN ('open', 'partially_invoiced')) = ?10)"
#define BY_PICKUP_STORE                                                                            \
    " AND o.number IN (SELECT number FROM order_pickups WHERE store = ?7"                          \
    " AND date >= coalesce(?8, '') AND date <= coalesce(?9, '~'))"
#define BY_PICKUP_DATE                                                                             \
    " AND o.number IN (SELECT p.number FROM stores s JOIN order_pickups p ON p.store = s.id"       \
    " WHERE p.date >= coalesce(?8, '') AND p.date <= coalesce(?9, '~'))"
/* A pickup store without dates may hold most orders: walk the orders newest
 * first and stop at the limit rather than sort every one of them; each
 * order's own pairs say whether it has a pickup there (order_pickups is
 * keyed by store and date, with no index on the number: schema 14). */
#define BY_PICKUP_STORE_ONLY                                                                       \
    " AND EXISTS (SELECT 1 FROM json_each(o.pickups) WHERE json_extract(value, '$[0]') = ?7)"
#define FIND_PLAIN(way, pick)                                                                      \
    "SELECT o.number FROM orders o WHERE " way pick FIND_FILTERS                                   \
    " ORDER BY o.created_date DESC, o.rowid DESC LIMIT ?6"
#define FIND_PICK_VARIANTS(F)                                                                      \
    {                                                                                              \
        F(""), F(BY_PICKUP_STORE), F(BY_PICKUP_DATE), F(BY_PICKUP_STORE_ONLY)                      \
    }
#define FIND_WAYS(F, pick)                                                                         \
    {                                                                                              \
        F("o.customer = ?1", pick), F("o.store = ?3", pick), F("1", pick)                          \
    }
#define FIND_PICKS(F)                                                                              \
    {                                                                                              \
        FIND_WAYS(F, ""), FIND_WAYS(F, BY_PICKUP_STORE), FIND_WAYS(F, BY_PICKUP_DATE),             \
            FIND_WAYS(F, BY_PICKUP_STORE_ONLY)                                                     \
    }
static const char *const find_sql[4][3] = FIND_PICKS(FIND_PLAIN);

/* With q, "newest first" is the order rows were stored in (rowid). Three
 * ways in:
 * - one customer's orders (?12 the account), by orders_customer: a
 *   customer has few orders, sorted by rowid after the seek;
 * - orders whose number holds q's trigrams (order_numbers, ?11);
 * - every order, newest first, each checked in C (number, name, email,
 *   phone): when so many customers match that the matching orders are
 *   dense among the newest. */
#define FIND_BY_CUSTOMER(pick)                                                                     \
    "SELECT o.rowid, o.number FROM orders o WHERE o.customer = ?12" pick FIND_FILTERS              \
    " ORDER BY o.rowid DESC LIMIT ?6"
#define FIND_BY_NUMBER(pick)                                                                       \
    "SELECT o.rowid, o.number FROM order_numbers s JOIN orders o ON o.rowid = s.rowid"             \
    " WHERE order_numbers MATCH ?11" pick FIND_FILTERS " ORDER BY s.rowid DESC"
#define FIND_BY_SCAN(pick)                                                                         \
    "SELECT o.rowid, o.number, c.name, c.email, c.phone FROM orders o"                             \
    " LEFT JOIN customers c ON c.account = o.customer WHERE 1" pick FIND_FILTERS                   \
    " ORDER BY o.rowid DESC"
/* the orders made in the open batch, whose numbers are not in
 * order_numbers yet (fts.h) */
#define FIND_BY_PENDING(pick)                                                                      \
    "SELECT o.rowid, o.number FROM order_numbers_pending s JOIN orders o ON o.rowid = s.rowid"     \
    " WHERE 1" pick FIND_FILTERS " ORDER BY s.rowid DESC"
static const char *const find_by_customer[4] = FIND_PICK_VARIANTS(FIND_BY_CUSTOMER);
static const char *const find_by_pending[4] = FIND_PICK_VARIANTS(FIND_BY_PENDING);
static const char *const find_by_number[4] = FIND_PICK_VARIANTS(FIND_BY_NUMBER);
static const char *const find_by_scan[4] = FIND_PICK_VARIANTS(FIND_BY_SCAN);

/* Customers matched at most before a q search walks the newest orders
 * instead of each customer's: with more, the matching orders are dense
 * enough among the newest (500 of 100,000 customers: one order in 200)
 * that the walk is the shorter way. */
#define FIND_ACCOUNTS_MAX 500

typedef struct {
    int64_t rowid;
    char number[48];
} find_hit;

static int hit_newer(const void *a, const void *b)
{
    int64_t x = ((const find_hit *)a)->rowid, y = ((const find_hit *)b)->rowid;
    return (x < y) - (x > y);
}

/* Binds the filters every order.find statement shares (see above). */
static void bind_filters(sqlite3_stmt *st, const orders_filter *f)
{
    const char *vals[] = {f->customer, f->status,       f->store,       f->from,     f->to,
                          NULL,        f->pickup_store, f->pickup_from, f->pickup_to};
    for (int i = 0; i < 9; i++)
        if (vals[i]) sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, f->limit);
    if (f->open >= 0) sqlite3_bind_int(st, 10, f->open);
}

static int done(engine *e, sqlite3_stmt *st, int rc, err_t *err)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : engine_sqlerr(e, err, "orders");
}

/* Appends up to f->limit rows of st (rowid, number) to hits; with
 * check_number, only those whose number q matches. */
static int collect(engine *e, sqlite3_stmt *st, const orders_filter *f, bool check_number,
                   find_hit *hits, size_t *n, size_t cap, err_t *err)
{
    int rc = SQLITE_DONE;
    for (int64_t got = 0; got < f->limit && *n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW;) {
        const char *number = (const char *)sqlite3_column_text(st, 1);
        if (check_number && !search_hit(f->q, &number, 1, NULL)) continue;
        hits[*n].rowid = sqlite3_column_int64(st, 0);
        text_copy(hits[*n].number, sizeof hits[*n].number, number);
        (*n)++;
        got++;
    }
    return done(e, st, rc, err);
}

/* The accounts whose name, email or phone q matches (f->customer's alone
 * when given), at most FIND_ACCOUNTS_MAX + 1: *n past the max means "many". */
static int matching_accounts(engine *e, const orders_filter *f, char (*acc)[64], size_t *n,
                             err_t *err)
{
    char match[SEARCH_MATCH_MAX];
    int found = master_customer_match(e, f->q, match, sizeof match, err);
    if (found <= 0) return found;
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT c.account, c.name, c.email, c.phone"
                                   " FROM customer_search s JOIN customers c ON c.rowid = s.rowid"
                                   " WHERE customer_search MATCH ? ORDER BY s.rowid DESC",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (*n <= FIND_ACCOUNTS_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t[4];
        for (int i = 0; i < 4; i++)
            t[i] = (const char *)sqlite3_column_text(st, i);
        if (f->customer && strcmp(f->customer, t[0])) continue;
        if (!search_hit(f->q, t + 1, 2, t[3])) continue;
        text_copy(acc[(*n)++], 64, t[0]);
    }
    return done(e, st, rc, err);
}

/* Every order, newest first, checked one by one (many customers match). */
static json_t *find_by_walk(engine *e, const orders_filter *f, int pick, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, find_by_scan[pick], err);
    if (!st) return NULL;
    bind_filters(st, f);
    json_t *numbers = json_array();
    int rc = SQLITE_DONE;
    while ((int64_t)json_array_size(numbers) < f->limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t[5];
        for (int i = 1; i < 5; i++)
            t[i] = (const char *)sqlite3_column_text(st, i);
        if (search_hit(f->q, t + 1, 3, t[4])) json_array_append_new(numbers, json_string(t[1]));
    }
    if (done(e, st, rc, err) < 0) {
        json_decref(numbers);
        return NULL;
    }
    return numbers;
}

/* q: the orders of the matching customers and the orders whose number
 * matches, merged newest first. */
static json_t *find_q(engine *e, const orders_filter *f, int pick, err_t *err)
{
    char(*acc)[64] = malloc((FIND_ACCOUNTS_MAX + 1) * sizeof *acc);
    size_t n_acc = 0, n = 0, cap = (size_t)f->limit * 2;
    find_hit *hits = malloc(cap * sizeof *hits);
    json_t *numbers = NULL;
    if (!acc || !hits) {
        err_set(err, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (matching_accounts(e, f, acc, &n_acc, err) < 0) goto out;
    if (n_acc > FIND_ACCOUNTS_MAX) {
        numbers = find_by_walk(e, f, pick, err);
        goto out;
    }
    /* each customer's newest (at most limit), kept to the newest limit */
    sqlite3_stmt *st = engine_stmt(e, find_by_customer[pick], err);
    if (!st) goto out;
    for (size_t i = 0; i < n_acc; i++) {
        bind_filters(st, f);
        sqlite3_bind_text(st, 12, acc[i], -1, SQLITE_STATIC);
        if (collect(e, st, f, false, hits, &n, cap, err) < 0) goto out;
        if (n + (size_t)f->limit > cap) {
            qsort(hits, n, sizeof *hits, hit_newer);
            n = (size_t)f->limit;
        }
    }
    /* the numbers that hold q (the text of q: a phone key is no number) */
    char match[SEARCH_MATCH_MAX];
    int found = 0;
    if (f->q->n_text > 0 && (found = fts_match(e,
                                               "SELECT count(*) FROM (SELECT 1 FROM order_numbers"
                                               " WHERE order_numbers MATCH ?1 LIMIT ?2)",
                                               f->q, false, match, sizeof match, err)) < 0)
        goto out;
    if (found) {
        if (n + (size_t)f->limit > cap) {
            qsort(hits, n, sizeof *hits, hit_newer);
            n = (size_t)f->limit;
        }
        if (!(st = engine_stmt(e, find_by_number[pick], err))) goto out;
        bind_filters(st, f);
        sqlite3_bind_text(st, 11, match, -1, SQLITE_STATIC);
        if (collect(e, st, f, true, hits, &n, cap, err) < 0) goto out;
    }
    if (f->q->n_text > 0) { /* and those not in the index yet, each checked */
        if (n + (size_t)f->limit > cap) {
            qsort(hits, n, sizeof *hits, hit_newer);
            n = (size_t)f->limit;
        }
        if (!(st = engine_stmt(e, find_by_pending[pick], err))) goto out;
        bind_filters(st, f);
        if (collect(e, st, f, true, hits, &n, cap, err) < 0) goto out;
    }
    qsort(hits, n, sizeof *hits, hit_newer);
    numbers = json_array();
    for (size_t i = 0; i < n && (int64_t)json_array_size(numbers) < f->limit; i++)
        if (i == 0 || hits[i].rowid != hits[i - 1].rowid) /* by number and by customer */
            json_array_append_new(numbers, json_string(hits[i].number));
out:
    free(acc);
    free(hits);
    return numbers;
}

json_t *orders_find(engine *e, const orders_filter *f, err_t *err)
{
    bool dates = f->pickup_from || f->pickup_to;
    int pick = f->pickup_store ? (dates ? 1 : 3) : dates ? 2 : 0;
    if (f->q) return find_q(e, f, pick, err);
    int way = f->customer ? 0 : f->store ? 1 : 2;
    sqlite3_stmt *st = engine_stmt(e, find_sql[pick][way], err);
    if (!st) return NULL;
    bind_filters(st, f);
    json_t *numbers = json_array();
    int rc = SQLITE_DONE;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(numbers, json_string((const char *)sqlite3_column_text(st, 0)));
    if (done(e, st, rc, err) < 0) {
        json_decref(numbers);
        return NULL;
    }
    return numbers;
}

int orders_count_by_sync_state(engine *e, const char *store, json_t *r, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT sync_state, count(*) FROM orders WHERE store = ?"
                                   " GROUP BY sync_state",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(r, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    return 0;
}
