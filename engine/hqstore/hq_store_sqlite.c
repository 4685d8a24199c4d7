/* hq_store_sqlite.c: HQ's storage (hq_store.h) in the HQ's corder database.
 *
 * The backend owns its tables (created here, not by schema.c, so another
 * backend brings its own DDL). Format:
 *   hq_events   what each store uploaded, exactly once per (store, seq):
 *     id          INTEGER PRIMARY KEY: arrival order at HQ
 *     store, seq  the store and its outbox seq (UNIQUE: a resent event is
 *                 ignored, which is what makes uploads idempotent)
 *     order_number, type, payload (the order document), received_at
 *     hash        hq_event_hash of the event (32 bytes): a resent event is
 *                 a duplicate only if its hash matches, else a conflict.
 *                 Added after the first release (ALTER TABLE at start);
 *                 NULL in older rows, whose hash is then computed from the
 *                 columns when needed
 *   hq_conflicts  events refused because their (store, seq) was kept with
 *                 other content, one row per (store, seq): what was
 *                 offered last (order_number, type, payload, hash), count,
 *                 first_at, last_at. The kept event stays in hq_events.
 *   hq_orders   one row per store order HQ knows, with its sales order:
 *     id          INTEGER PRIMARY KEY
 *     store, number   UNIQUE; number is NULL for a real-time (sync-mode)
 *                 sales order until the store's upload of its creation
 *                 links it by hq_order
 *     hq_order    HQ's sales-order id ("HQ-000001"), UNIQUE, NULL until made
 *     state       uploaded | synchronized | failed
 *     error, attempts, retries   the last failure; tries; hq.retry calls
 *     doc         the newest order document; last_seq its event (an
 *                 event with a lower seq, arriving late, leaves doc alone)
 *     synced_seq  the event the sales order was last made or updated from
 *     updated_at
 *     owner       C5: the store that may change the order, NULL for its own
 *                 store (added after the first release: ALTER TABLE at start)
 *   hq_holders  C5: per (store, number) a store that once owned the order
 *               and gave it up to a claim: order_store (its record's key),
 *               seen (the version it acknowledged having)
 *   hq_unsent   C5: per store, the orders it last reported as having events
 *               HQ had not received, with the newest such seq (replaced
 *               whole at each report); one counts until that event arrives
 *   hq_tokens   per-store credentials (SPEC C2): store, hash (BLAKE2b-256
 *               of the token; the token itself is never kept), created_at,
 *               revoked_at (NULL while live)
 * Every statement runs on the engine's connection, inside whatever
 * transaction the server has open, so an upload is durable when its
 * batch commits and not before. */
#include "hqstore/hq_store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/engine.h"
#include "store/master.h"
#include "model/text.h"

typedef struct {
    hq_store base;
    engine *e;
} hq_sqlite;

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS hq_events(id INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " seq INTEGER NOT NULL, order_number TEXT NOT NULL, type TEXT NOT NULL,"
    " payload TEXT NOT NULL, received_at TEXT NOT NULL, hash BLOB, UNIQUE(store, seq));"
    "CREATE TABLE IF NOT EXISTS hq_orders(id INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " number TEXT, hq_order TEXT UNIQUE, state TEXT NOT NULL, error TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,"
    " doc TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,"
    " synced_seq INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, UNIQUE(store, number));"
    "CREATE INDEX IF NOT EXISTS hq_orders_state ON hq_orders(state, id);"
    "CREATE TABLE IF NOT EXISTS hq_conflicts(store TEXT NOT NULL, seq INTEGER NOT NULL,"
    " order_number TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,"
    " hash BLOB NOT NULL, count INTEGER NOT NULL DEFAULT 1, first_at TEXT NOT NULL,"
    " last_at TEXT NOT NULL, PRIMARY KEY(store, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS hq_tokens(store TEXT NOT NULL, hash BLOB NOT NULL,"
    " created_at TEXT NOT NULL, revoked_at TEXT, PRIMARY KEY(store, hash)) WITHOUT ROWID;"
    /* C5: former owners that learn an order's later states, and what each
     * store last said it had not sent */
    "CREATE TABLE IF NOT EXISTS hq_holders(store TEXT NOT NULL, number TEXT NOT NULL,"
    " order_store TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store, number)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS hq_unsent(store TEXT NOT NULL, number TEXT NOT NULL,"
    " seq INTEGER NOT NULL, PRIMARY KEY(store, number)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS hq_events_number ON hq_events(order_number);";

void hq_token_hash(const char *token, size_t len, uint8_t out[HQ_HASH_BYTES])
{
    crypto_generichash(out, HQ_HASH_BYTES, (const uint8_t *)token, len, NULL, 0);
}

void hq_event_hash(const hq_event *ev, uint8_t out[HQ_HASH_BYTES])
{
    crypto_generichash_state st;
    /* The payload as JSON with its keys sorted: how a client spells the
     * document (key order, spaces, escapes) is not its content. */
    json_t *doc = ev->payload ? json_loads(ev->payload, 0, NULL) : NULL;
    char *canon = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    const char *parts[] = {ev->type, ev->number, canon ? canon : ev->payload};
    crypto_generichash_init(&st, NULL, 0, HQ_HASH_BYTES);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        uint64_t n = parts[i] ? strlen(parts[i]) : 0;
        uint8_t len[8];
        for (int k = 0; k < 8; k++)
            len[k] = (uint8_t)(n >> (8 * k));
        crypto_generichash_update(&st, len, sizeof len);
        if (n) crypto_generichash_update(&st, (const uint8_t *)parts[i], n);
    }
    crypto_generichash_final(&st, out, HQ_HASH_BYTES);
    free(canon);
}

