/* seed.c: `corder init`'s master data (PROTOCOL.md "Seed file"). Everything
 * is checked before the first write and written in one transaction; rows
 * that are already as the seed says are left alone, so init is idempotent. */
#include "store/seed.h"

#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "store/auth.h"
#include "store/master.h"
#include "model/text.h"

int seed_store_put(engine *e, json_t *s, const char *path, err_t *err)
{
    static const char *const allowed[] = {
        "id", "name", "currency", "timezone", "order_creation", "policy", NULL};
    const char *id, *name, *cur, *tz = "UTC", *mode = "async", *pol = "default";
    if (args_only(s, path, allowed, err) < 0 || args_str(s, path, "id", true, 31, &id, err) < 0 ||
        args_str(s, path, "name", true, 127, &name, err) < 0 ||
        args_str(s, path, "currency", true, 7, &cur, err) < 0 ||
        args_str(s, path, "timezone", false, 63, &tz, err) < 0 ||
        args_str(s, path, "order_creation", false, 31, &mode, err) < 0 ||
        args_str(s, path, "policy", false, 63, &pol, err) < 0)
        return -1;
    if (strcmp(mode, "async") && strcmp(mode, "sync") && strcmp(mode, "sync_with_async_fallback"))
        return err_field(err, ERR_VALIDATION, "order_creation",
                         "%s.order_creation: '%s' is not async, sync or "
                         "sync_with_async_fallback",
                         path, mode);
    if (!*id || strchr(id, '-'))
        return err_field(err, ERR_VALIDATION, "id", "%s.id: must be non-empty, without '-'", path);
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO stores(id, name, currency, timezone,"
                                   " order_creation, policy) VALUES(?,?,?,?,?,?)"
                                   " ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
                                   " currency=excluded.currency, timezone=excluded.timezone,"
                                   " order_creation=excluded.order_creation,"
                                   " policy=excluded.policy WHERE name IS NOT excluded.name"
                                   " OR currency IS NOT excluded.currency"
                                   " OR timezone IS NOT excluded.timezone"
                                   " OR order_creation IS NOT excluded.order_creation"
                                   " OR policy IS NOT excluded.policy",
                                   err);
    if (!st) return -1;
    const char *vals[] = {id, name, cur, tz, mode, pol};
    for (int i = 0; i < 6; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    return engine_step_done(e, st, "store", err);
}

static int seed_staff(engine *e, json_t *s, const char *path, err_t *err)
{
    static const char *const allowed[] = {"id", "name", "pin", "role", "stores", NULL};
    const char *id, *name, *pin, *role;
    json_t *stores;
    if (args_only(s, path, allowed, err) < 0 || args_str(s, path, "id", true, 31, &id, err) < 0 ||
        args_str(s, path, "name", true, 127, &name, err) < 0 ||
        args_str(s, path, "pin", true, AUTH_PIN_MAX, &pin, err) < 0 ||
        args_str(s, path, "role", true, 63, &role, err) < 0 ||
        args_arr(s, path, "stores", true, 1000, &stores, err) < 0)
        return -1;
    if (strlen(pin) < 4)
        return err_field(err, ERR_VALIDATION, "pin", "%s.pin: at least 4 characters", path);
    auth_staff cur;
    err_t ignore;
    char hash[AUTH_HASH_LEN];
    /* Keep the stored hash when the PIN still matches: rehashing would
     * change the row (a new salt) and break idempotency. */
    if (auth_lookup(e, id, &cur, &ignore) == 0 && auth_verify_hash(cur.hash, pin))
        text_copy(hash, sizeof hash, cur.hash);
    else if (auth_hash_pin(pin, hash, err) < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(stores, i, v)
    {
        if (!json_is_string(v))
            return err_field(err, ERR_BAD_REQUEST, "stores", "%s.stores[%zu]: expected a string",
                             path, i);
        master_store ms;
        if (master_store_get(e, json_string_value(v), &ms, err) < 0) return -1;
    }
    return master_staff_put(e, id, name, role, hash, stores, err);
}

int seed_product_put(engine *e, json_t *p, const char *path, err_t *err)
{
    static const char *const allowed[] = {"item", "name", "price", NULL};
    const char *item, *name;
    int64_t price;
    if (args_only(p, path, allowed, err) < 0 ||
        args_str(p, path, "item", true, 63, &item, err) < 0 ||
        args_str(p, path, "name", true, 127, &name, err) < 0 ||
        args_int(p, path, "price", true, 0, 1000000000000LL, &price, err) < 0)
        return -1;
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO products(item, name, price) VALUES(?,?,?)"
                                   " ON CONFLICT(item) DO UPDATE SET name=excluded.name,"
                                   " price=excluded.price WHERE name IS NOT excluded.name"
                                   " OR price IS NOT excluded.price",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, price);
    return engine_step_done(e, st, "product", err);
}

typedef int (*seed_fn)(engine *, json_t *, const char *, err_t *);

static int seed_section(engine *e, json_t *seed, const char *key, seed_fn fn, err_t *err)
{
    json_t *arr;
    if (args_arr(seed, "", key, false, 1000000, &arr, err) <= 0) return err->code ? -1 : 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char path[64];
        args_index(path, sizeof path, key, i);
        if (!json_is_object(v))
            return err_field(err, ERR_BAD_REQUEST, path, "%s: expected an object", path);
        if (fn(e, v, path, err) < 0) return -1;
    }
    return 0;
}

