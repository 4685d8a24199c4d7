/* master_sync.c: a store applies HQ's master data (SPEC C4).
 *
 * A page is HQ's answer to hq.master.since {version}: the changes after
 * the version this database has, each the whole current document of one
 * row (or removed), oldest first. A page is trusted no more than a seed
 * file: every document passes the checks `corder init` makes (seed.c,
 * master.c), versions must rise and follow this database's, and the first
 * thing wrong fails the whole page, which the caller rolls back. So a
 * hostile or broken HQ answer changes nothing here; the reason is kept
 * (master_sync.error, sync.status) and the next poll asks again.
 *
 * Applying is an upsert per row that writes only what differs, so a page
 * applied twice (an answer lost, a restart) changes nothing the second
 * time. A new price is only the product row: lines already made keep the
 * price they were made with (SPEC O2). Staff changes bump the engine's
 * staff epoch, which makes dispatch check every signed-in session again
 * (a staff member taken off a store loses their sessions there). */
#include "store/master_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/text.h"
#include "store/master.h"
#include "store/master_log.h"
#include "store/seed.h"
#include "store/txlog.h"

int master_sync_state_get(engine *e, master_sync_state *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT source, version, store, checked_at, applied_at, error"
                                   " FROM master_sync WHERE id = 1",
                                   err);
    if (!st) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t;
        if ((t = sqlite3_column_text(st, 0)))
            text_copy(out->source, sizeof out->source, (const char *)t);
        out->version = sqlite3_column_int64(st, 1);
        if ((t = sqlite3_column_text(st, 2)))
            text_copy(out->store, sizeof out->store, (const char *)t);
        out->checked_at = sqlite3_column_int64(st, 3);
        out->applied_at = sqlite3_column_int64(st, 4);
        if ((t = sqlite3_column_text(st, 5)))
            text_copy(out->error, sizeof out->error, (const char *)t);
    }
    sqlite3_reset(st);
    return 0;
}

int master_sync_note(engine *e, const char *store, const char *error, bool current, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE master_sync SET store = coalesce(?1, store),"
                                   " error = ?2, checked_at = CASE WHEN ?3 THEN ?4"
                                   " ELSE checked_at END WHERE id = 1",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (error && *error)
        sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, current);
    sqlite3_bind_int64(st, 4, engine_now(e));
    return engine_step_done(e, st, "master_sync", err);
}

/* ---- one change ---- */

static int apply_staff(engine *e, json_t *doc, const char *key, const char *p, err_t *err)
{
    static const char *const allowed[] = {"id", "name", "role", "pin_hash", "stores", NULL};
    const char *id, *name, *role, *hash;
    json_t *stores;
    if (args_only(doc, p, allowed, err) < 0 || args_str(doc, p, "id", true, 31, &id, err) < 0 ||
        args_str(doc, p, "name", true, 127, &name, err) < 0 ||
        args_str(doc, p, "role", true, 63, &role, err) < 0 ||
        args_str(doc, p, "pin_hash", true, 127, &hash, err) < 0 ||
        args_arr(doc, p, "stores", true, 1000, &stores, err) < 0)
        return -1;
    if (strcmp(id, key))
        return err_field(err, ERR_VALIDATION, p, "%s.id: %s is not the key %s", p, id, key);
    /* Only a libsodium Argon2 hash: anything else no PIN could match, or
     * worse, one the store would hash differently. */
    if (strncmp(hash, "$argon2", 7))
        return err_field(err, ERR_VALIDATION, p, "%s.pin_hash: not a PIN hash", p);
    size_t i;
    json_t *v;
    json_array_foreach(stores, i, v)
    {
        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 31)
            return err_field(err, ERR_VALIDATION, p, "%s.stores[%zu]: a store id of 1 to 31 bytes",
                             p, i);
    }
    return master_staff_put(e, id, name, role, hash, stores, err);
}

static int same_key(json_t *doc, const char *field, const char *key, const char *p, err_t *err)
{
    const char *id = json_string_value(json_object_get(doc, field));
    if (!id || strcmp(id, key))
        return err_field(err, ERR_VALIDATION, p, "%s.%s: not the key %s", p, field, key);
    return 0;
}