static engine *E(hq_store *h)
{
    return ((hq_sqlite *)h)->e;
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* A real-time order's upload links it to its store number. */
static int link_realtime(engine *e, const hq_event *ev, const char *now, bool *linked, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE hq_orders SET number = ?1, doc = ?2, last_seq = ?3,"
                                   " updated_at = ?4 WHERE hq_order = ?5 AND store = ?6"
                                   " AND (number IS NULL OR number = ?1) AND last_seq < ?3",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, ev->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ev->seq);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev->hq_order, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ev->store, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "hq_orders link", err) < 0) return -1;
    *linked = sqlite3_changes(engine_db(e)) == 1;
    return 0;
}

/* (store, seq) is kept already: the same content is a duplicate (0), other
 * content a conflict (ERR_CONFLICT naming both). */
static int same_as_kept(engine *e, const hq_event *ev, const uint8_t hash[HQ_HASH_BYTES],
                        err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT hash, type, order_number, payload FROM hq_events"
                                   " WHERE store = ? AND seq = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, ev->store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->seq);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return engine_sqlerr(e, err, "hq_events kept");
    }
    uint8_t kept[HQ_HASH_BYTES];
    char ktype[65], knumber[64];
    copy_col(ktype, sizeof ktype, st, 1);
    copy_col(knumber, sizeof knumber, st, 2);
    if (sqlite3_column_bytes(st, 0) == HQ_HASH_BYTES) {
        memcpy(kept, sqlite3_column_blob(st, 0), HQ_HASH_BYTES);
    } else { /* a row from before hashes were kept */
        hq_event old = {
            .type = ktype, .number = knumber, .payload = (const char *)sqlite3_column_text(st, 3)};
        hq_event_hash(&old, kept);
    }
    sqlite3_reset(st);
    if (!memcmp(kept, hash, HQ_HASH_BYTES)) return 0;
    err_set(err, ERR_CONFLICT,
            "store %s seq %lld is at HQ already with other content (HQ keeps %s of %s; this is"
            " %s of %s): refused, nothing kept",
            ev->store, (long long)ev->seq, ktype, knumber, ev->type, ev->number);
    json_t *d = json_pack("{s:s, s:I}", "store", ev->store, "seq", (json_int_t)ev->seq);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text && strlen(text) < sizeof err->extra) text_copy(err->extra, sizeof err->extra, text);
    free(text);
    json_decref(d);
    return -1;
}

/* The refusal of an event from a store that does not own its order. */
static int not_owner(const hq_event *ev, const char *owner, err_t *err)
{
    err_set(err, ERR_CONFLICT,
            "order %s belongs to store %s (claimed there): store %s's change of it (seq %lld)"
            " is refused, nothing kept",
            ev->number, owner, ev->store, (long long)ev->seq);
    json_t *d = json_pack("{s:s, s:I, s:s}", "store", ev->store, "seq", (json_int_t)ev->seq,
                          "owner", owner);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text && strlen(text) < sizeof err->extra) text_copy(err->extra, sizeof err->extra, text);
    free(text);
    json_decref(d);
    return -1;
}

/* C5: only an order's owner changes it at HQ. An order HQ does not know
 * yet is its maker's. */
