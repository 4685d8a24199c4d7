/* master.c: master data reads and the customer ops. */
#include "store/master.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/search.h"
#include "model/text.h"
#include "store/engine_internal.h"
#include "store/fts.h"
#include "store/master_cache.h"

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    text_copy(dst, n, t ? (const char *)t : "");
}

int master_store_get(engine *e, const char *id, master_store *out, err_t *err)
{
    const master_store *kept = mc_store_find(e, id);
    if (kept) {
        *out = *kept;
        return 0;
    }
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT id, name, currency, timezone, order_creation, policy"
                                   " FROM stores WHERE id = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "store", "no store %s", id);
    }
    copy_col(out->id, sizeof out->id, st, 0);
    copy_col(out->name, sizeof out->name, st, 1);
    copy_col(out->currency, sizeof out->currency, st, 2);
    copy_col(out->timezone, sizeof out->timezone, st, 3);
    copy_col(out->order_creation, sizeof out->order_creation, st, 4);
    copy_col(out->policy, sizeof out->policy, st, 5);
    sqlite3_reset(st);
    mc_store_keep(e, out);
    return 0;
}

int master_product_get(engine *e, const char *item, master_product *out, err_t *err)
{
    const master_product *kept = mc_product_find(e, item);
    if (kept) {
        *out = *kept;
        return 0;
    }
    sqlite3_stmt *st = engine_stmt(e, "SELECT item, name, price FROM products WHERE item = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_set(err, ERR_NOT_FOUND, "no product %s", item);
    }
    copy_col(out->item, sizeof out->item, st, 0);
    copy_col(out->name, sizeof out->name, st, 1);
    out->price = sqlite3_column_int64(st, 2);
    sqlite3_reset(st);
    mc_product_keep(e, out);
    return 0;
}

static json_t *brief_json(const mc_brief *b)
{
    return json_pack("{s:s, s:s, s:b}", "account", b->account, "name", b->name, "b2b", b->b2b);
}

json_t *master_customer_brief(engine *e, const char *account, err_t *err)
{
    const mc_brief *kept = mc_customer_find(e, account);
    if (kept) return brief_json(kept);
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT account, name, b2b FROM customers WHERE account = ?", err);
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        err_field(err, ERR_NOT_FOUND, "customer", "no customer %s", account);
        return NULL;
    }
    const char *acc = (const char *)sqlite3_column_text(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    int b2b = sqlite3_column_int(st, 2);
    json_t *c;
    mc_brief b;
    if (acc && name && strlen(acc) < sizeof b.account && strlen(name) < sizeof b.name) {
        strcpy(b.account, acc);
        strcpy(b.name, name);
        b.b2b = b2b != 0;
        mc_customer_keep(e, &b);
        c = brief_json(&b);
    } else /* longer than the seed and customer.create allow: as it is, not kept */
        c = json_pack("{s:s, s:s, s:b}", "account", acc ? acc : "", "name", name ? name : "", "b2b",
                      b2b);
    sqlite3_reset(st);
    return c;
}

bool master_address_exists(engine *e, const char *account, const char *address_id)
{
    err_t err;
    sqlite3_stmt *st = engine_stmt(e, "SELECT 1 FROM addresses WHERE account = ? AND id = ?", &err);
    if (!st) return false;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, address_id, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return ok;
}

int master_address_get(engine *e, const char *account, const char *id, master_address *out)
{
    err_t err;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = engine_stmt(
        e, "SELECT country, zip, city FROM addresses WHERE account = ? AND id = ?", &err);
    if (!st) return 0;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        const char *v;
        if ((v = (const char *)sqlite3_column_text(st, 0)))
            text_copy(out->country, sizeof out->country, v);
        if ((v = (const char *)sqlite3_column_text(st, 1))) text_copy(out->zip, sizeof out->zip, v);
        if ((v = (const char *)sqlite3_column_text(st, 2)))
            text_copy(out->city, sizeof out->city, v);
    }
    sqlite3_reset(st);
    return found;
}

/* A counter's row (txcache.c keeps it within a write transaction). */
static int counter_load(engine *e, const char *key, int64_t v[TXC_VALUES], err_t *err)
{
    sqlite3_stmt *get = engine_stmt(e, "SELECT value FROM counters WHERE name = ?", err);
    if (!get) return -1;
    sqlite3_bind_text(get, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_ROW) v[0] = sqlite3_column_int64(get, 0);
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return engine_sqlerr(e, err, "counter");
    return rc == SQLITE_ROW;
}

