/* master_log.c: HQ's master data with versions (SPEC C4).
 *
 * HQ's master data is the master tables of its own corder database (what
 * `corder init` on HQ writes, and what customers uploaded by stores are
 * written into). Each row a store needs is named by (kind, key): a store
 * by id, a staff member by id (their stores included), a customer by
 * account (their addresses included), a product by item, a kind of reason
 * codes by kind. hq_master_log keeps, per (kind, key), the version of its
 * last change: one counter for the whole master data, taken by triggers on
 * the master tables, so every path that writes them (init from another
 * process, a customer upload, SQL by hand) gets a new version without
 * having to remember it. A row deleted keeps its log entry: the store asks
 * for it, finds no row, and learns it is removed (a tombstone).
 *
 * The counter is max(version) + 1 in the writing transaction: SQLite has
 * one writer at a time, so versions are handed out and committed in order,
 * and a store that has read version N has seen everything up to N.
 *
 * hq_master_source holds a random id made when the log is installed: a
 * store that follows another HQ database (another HQ process, a database
 * set up again) learns from it that its version means nothing here and
 * starts over from 0. */
#include "store/master_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/master.h"
#include "model/text.h"

/* The tables whose rows are master data: the column naming the row of
 * its kind. */
static const struct {
    const char *table, *key, *kind;
} logged[] = {
    {"stores", "id", "store"},
    {"staff", "id", "staff"},
    {"staff_stores", "staff", "staff"},
    {"customers", "account", "customer"},
    {"addresses", "account", "customer"},
    {"products", "item", "product"},
    {"reason_codes", "kind", "reasons"},
};
#define NLOGGED (sizeof logged / sizeof logged[0])

#define NEXT_VERSION "(SELECT coalesce(max(version), 0) + 1 FROM hq_master_log)"

static int exec(engine *e, const char *sql, err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(engine_db(e), sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "master log: %s", msg ? msg : sqlite3_errmsg(engine_db(e)));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int install_triggers(engine *e, err_t *err)
{
    static const char *const events[][2] = {
        {"ins", "AFTER INSERT"}, {"upd", "AFTER UPDATE"}, {"del", "AFTER DELETE"}};
    for (size_t i = 0; i < NLOGGED; i++)
        for (int k = 0; k < 3; k++) {
            char sql[768];
            const char *row = k == 2 ? "old" : "new";
            snprintf(
                sql, sizeof sql,
                "CREATE TRIGGER IF NOT EXISTS hq_master_%s_%s %s ON %s BEGIN"
                " INSERT INTO hq_master_log(kind, key, version) VALUES('%s', %s.%s, " NEXT_VERSION
                ") ON CONFLICT(kind, key) DO UPDATE SET"
                " version = excluded.version; END;",
                logged[i].table, events[k][0], events[k][1], logged[i].table, logged[i].kind, row,
                logged[i].key);
            if (exec(e, sql, err) < 0) return -1;
        }
    return 0;
}

/* The first install logs what is there already, kind by kind. */
static int backfill(engine *e, err_t *err)
{
    for (size_t i = 0; i < NLOGGED; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO hq_master_log(kind, key, version) SELECT '%s', k,"
                 " (SELECT coalesce(max(version), 0) FROM hq_master_log)"
                 " + row_number() OVER (ORDER BY k) FROM (SELECT DISTINCT %s AS k FROM %s)"
                 " WHERE true ON CONFLICT(kind, key) DO NOTHING;",
                 logged[i].kind, logged[i].key, logged[i].table);
        if (exec(e, sql, err) < 0) return -1;
    }
    return 0;
}

int master_log_install(engine *e, err_t *err)
{
    if (engine_begin(e, err) < 0) return -1;
    int rc = exec(e,
                  "CREATE TABLE IF NOT EXISTS hq_master_log(kind TEXT NOT NULL, key TEXT NOT NULL,"
                  " version INTEGER NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID;"
                  "CREATE UNIQUE INDEX IF NOT EXISTS hq_master_log_version"
                  " ON hq_master_log(version);"
                  "CREATE TABLE IF NOT EXISTS hq_master_source(id TEXT NOT NULL);",
                  err);
    sqlite3_stmt *st =
        rc == 0 ? engine_stmt(e, "SELECT count(*) FROM hq_master_source", err) : NULL;
    bool fresh = false;
    if (st) {
        fresh = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
        sqlite3_reset(st);
    } else {
        rc = -1;
    }
    if (rc == 0 && fresh) {
        unsigned char raw[16];
        char id[40];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        st = engine_stmt(e, "INSERT INTO hq_master_source(id) VALUES(?)", err);
        if (!st) rc = -1;
        if (rc == 0) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            rc = engine_step_done(e, st, "master source", err);
        }
        if (rc == 0) rc = backfill(e, err);
    }
    if (rc == 0) rc = install_triggers(e, err);
    if (rc < 0) {
        engine_rollback(e);
        return -1;
    }
    return engine_commit(e, err);
}

/* ---- documents ---- */

static void put_col(json_t *o, const char *k, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (t) json_object_set_new(o, k, json_string((const char *)t));
}