static int owner_check(engine *e, const hq_event *ev, const char *key, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e, "SELECT coalesce(owner, store) FROM hq_orders WHERE store = ? AND number = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->number, -1, SQLITE_STATIC);
    char owner[32];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) copy_col(owner, sizeof owner, st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return engine_sqlerr(e, err, "hq_orders owner");
    if (rc == SQLITE_DONE) text_copy(owner, sizeof owner, key);
    return strcmp(owner, ev->store) ? not_owner(ev, owner, err) : 0;
}

static int sq_put_event(hq_store *h, const hq_event *ev, bool *fresh, err_t *err)
{
    engine *e = E(h);
    char now[32];
    uint8_t hash[HQ_HASH_BYTES];
    engine_iso_now(e, now);
    hq_event_hash(ev, hash);
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO hq_events(store, seq, order_number, type, payload,"
                                   " received_at, hash) VALUES(?,?,?,?,?,?,?)"
                                   " ON CONFLICT(store, seq) DO NOTHING",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, ev->store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->seq);
    sqlite3_bind_text(st, 3, ev->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev->payload, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, hash, HQ_HASH_BYTES, SQLITE_STATIC);
    if (engine_step_done(e, st, "hq_events", err) < 0) return -1;
    *fresh = sqlite3_changes(engine_db(e)) == 1;
    if (!*fresh) return same_as_kept(e, ev, hash, err);
    const char *key = ev->order_store ? ev->order_store : ev->store;
    if (owner_check(e, ev, key, err) < 0) return -1;
    bool linked = false;
    if (ev->hq_order && *ev->hq_order && link_realtime(e, ev, now, &linked, err) < 0) return -1;
    if (linked) return 0;
    st = engine_stmt(e,
                     "INSERT INTO hq_orders(store, number, state, doc, last_seq, updated_at)"
                     " VALUES(?1, ?2, 'uploaded', ?3, ?4, ?5) ON CONFLICT(store, number)"
                     " DO UPDATE SET doc = ?3, last_seq = ?4, updated_at = ?5"
                     " WHERE ?4 > last_seq",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ev->seq);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "hq_orders", err);
}

static int sq_acked_through(hq_store *h, const char *store, int64_t *out, err_t *err)
{
    sqlite3_stmt *st =
        engine_stmt(E(h), "SELECT coalesce(max(seq), 0) FROM hq_events WHERE store = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : engine_sqlerr(E(h), err, "hq_events");
}

static int sq_next_id(hq_store *h, char out[64], err_t *err)
{
    int64_t n;
    if (master_next(E(h), "hq_order", &n, err) < 0) return -1;
    snprintf(out, 64, "HQ-%06lld", (long long)n);
    return 0;
}

static int sq_create_realtime(hq_store *h, const char *store, const char *doc, char hq_order[64],
                              err_t *err)
{
    engine *e = E(h);
    char now[32];
    engine_iso_now(e, now);
    if (sq_next_id(h, hq_order, err) < 0) return -1;
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO hq_orders(store, hq_order, state, attempts, doc,"
                                   " updated_at) VALUES(?, ?, 'synchronized', 1, ?, ?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hq_order, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, doc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "hq_orders", err);
}

/* Columns: store, number, hq_order, state, error, attempts, retries, last_seq, updated_at,
 * owner. */
static void read_rec(sqlite3_stmt *st, hq_order_rec *r)
{
    copy_col(r->store, sizeof r->store, st, 0);
    copy_col(r->number, sizeof r->number, st, 1);
    copy_col(r->hq_order, sizeof r->hq_order, st, 2);
    copy_col(r->state, sizeof r->state, st, 3);
    copy_col(r->error, sizeof r->error, st, 4);
    r->attempts = sqlite3_column_int64(st, 5);
    r->retries = sqlite3_column_int64(st, 6);
    r->last_seq = sqlite3_column_int64(st, 7);
    copy_col(r->updated_at, sizeof r->updated_at, st, 8);
    copy_col(r->owner, sizeof r->owner, st, 9);
}

static int sq_list(hq_store *h, const char *store, const char *state, int limit, hq_order_rec **out,
                   size_t *n, err_t *err)
{
    sqlite3_stmt *st =
        engine_stmt(E(h),
                    "SELECT store, number, hq_order, state, error, attempts,"
                    " retries, last_seq, updated_at, coalesce(owner, store) FROM hq_orders"
                    " WHERE (?1 IS NULL OR store = ?1)"
                    " AND (?2 IS NULL OR state = ?2) ORDER BY id LIMIT ?3",
                    err);
    if (!st) return -1;
    if (store) sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (state) sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit);
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            hq_order_rec *v = realloc(*out, cap * sizeof **out);
            if (!v) {
                sqlite3_reset(st);
                return err_set(err, ERR_INTERNAL, "out of memory");
            }
            *out = v;
        }
        read_rec(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(E(h), err, "hq_orders");
}

static int sq_get(hq_store *h, const char *store, const char *number, hq_order_rec *out,
                  json_t **doc, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(E(h),
                                   "SELECT store, number, hq_order, state, error, attempts,"
                                   " retries, last_seq, updated_at, coalesce(owner, store), doc"
                                   " FROM hq_orders WHERE store = ? AND number = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "number", "HQ has no order %s of store %s", number,
                         store);
    }
    read_rec(st, out);
    if (doc) {
        const char *t = (const char *)sqlite3_column_text(st, 10);
        *doc = t ? json_loads(t, 0, NULL) : NULL;
        if (!*doc) *doc = json_null();
    }
    sqlite3_reset(st);
    return 0;
}