static int counter_store(engine *e, const char *key, const int64_t v[TXC_VALUES], bool exists,
                         err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   exists ? "UPDATE counters SET value = ?2 WHERE name = ?1"
                                          : "INSERT INTO counters(name, value) VALUES(?1, ?2)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v[0]);
    return engine_step_done(e, st, "counter", err);
}

static const txc_kind counter_kind = {counter_load, counter_store};

/* Within a write transaction the counter is kept in memory and written at
 * COMMIT (txcache.c): one read a batch instead of a write and a read an
 * order. Outside one, three plain statements rather than one upsert with
 * RETURNING (SQLite runs RETURNING through a temporary table, and that
 * upsert was 4 % of an order.create's instructions). The counter's first
 * use inserts it. */
int master_next(engine *e, const char *counter, int64_t *out, err_t *err)
{
    int64_t *v;
    int kept = txc_row(e, &counter_kind, &counter, 1, &v, err);
    if (kept < 0) return -1;
    if (kept) {
        if (v[0] == INT64_MAX) return err_set(err, ERR_INTERNAL, "counter %s is spent", counter);
        *out = ++v[0];
        return 0;
    }
    sqlite3_stmt *bump =
        engine_stmt(e, "UPDATE counters SET value = value + 1 WHERE name = ?", err);
    if (!bump) return -1;
    sqlite3_bind_text(bump, 1, counter, -1, SQLITE_STATIC);
    int rc = sqlite3_step(bump);
    sqlite3_reset(bump);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "counter");
    if (sqlite3_changes(engine_db(e)) == 0) {
        sqlite3_stmt *first = engine_stmt(e, "INSERT INTO counters(name, value) VALUES(?, 1)", err);
        if (!first) return -1;
        sqlite3_bind_text(first, 1, counter, -1, SQLITE_STATIC);
        rc = sqlite3_step(first);
        sqlite3_reset(first);
        if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "counter");
        *out = 1;
        return 0;
    }
    int64_t now[TXC_VALUES] = {0};
    int got = counter_load(e, counter, now, err);
    if (got == 0) return err_set(err, ERR_INTERNAL, "counter %s: no row after its update", counter);
    *out = now[0];
    return got < 0 ? -1 : 0;
}

static const char *const address_fields[] = {"id", "street", "city", "zip", "country", NULL};

int master_address_check(json_t *addr, const char *path, bool need_id, err_t *err)
{
    const char *s;
    if (args_only(addr, path, address_fields, err) < 0) return -1;
    /* 63 bytes: what an order line's delivery.address takes (order.h). */
    if (args_str(addr, path, "id", need_id, 63, &s, err) < 0) return -1;
    for (int i = 1; address_fields[i]; i++)
        if (args_str(addr, path, address_fields[i], false, 256, &s, err) < 0) return -1;
    return 0;
}