/* 1 when staff changed. */
static int apply_change(engine *e, json_t *c, size_t i, int64_t *last, int64_t upto, err_t *err)
{
    static const char *const allowed[] = {"kind", "key", "version", "doc", "removed", NULL};
    char p[48];
    const char *kind, *key;
    int64_t version;
    bool removed = false;
    json_t *doc = NULL;
    args_index(p, sizeof p, "changes", i);
    if (!json_is_object(c)) return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
    if (args_only(c, p, allowed, err) < 0 || args_str(c, p, "kind", true, 15, &kind, err) < 0 ||
        args_str(c, p, "key", true, 63, &key, err) < 0 ||
        args_int(c, p, "version", true, 1, INT64_MAX, &version, err) < 0 ||
        args_bool(c, p, "removed", false, &removed, err) < 0 ||
        args_obj(c, p, "doc", false, &doc, err) < 0)
        return -1;
    if (!*key) return err_field(err, ERR_VALIDATION, p, "%s.key: empty", p);
    if (version <= *last || version > upto)
        return err_field(err, ERR_VALIDATION, p,
                         "%s.version: %lld is not after %lld and at most %lld", p,
                         (long long)version, (long long)*last, (long long)upto);
    *last = version;
    if (removed == (doc != NULL))
        return err_field(err, ERR_VALIDATION, p, "%s: either a doc or removed", p);
    char dp[64];
    snprintf(dp, sizeof dp, "%s.doc", p);
    if (!strcmp(kind, "store")) {
        if (removed) return 0; /* orders name it: kept */
        return same_key(doc, "id", key, dp, err) < 0 ? -1 : seed_store_put(e, doc, dp, err);
    }
    if (!strcmp(kind, "product")) {
        if (removed) return master_product_remove(e, key, err);
        return same_key(doc, "item", key, dp, err) < 0 ? -1 : seed_product_put(e, doc, dp, err);
    }
    if (!strcmp(kind, "customer")) {
        if (removed) return 0; /* orders name them: kept */
        if (same_key(doc, "account", key, dp, err) < 0) return -1;
        if (master_customers_put_all(e, key, doc, err) < 0) {
            char msg[sizeof err->message];
            text_copy(msg, sizeof msg, err->message);
            snprintf(err->message, sizeof err->message, "%s: %s", dp, msg);
            return -1;
        }
        return 0;
    }
    if (!strcmp(kind, "staff")) {
        int rc = removed ? master_staff_remove(e, key, err) : apply_staff(e, doc, key, dp, err);
        return rc < 0 ? -1 : 1;
    }
    if (!strcmp(kind, "reasons")) {
        static const char *const rk[] = {"codes", NULL};
        json_t *codes = NULL;
        if (!removed && (args_only(doc, dp, rk, err) < 0 ||
                         args_arr(doc, dp, "codes", true, 1000, &codes, err) < 0))
            return -1;
        /* removed: no list of that kind, so any code (R4) */
        json_t *put = json_object();
        json_object_set_new(put, key, codes ? json_incref(codes) : json_array());
        int rc = master_reasons_put(e, put, err);
        json_decref(put);
        return rc;
    }
    return err_field(err, ERR_VALIDATION, p, "%s.kind: unknown kind %s", p, kind);
}

static int log_page(engine *e, const master_sync_state *st, const char *source,
                    const master_page_out *out, err_t *err)
{
    char at[32];
    engine_iso_now(e, at);
    json_t *req = json_pack("{s:s, s:I}", "source", source, "version", (json_int_t)out->from);
    json_t *res = json_pack("{s:I, s:I, s:b}", "version", (json_int_t)out->to, "applied",
                            (json_int_t)out->applied, "staff", out->staff);
    txlog_entry t = {.at = at,
                     .store = *st->store ? st->store : "-",
                     .staff = "hq",
                     .op = "master.apply",
                     .request = req,
                     .decisions = "[]",
                     .result = res};
    int rc = txlog_append(e, &t, err);
    json_decref(req);
    json_decref(res);
    return rc;
}

static int set_version(engine *e, const char *source, int64_t version, bool applied, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE master_sync SET source = ?1, version = ?2, error = NULL,"
                                   " applied_at = CASE WHEN ?3 THEN ?4 ELSE applied_at END"
                                   " WHERE id = 1",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_int(st, 3, applied);
    sqlite3_bind_int64(st, 4, engine_now(e));
    return engine_step_done(e, st, "master_sync", err);
}