static int sq_set_result(hq_store *h, const char *store, const char *number, const char *hq_order,
                         const char *error, bool retry, err_t *err)
{
    engine *e = E(h);
    char now[32];
    engine_iso_now(e, now);
    sqlite3_stmt *st = engine_stmt(
        e,
        "UPDATE hq_orders SET state = ?1, hq_order = coalesce(?2, hq_order), error = ?3,"
        " attempts = attempts + 1, retries = retries + ?4, synced_seq = last_seq,"
        " updated_at = ?5 WHERE store = ?6 AND number = ?7",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, hq_order ? "synchronized" : "failed", -1, SQLITE_STATIC);
    if (hq_order) sqlite3_bind_text(st, 2, hq_order, -1, SQLITE_STATIC);
    if (!hq_order) sqlite3_bind_text(st, 3, error ? error : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, retry ? 1 : 0);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, number, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "hq_orders result", err);
}

static int sq_put_conflict(hq_store *h, const hq_event *ev, err_t *err)
{
    engine *e = E(h);
    char now[32];
    uint8_t hash[HQ_HASH_BYTES];
    engine_iso_now(e, now);
    hq_event_hash(ev, hash);
    sqlite3_stmt *st = engine_stmt(
        e,
        "INSERT INTO hq_conflicts(store, seq, order_number, type, payload, hash, first_at,"
        " last_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT(store, seq) DO UPDATE SET"
        " order_number = ?3, type = ?4, payload = ?5, hash = ?6, count = count + 1, last_at = ?7",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, ev->store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->seq);
    sqlite3_bind_text(st, 3, ev->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev->payload, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, hash, HQ_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "hq_conflicts", err);
}

static int sq_conflicts(hq_store *h, const char *store, int limit, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(E(h),
                                   "SELECT c.store, c.seq, k.type, k.order_number, c.type,"
                                   " c.order_number, c.count, c.first_at, c.last_at"
                                   " FROM hq_conflicts c LEFT JOIN hq_events k"
                                   " ON k.store = c.store AND k.seq = c.seq"
                                   " WHERE ?1 IS NULL OR c.store = ?1"
                                   " ORDER BY c.first_at, c.store, c.seq LIMIT ?2",
                                   err);
    if (!st) return -1;
    if (store) sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        static const int cols[7] = {0, 2, 3, 4, 5, 7, 8};
        char v[7][64];
        for (int i = 0; i < 7; i++)
            copy_col(v[i], sizeof v[i], st, cols[i]);
        json_array_append_new(
            *out,
            json_pack("{s:s, s:I, s:{s:s, s:s}, s:{s:s, s:s}, s:I, s:s, s:s}", "store", v[0], "seq",
                      (json_int_t)sqlite3_column_int64(st, 1), "kept", "type", v[1], "number", v[2],
                      "offered", "type", v[3], "number", v[4], "count",
                      (json_int_t)sqlite3_column_int64(st, 6), "first_at", v[5], "last_at", v[6]));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 0;
    json_decref(*out);
    *out = NULL;
    return engine_sqlerr(E(h), err, "hq_conflicts");
}