static const char *str_or_null(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int master_address_put(engine *e, const char *account, const char *id, json_t *a, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO addresses(account, id, street, city, zip, country)"
                                   " VALUES(?,?,?,?,?,?) ON CONFLICT(account, id) DO UPDATE SET"
                                   " street=excluded.street, city=excluded.city,"
                                   " zip=excluded.zip, country=excluded.country"
                                   " WHERE street IS NOT excluded.street"
                                   " OR city IS NOT excluded.city OR zip IS NOT excluded.zip"
                                   " OR country IS NOT excluded.country",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    for (int i = 1; address_fields[i]; i++)
        sqlite3_bind_text(st, i + 2, str_or_null(a, address_fields[i]), -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "address");
}

int master_customer_put(engine *e, const char *account, json_t *c, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO customers(account, name, email, phone, b2b)"
                                   " VALUES(?,?,?,?,?) ON CONFLICT(account) DO UPDATE SET"
                                   " name=excluded.name, email=excluded.email,"
                                   " phone=excluded.phone, b2b=excluded.b2b"
                                   " WHERE name IS NOT excluded.name OR email IS NOT excluded.email"
                                   " OR phone IS NOT excluded.phone OR b2b IS NOT excluded.b2b",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, str_or_null(c, "name"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, str_or_null(c, "email"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, str_or_null(c, "phone"), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, json_is_true(json_object_get(c, "b2b")));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "customer");
}

static const char *const customer_fields[] = {"account", "name",      "email", "phone",
                                              "b2b",     "addresses", NULL};

/* Checks a customer object; the account is required by the seed only. */
static int customer_check(json_t *c, bool need_account, err_t *err)
{
    const char *s, *name;
    bool b;
    json_t *addrs;
    if (args_only(c, "", customer_fields + (need_account ? 0 : 1), err) < 0 ||
        args_str(c, "", "account", need_account, 32, &s, err) < 0 ||
        args_str(c, "", "name", true, MASTER_NAME_MAX, &name, err) < 0 ||
        args_str(c, "", "email", false, 128, &s, err) < 0 ||
        args_str(c, "", "phone", false, 64, &s, err) < 0 ||
        args_bool(c, "", "b2b", false, &b, err) < 0 ||
        args_arr(c, "", "addresses", false, 100, &addrs, err) < 0)
        return -1;
    if (text_blank(name)) return err_field(err, ERR_VALIDATION, "name", "name: must not be empty");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(c, "addresses"), i, a)
    {
        char p[64];
        args_index(p, sizeof p, "addresses", i);
        if (!json_is_object(a))
            return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
        if (master_address_check(a, p, need_account, err) < 0) return -1;
    }
    return 0;
}

/* Inserts the customer and each address; addresses without an id get
 * "a1", "a2"… in order. */
static int customer_store(engine *e, const char *account, json_t *c, err_t *err)
{
    if (master_customer_put(e, account, c, err) < 0) return -1;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(c, "addresses"), i, a)
    {
        char gen[16];
        const char *id = json_string_value(json_object_get(a, "id"));
        if (!id) {
            snprintf(gen, sizeof gen, "a%zu", i + 1);
            id = gen;
        }
        if (master_address_put(e, account, id, a, err) < 0) return -1;
    }
    return 0;
}

int master_customers_put_all(engine *e, const char *account, json_t *c, err_t *err)
{
    if (customer_check(c, true, err) < 0) return -1;
    return customer_store(e, account, c, err);
}

int master_customer_create(engine *e, const char *store, json_t *args, json_t **result, err_t *err)
{
    if (customer_check(args, false, err) < 0) return -1;
    int64_t n;
    if (master_next(e, "customer", &n, err) < 0) return -1;
    /* Store-prefixed so accounts made at different stores never collide. */
    char account[64];
    snprintf(account, sizeof account, "%s-C%06lld", store, (long long)n);
    if (customer_store(e, account, args, err) < 0 || master_outbox_add(e, account, err) < 0)
        return -1;
    *result = json_pack("{s:s}", "account", account);
    return 0;
}

int master_customer_match(engine *e, const search_query *sq, char *out, size_t n, err_t *err)
{
    return fts_match(e,
                     "SELECT count(*) FROM (SELECT 1 FROM customer_search"
                     " WHERE customer_search MATCH ?1 LIMIT ?2)",
                     sq, true, out, n, err);
}

int master_customer_find(engine *e, json_t *args, json_t **result, err_t *err)
{
    const char *q;
    int64_t limit = 50;
    search_query sq;
    /* Any length is read so that a long q is validation on q, as for
     * order.find; the search text's own limit is search.h's. */
    if (args_str(args, "", "q", true, SIZE_MAX, &q, err) < 0 ||
        args_int(args, "", "limit", false, 1, 500, &limit, err) < 0 ||
        search_query_make(q, "q", &sq, err) < 0) /* after every bad_request */
        return -1;
    char match[SEARCH_MATCH_MAX];
    int found = master_customer_match(e, &sq, match, sizeof match, err);
    if (found < 0) return -1;
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT c.account, c.name, c.email, c.phone, c.b2b"
                                   " FROM customer_search s JOIN customers c ON c.rowid = s.rowid"
                                   " WHERE customer_search MATCH ? ORDER BY s.rowid DESC",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    json_t *list = json_array();
    int rc = SQLITE_DONE;
    while (found && (int64_t)json_array_size(list) < limit &&
           (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t[4];
        for (int i = 0; i < 4; i++)
            t[i] = (const char *)sqlite3_column_text(st, i);
        if (!search_hit(&sq, t, 3, t[3])) continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s?, s:b}", "account", t[0],
                                              "name", t[1], "email", t[2], "phone", t[3], "b2b",
                                              sqlite3_column_int(st, 4)));
    }
    sqlite3_reset(st);
    if ((int64_t)json_array_size(list) < limit && rc != SQLITE_DONE) {
        json_decref(list);
        return engine_sqlerr(e, err, "customers");
    }
    *result = json_pack("{s:o}", "customers", list);
    return 0;
}