int master_sync_apply(engine *e, json_t *answer, master_page_out *out, err_t *err)
{
    static const char *const allowed[] = {"version", "changes", "more", "source", NULL};
    const char *source;
    int64_t version;
    json_t *changes;
    bool more = false;
    master_sync_state st;
    memset(out, 0, sizeof *out);
    if (!json_is_object(answer))
        return err_set(err, ERR_BAD_REQUEST, "master page: expected an object");
    if (args_only(answer, "", allowed, err) < 0 ||
        args_int(answer, "", "version", true, 0, INT64_MAX, &version, err) < 0 ||
        args_arr(answer, "", "changes", true, MASTER_PAGE_MAX, &changes, err) < 0 ||
        args_bool(answer, "", "more", false, &more, err) < 0 ||
        args_str(answer, "", "source", true, 39, &source, err) < 0 ||
        master_sync_state_get(e, &st, err) < 0)
        return -1;
    if (!*source) return err_field(err, ERR_VALIDATION, "source", "source: empty");
    out->from = out->to = st.version;
    /* Another HQ database, or ours gone back in time (restored): this
     * database's version means nothing there. Nothing of the page is used;
     * the next ask starts from 0 (every row again, applied as upserts). */
    bool foreign = *st.source && strcmp(st.source, source);
    if ((foreign || version < st.version) && st.version > 0) {
        out->restart = true;
        out->more = true;
        out->to = 0;
        return set_version(e, source, 0, false, err) < 0 ? -1 : log_page(e, &st, source, out, err);
    }
    if (json_array_size(changes) == 0 && version != st.version)
        return err_field(err, ERR_VALIDATION, "version",
                         "master page: version %lld without the changes since %lld",
                         (long long)version, (long long)st.version);
    if (json_array_size(changes) == 0 && more)
        return err_field(err, ERR_VALIDATION, "more", "master page: more, but no changes");
    int64_t last = st.version;
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        int rc = apply_change(e, c, i, &last, version, err);
        if (rc < 0) return -1;
        if (rc > 0) out->staff = true;
    }
    if (json_array_size(changes) && last != version)
        return err_field(err, ERR_VALIDATION, "version",
                         "master page: version %lld but its last change is %lld",
                         (long long)version, (long long)last);
    out->to = version;
    out->applied = (int64_t)json_array_size(changes);
    out->more = more;
    if (set_version(e, source, version, out->applied > 0, err) < 0) return -1;
    if (out->staff) engine_staff_changed(e);
    return out->applied ? log_page(e, &st, source, out, err) : 0;
}

/* ---- customers going up ---- */

int master_outbox_batch(engine *e, int max, json_t **customers, json_t **acks, err_t *err)
{
    *customers = *acks = NULL;
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT account, seq FROM master_outbox ORDER BY seq LIMIT ?", err);
    if (!st) return -1;
    sqlite3_bind_int(st, 1, max);
    json_t *list = json_array(), *ack = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(ack, json_pack("[s, I]", (const char *)sqlite3_column_text(st, 0),
                                             (json_int_t)sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        json_decref(ack);
        return engine_sqlerr(e, err, "master_outbox");
    }
    size_t i;
    json_t *a;
    json_array_foreach(ack, i, a)
    {
        json_t *doc;
        int found =
            master_log_doc(e, "customer", json_string_value(json_array_get(a, 0)), &doc, err);
        if (found < 0) {
            json_decref(list);
            json_decref(ack);
            return -1;
        }
        if (found) json_array_append_new(list, doc);
    }
    *customers = list;
    *acks = ack;
    return 0;
}

int master_outbox_done(engine *e, json_t *acks, err_t *err)
{
    size_t i;
    json_t *a;
    json_array_foreach(acks, i, a)
    {
        sqlite3_stmt *st =
            engine_stmt(e, "DELETE FROM master_outbox WHERE account = ? AND seq = ?", err);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, json_string_value(json_array_get(a, 0)), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, json_integer_value(json_array_get(a, 1)));
        if (engine_step_done(e, st, "master_outbox", err) < 0) return -1;
    }
    return 0;
}

int master_outbox_count(engine *e, int64_t *n, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT count(*) FROM master_outbox", err);
    if (!st) return -1;
    *n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}