static bool sq_has(hq_store *h, hq_kind kind, const char *id)
{
    static const char *const sql[] = {
        [HQ_STORE] = "SELECT 1 FROM stores WHERE id = ?",
        [HQ_CUSTOMER] = "SELECT 1 FROM customers WHERE account = ?",
        [HQ_PRODUCT] = "SELECT 1 FROM products WHERE item = ?",
    };
    err_t err;
    sqlite3_stmt *st = engine_stmt(E(h), sql[kind], &err);
    if (!st) return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

/* Inside the server's batch (or autocommit for the command line). */
static int sq_begin(hq_store *h, err_t *err)
{
    return 0;
}

static int sq_end(hq_store *h, bool commit, err_t *err)
{
    return 0;
}

/* One writer: nobody else can claim at the same time. */
static int sq_claim(hq_store *h, const char *store, int limit, hq_order_rec **out, size_t *n,
                    err_t *err)
{
    return sq_list(h, store, "uploaded", limit, out, n, err);
}

static int sq_token_add(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES],
                        err_t *err)
{
    char now[32];
    engine_iso_now(E(h), now);
    sqlite3_stmt *st =
        engine_stmt(E(h), "INSERT INTO hq_tokens(store, hash, created_at) VALUES(?,?,?)", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, HQ_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    return engine_step_done(E(h), st, "hq_tokens", err);
}

static int sq_token_revoke(hq_store *h, const char *store, int64_t *n, err_t *err)
{
    char now[32];
    engine_iso_now(E(h), now);
    sqlite3_stmt *st = engine_stmt(E(h),
                                   "UPDATE hq_tokens SET revoked_at = ? WHERE store = ?"
                                   " AND revoked_at IS NULL",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store, -1, SQLITE_STATIC);
    if (engine_step_done(E(h), st, "hq_tokens", err) < 0) return -1;
    *n = sqlite3_changes(engine_db(E(h)));
    return 0;
}

/* Every live hash of the store is compared, each in constant time. */
static int sq_token_check(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES],
                          bool *ok, err_t *err)
{
    sqlite3_stmt *st =
        engine_stmt(E(h), "SELECT hash FROM hq_tokens WHERE store = ? AND revoked_at IS NULL", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    *ok = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 0) == HQ_HASH_BYTES &&
            sodium_memcmp(sqlite3_column_blob(st, 0), hash, HQ_HASH_BYTES) == 0)
            *ok = true;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(E(h), err, "hq_tokens");
}

/* ---- C5: one owner per order ---- */

static int sq_set_owner(hq_store *h, const char *store, const char *number, const char *from,
                        const char *to, bool *moved, err_t *err)
{
    engine *e = E(h);
    char now[32];
    engine_iso_now(e, now);
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE hq_orders SET owner = ?4, last_seq = 0, updated_at = ?5"
                                   " WHERE store = ?1 AND number = ?2"
                                   " AND coalesce(owner, store) = ?3",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "hq_orders owner", err) < 0) return -1;
    *moved = sqlite3_changes(engine_db(e)) == 1;
    if (!*moved) return 0;
    st = engine_stmt(e,
                     "INSERT INTO hq_holders(store, number, order_store) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(store, number) DO UPDATE SET seen = 0",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, store, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "hq_holders", err) < 0) return -1;
    st = engine_stmt(e, "DELETE FROM hq_holders WHERE store = ? AND number = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "hq_holders", err);
}

static int sq_unsent_set(hq_store *h, const char *store, json_t *numbers, err_t *err)
{
    engine *e = E(h);
    sqlite3_stmt *st = engine_stmt(e, "DELETE FROM hq_unsent WHERE store = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "hq_unsent", err) < 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(numbers, i, v)
    {
        st = engine_stmt(e,
                         "INSERT INTO hq_unsent(store, number, seq) VALUES(?1, ?2, ?3)"
                         " ON CONFLICT(store, number) DO UPDATE SET seq = max(seq, ?3)",
                         err);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(v, "number")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, json_integer_value(json_object_get(v, "seq")));
        if (engine_step_done(e, st, "hq_unsent", err) < 0) return -1;
    }
    return 0;
}