int master_customer_get(engine *e, json_t *args, json_t **result, err_t *err)
{
    static const char *const allowed[] = {"account", NULL};
    const char *account;
    if (args_only(args, "", allowed, err) < 0 ||
        args_str(args, "", "account", true, 64, &account, err) < 0)
        return -1;
    sqlite3_stmt *st = engine_stmt(
        e, "SELECT account, name, email, phone, b2b FROM customers WHERE account = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "account", "no customer %s", account);
    }
    json_t *c = json_pack(
        "{s:s, s:s, s:s?, s:s?, s:b}", "account", (const char *)sqlite3_column_text(st, 0), "name",
        (const char *)sqlite3_column_text(st, 1), "email", (const char *)sqlite3_column_text(st, 2),
        "phone", (const char *)sqlite3_column_text(st, 3), "b2b", sqlite3_column_int(st, 4));
    sqlite3_reset(st);
    json_t *addrs = json_array();
    st = engine_stmt(e,
                     "SELECT id, street, city, zip, country FROM addresses WHERE account = ?"
                     " ORDER BY id",
                     err);
    if (!st) {
        json_decref(c);
        json_decref(addrs);
        return -1;
    }
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *a = json_object();
        for (int i = 0; address_fields[i]; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            if (t) json_object_set_new(a, address_fields[i], json_string((const char *)t));
        }
        json_array_append_new(addrs, a);
    }
    sqlite3_reset(st);
    json_object_set_new(c, "addresses", addrs);
    *result = c;
    return 0;
}

int master_customer_add_address(engine *e, json_t *args, json_t **result, err_t *err)
{
    static const char *const allowed[] = {"account", "address", NULL};
    const char *account;
    json_t *addr;
    if (args_only(args, "", allowed, err) < 0 ||
        args_str(args, "", "account", true, 64, &account, err) < 0 ||
        args_obj(args, "", "address", true, &addr, err) < 0 ||
        master_address_check(addr, "address", false, err) < 0)
        return -1;
    json_t *brief = master_customer_brief(e, account, err);
    if (!brief) return -1;
    json_decref(brief);
    const char *id = json_string_value(json_object_get(addr, "id"));
    char gen[32];
    if (!id) {
        /* The first free "aN": ids made at create time are a1, a2, … too. */
        for (int n = 1;; n++) {
            snprintf(gen, sizeof gen, "a%d", n);
            if (!master_address_exists(e, account, gen)) break;
        }
        id = gen;
    } else if (master_address_exists(e, account, id)) {
        return err_field(err, ERR_VALIDATION, "address.id", "address.id: %s already exists", id);
    }
    if (master_address_put(e, account, id, addr, err) < 0 || master_outbox_add(e, account, err) < 0)
        return -1;
    *result = json_pack("{s:s}", "id", id);
    return 0;
}

/* ---- reason codes (R4) ---- */

int master_reason_ok(engine *e, const char *kind, const char *code, err_t *err)
{
    /* One statement answers both questions: any list of that kind, and
     * whether it holds the code. */
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT count(*), coalesce(max(code = ?2), 0)"
                                   " FROM reason_codes WHERE kind = ?1",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return engine_sqlerr(e, err, "reason codes");
    }
    int ok = sqlite3_column_int64(st, 0) == 0 || sqlite3_column_int(st, 1) != 0;
    sqlite3_reset(st);
    return ok;
}