static int row_doc(engine *e, const char *sql, const char *const *cols, int int_col,
                   const char *key, json_t **doc, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *doc = json_object();
        for (int i = 0; cols[i]; i++) {
            if (i == int_col)
                json_object_set_new(*doc, cols[i], json_integer(sqlite3_column_int64(st, i)));
            else
                put_col(*doc, cols[i], st, i);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return engine_sqlerr(e, err, "master data");
    return rc == SQLITE_ROW;
}

/* A column's values for key, as an array of strings. */
static int list_of(engine *e, const char *sql, const char *key, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(*out);
        return engine_sqlerr(e, err, "master data");
    }
    return 0;
}

int master_log_doc(engine *e, const char *kind, const char *key, json_t **doc, err_t *err)
{
    *doc = NULL;
    if (!strcmp(kind, "store")) {
        static const char *const cols[] = {
            "id", "name", "currency", "timezone", "order_creation", "policy", NULL};
        return row_doc(e,
                       "SELECT id, name, currency, timezone, order_creation, policy"
                       " FROM stores WHERE id = ?",
                       cols, -1, key, doc, err);
    }
    if (!strcmp(kind, "product")) {
        static const char *const cols[] = {"item", "name", "price", NULL};
        return row_doc(e, "SELECT item, name, price FROM products WHERE item = ?", cols, 2, key,
                       doc, err);
    }
    if (!strcmp(kind, "staff")) {
        static const char *const cols[] = {"id", "name", "role", "pin_hash", NULL};
        json_t *stores;
        int rc = row_doc(e, "SELECT id, name, role, pin_hash FROM staff WHERE id = ?", cols, -1,
                         key, doc, err);
        if (rc <= 0) return rc;
        if (list_of(e, "SELECT store FROM staff_stores WHERE staff = ? ORDER BY store", key,
                    &stores, err) < 0) {
            json_decref(*doc);
            *doc = NULL;
            return -1;
        }
        json_object_set_new(*doc, "stores", stores);
        return 1;
    }
    if (!strcmp(kind, "customer")) {
        json_t *args = json_pack("{s:s}", "account", key);
        err_t nf = {0};
        int rc = master_customer_get(e, args, doc, &nf);
        json_decref(args);
        if (rc == 0) return 1;
        if (nf.code == ERR_NOT_FOUND) return 0;
        *err = nf;
        return -1;
    }
    if (!strcmp(kind, "reasons")) {
        json_t *codes;
        if (list_of(e, "SELECT code FROM reason_codes WHERE kind = ? ORDER BY code", key, &codes,
                    err) < 0)
            return -1;
        *doc = json_pack("{s:o}", "codes", codes);
        return 1;
    }
    return err_set(err, ERR_INTERNAL, "master log: unknown kind %s", kind);
}

/* ---- pages ---- */

static int newest(engine *e, int64_t *out, char source[40], err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT (SELECT coalesce(max(version), 0) FROM hq_master_log),"
                                   " (SELECT id FROM hq_master_source LIMIT 1)",
                                   err);
    if (!st) return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return engine_sqlerr(e, err, "master log");
    }
    *out = sqlite3_column_int64(st, 0);
    const unsigned char *id = sqlite3_column_text(st, 1);
    text_copy(source, 40, id ? (const char *)id : "");
    sqlite3_reset(st);
    return 0;
}

int master_log_since(engine *e, int64_t since, int limit, json_t **changes, int64_t *version,
                     bool *more, char source[40], err_t *err)
{
    *changes = NULL;
    *more = false;
    if (newest(e, version, source, err) < 0) return -1;
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT kind, key, version FROM hq_master_log"
                                   " WHERE version > ? ORDER BY version LIMIT ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int(st, 2, limit + 1);
    json_t *out = json_array();
    size_t bytes = 0;
    int64_t last = since;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(out) == (size_t)limit || bytes >= MASTER_PAGE_BYTES) {
            *more = true;
            break;
        }
        char kind[16], key[64];
        text_copy(kind, sizeof kind, (const char *)sqlite3_column_text(st, 0));
        text_copy(key, sizeof key, (const char *)sqlite3_column_text(st, 1));
        int64_t v = sqlite3_column_int64(st, 2);
        json_t *doc;
        /* master_log_doc uses statements of its own, not this one. */
        int found = master_log_doc(e, kind, key, &doc, err);
        if (found < 0) {
            sqlite3_reset(st);
            json_decref(out);
            return -1;
        }
        json_t *c =
            json_pack("{s:s, s:s, s:I}", "kind", kind, "key", key, "version", (json_int_t)v);
        if (found) {
            char *text = json_dumps(doc, JSON_COMPACT);
            bytes += text ? strlen(text) : 0;
            free(text);
            json_object_set_new(c, "doc", doc);
        } else {
            json_object_set_new(c, "removed", json_true());
        }
        json_array_append_new(out, c);
        last = v;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(out);
        return engine_sqlerr(e, err, "master log");
    }
    /* With nothing after since, the answer is HQ's newest version: lower
     * than since tells the store its version is not one of ours. */
    if (json_array_size(out)) *version = last;
    *changes = out;
    return 0;
}