static int sq_unsent_has(hq_store *h, const char *store, const char *number, bool *has, err_t *err)
{
    sqlite3_stmt *st =
        engine_stmt(E(h),
                    "SELECT 1 FROM hq_unsent u WHERE u.store = ? AND u.number = ? AND NOT EXISTS"
                    " (SELECT 1 FROM hq_events k WHERE k.store = u.store AND k.seq = u.seq)",
                    err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    *has = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : engine_sqlerr(E(h), err, "hq_unsent");
}

/* Rows of (a JSON object's text) as a JSON array. */
static int json_rows(engine *e, sqlite3_stmt *st, json_t **out, err_t *err)
{
    *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *v = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (v) json_array_append_new(*out, v);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 0;
    json_decref(*out);
    *out = NULL;
    return engine_sqlerr(e, err, "hq history");
}

static int sq_history(hq_store *h, const char *number, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        E(h),
        "SELECT json_object('store', store, 'seq', seq, 'type', type, 'at', received_at,"
        " 'version', json_extract(payload, '$.version'), 'staff',"
        " json_extract(payload, '$.created_by'), 'policy_version',"
        " json_extract(payload, '$.policy_version')) FROM hq_events WHERE order_number = ?"
        " ORDER BY received_at, id",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    return json_rows(E(h), st, out, err);
}

static int sq_moved(hq_store *h, const char *store, int limit, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        E(h),
        "SELECT json_object('number', o.number, 'owner', coalesce(o.owner, o.store), 'state',"
        " o.state, 'hq_order', o.hq_order, 'order', json(o.doc)) FROM hq_holders x"
        " JOIN hq_orders o ON o.store = x.order_store AND o.number = x.number"
        " WHERE x.store = ?1 AND coalesce(o.owner, o.store) <> ?1"
        " AND json_extract(o.doc, '$.version') > x.seen ORDER BY x.number LIMIT ?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    return json_rows(E(h), st, out, err);
}

static int sq_moved_seen(hq_store *h, const char *store, const char *number, int64_t version,
                         err_t *err)
{
    sqlite3_stmt *st = engine_stmt(E(h),
                                   "UPDATE hq_holders SET seen = max(seen, ?3)"
                                   " WHERE store = ?1 AND number = ?2",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, version);
    return engine_step_done(E(h), st, "hq_holders seen", err);
}

static void sq_free(hq_store *h)
{
    free(h);
}

static const hq_store_vt sqlite_vt = {
    .put_event = sq_put_event,
    .put_conflict = sq_put_conflict,
    .conflicts = sq_conflicts,
    .acked_through = sq_acked_through,
    .create_realtime = sq_create_realtime,
    .list = sq_list,
    .get = sq_get,
    .set_result = sq_set_result,
    .next_id = sq_next_id,
    .has = sq_has,
    .begin = sq_begin,
    .end = sq_end,
    .claim = sq_claim,
    .token_add = sq_token_add,
    .token_revoke = sq_token_revoke,
    .token_check = sq_token_check,
    .set_owner = sq_set_owner,
    .unsent_set = sq_unsent_set,
    .unsent_has = sq_unsent_has,
    .history = sq_history,
    .moved = sq_moved,
    .moved_seen = sq_moved_seen,
    .free = sq_free,
};

hq_store *hq_store_sqlite_new(engine *e, err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(engine_db(e), ddl, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "hq store: %s", msg ? msg : "cannot create tables");
        sqlite3_free(msg);
        return NULL;
    }
    /* Columns that came after the first release: added to older HQs. */
    static const char *const later[][2] = {
        {"SELECT hash FROM hq_events", "ALTER TABLE hq_events ADD COLUMN hash BLOB"},
        {"SELECT owner FROM hq_orders", "ALTER TABLE hq_orders ADD COLUMN owner TEXT"},
    };
    for (size_t i = 0; i < sizeof later / sizeof *later; i++) {
        sqlite3_stmt *probe = NULL;
        if (sqlite3_prepare_v2(engine_db(e), later[i][0], -1, &probe, NULL) != SQLITE_OK &&
            sqlite3_exec(engine_db(e), later[i][1], NULL, NULL, &msg) != SQLITE_OK) {
            err_set(err, ERR_INTERNAL, "hq store: %s", msg ? msg : later[i][1]);
            sqlite3_free(msg);
            return NULL;
        }
        sqlite3_finalize(probe);
    }
    hq_sqlite *h = calloc(1, sizeof *h);
    if (!h) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    h->base.vt = &sqlite_vt;
    h->e = e;
    return &h->base;
}

json_t *hq_order_rec_json(const hq_order_rec *r)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "store", r->store, "state", r->state, "attempts",
                          (json_int_t)r->attempts, "retries", (json_int_t)r->retries);
    json_object_set_new(j, "number", *r->number ? json_string(r->number) : json_null());
    if (*r->hq_order) json_object_set_new(j, "hq_order", json_string(r->hq_order));
    /* C5: named once a claim has moved the order away from its maker */
    if (*r->owner && strcmp(r->owner, r->store))
        json_object_set_new(j, "owner", json_string(r->owner));
    if (*r->error && strcmp(r->state, "synchronized"))
        json_object_set_new(j, "error", json_string(r->error));
    return j;
}