int master_reasons_put(engine *e, json_t *codes, err_t *err)
{
    static const char *const kinds[] = {"return", "cancel", "hold", NULL};
    if (!json_is_object(codes))
        return err_field(err, ERR_BAD_REQUEST, "reason_codes", "reason_codes: expected an object");
    if (args_only(codes, "reason_codes", kinds, err) < 0) return -1;
    const char *kind;
    json_t *list;
    json_object_foreach(codes, kind, list)
    {
        char path[48];
        snprintf(path, sizeof path, "reason_codes.%s", kind);
        if (!json_is_array(list) || json_array_size(list) > 1000)
            return err_field(err, ERR_BAD_REQUEST, path,
                             "%s: expected a list of at most 1000 codes", path);
        /* Only the codes no longer listed go, so an unchanged list writes
         * nothing (HQ's version log sees no change: master_log.c). */
        sqlite3_stmt *del = engine_stmt(e,
                                        "DELETE FROM reason_codes WHERE kind = ?1 AND code NOT IN"
                                        " (SELECT value FROM json_each(?2) WHERE type = 'text')",
                                        err);
        if (!del) return -1;
        char *codes_text = json_dumps(list, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!codes_text) return err_set(err, ERR_INTERNAL, "out of memory");
        sqlite3_bind_text(del, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(del, 2, codes_text, -1, SQLITE_STATIC);
        int rc = sqlite3_step(del);
        sqlite3_reset(del);
        free(codes_text);
        if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "reason codes");
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            char p[64];
            args_index(p, sizeof p, path, i);
            const char *code = json_string_value(c);
            /* 31 bytes: what an order keeps of a hold code (order.h) */
            if (!code || !*code || json_string_length(c) > 31 ||
                !text_utf8_ok(code, json_string_length(c)))
                return err_field(err, ERR_BAD_REQUEST, p, "%s: a code is 1 to 31 bytes of text", p);
            sqlite3_stmt *ins =
                engine_stmt(e, "INSERT OR IGNORE INTO reason_codes(kind, code) VALUES(?, ?)", err);
            if (!ins) return -1;
            sqlite3_bind_text(ins, 1, kind, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, code, -1, SQLITE_STATIC);
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "reason codes");
        }
    }
    return 0;
}

/* ---- staff and products (seed, and HQ's master data: master_sync.c) ---- */

int master_staff_put(engine *e, const char *id, const char *name, const char *role,
                     const char *hash, json_t *stores, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO staff(id, name, role, pin_hash) VALUES(?,?,?,?)"
                                   " ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
                                   " role=excluded.role, pin_hash=excluded.pin_hash"
                                   " WHERE name IS NOT excluded.name OR role IS NOT excluded.role"
                                   " OR pin_hash IS NOT excluded.pin_hash",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "staff", err) < 0) return -1;
    /* The stores listed, no others: a store taken off the list is one the
     * staff member may no longer sign in to. Rows that stay are not
     * touched, so an unchanged list writes nothing. */
    char *list = json_dumps(stores, JSON_COMPACT);
    if (!list) return err_set(err, ERR_INTERNAL, "out of memory");
    st = engine_stmt(e,
                     "DELETE FROM staff_stores WHERE staff = ?1 AND store NOT IN"
                     " (SELECT value FROM json_each(?2) WHERE type = 'text')",
                     err);
    int rc = st ? 0 : -1;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
        rc = engine_step_done(e, st, "staff_stores", err);
    }
    if (rc == 0)
        st = engine_stmt(e,
                         "INSERT OR IGNORE INTO staff_stores(staff, store) SELECT ?1, value"
                         " FROM json_each(?2) WHERE type = 'text'",
                         err);
    if (rc == 0 && !st) rc = -1;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
        rc = engine_step_done(e, st, "staff_stores", err);
    }
    free(list);
    return rc;
}

int master_staff_remove(engine *e, const char *id, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "DELETE FROM staff_stores WHERE staff = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "staff_stores", err) < 0) return -1;
    st = engine_stmt(e, "DELETE FROM staff WHERE id = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "staff", err);
}

int master_product_remove(engine *e, const char *item, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "DELETE FROM products WHERE item = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "product", err);
}

/* ---- customers waiting to go up to HQ (SPEC C4) ---- */

int master_outbox_add(engine *e, const char *account, err_t *err)
{
    /* HQ's own customers are its master data already: nothing to send up. */
    if (e->hq_role) return 0;
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO master_outbox(account, seq) VALUES(?1,"
                                   " (SELECT coalesce(max(seq), 0) + 1 FROM master_outbox))"
                                   " ON CONFLICT(account) DO UPDATE SET seq = excluded.seq",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "master_outbox", err);
}