static int seed_customer(engine *e, json_t *c, const char *path, err_t *err)
{
    if (master_customers_put_all(e, json_string_value(json_object_get(c, "account")), c, err) < 0) {
        char msg[sizeof err->message];
        text_copy(msg, sizeof msg, err->message);
        snprintf(err->message, sizeof err->message, "%s: %s", path, msg);
        return -1;
    }
    return 0;
}

/* "remove": {staff: [id]}: staff who leave the chain. Stores, customers
 * and products are never removed: orders name them (HQ checks an uploaded
 * order's products against its own). An id that is not there is no error
 * (init is idempotent). */
static int seed_remove(engine *e, json_t *rm, err_t *err)
{
    static const char *const allowed[] = {"staff", NULL};
    if (!rm) return 0;
    if (!json_is_object(rm))
        return err_field(err, ERR_BAD_REQUEST, "remove", "remove: expected an object");
    if (args_only(rm, "remove", allowed, err) < 0) return -1;
    for (int k = 0; allowed[k]; k++) {
        json_t *list;
        if (args_arr(rm, "remove", allowed[k], false, 100000, &list, err) < 0) return -1;
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            char p[64];
            snprintf(p, sizeof p, "remove.%s[%zu]", allowed[k], i);
            if (!json_is_string(v))
                return err_field(err, ERR_BAD_REQUEST, p, "%s: expected a string", p);
            if (master_staff_remove(e, json_string_value(v), err) < 0) return -1;
        }
    }
    return 0;
}

int seed_apply(engine *e, json_t *seed, err_t *err)
{
    static const char *const allowed[] = {"stores",       "staff",  "customers", "products",
                                          "reason_codes", "remove", NULL};
    if (!json_is_object(seed)) return err_set(err, ERR_BAD_REQUEST, "seed: expected an object");
    if (args_only(seed, "", allowed, err) < 0) return -1;
    if (engine_begin(e, err) < 0) return -1;
    if (seed_section(e, seed, "stores", seed_store_put, err) < 0 ||
        seed_section(e, seed, "staff", seed_staff, err) < 0 ||
        seed_section(e, seed, "customers", seed_customer, err) < 0 ||
        seed_section(e, seed, "products", seed_product_put, err) < 0 ||
        (json_object_get(seed, "reason_codes") &&
         master_reasons_put(e, json_object_get(seed, "reason_codes"), err) < 0) ||
        seed_remove(e, json_object_get(seed, "remove"), err) < 0) {
        engine_rollback(e);
        return -1;
    }
    return engine_commit(e, err);
}
