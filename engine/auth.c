/* auth.c: PIN checks for sign-in and approvals (SPEC A1, A2).
 *
 * crypto_pwhash_str is slow on purpose (tens of ms, 64 MiB). A verified PIN
 * is remembered as a keyed BLAKE2b MAC under a key that lives only in this
 * process, so repeated checks of the same PIN are cheap while the database
 * still holds nothing but the slow hash. Failures are counted per staff id;
 * the fifth in a row locks the id for AUTH_LOCKOUT_S seconds. */
#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

int auth_hash_pin(const char *pin, char out[AUTH_HASH_LEN], err_t *err)
{
    if (crypto_pwhash_str(out, pin, strlen(pin), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return err_set(err, ERR_INTERNAL, "cannot hash PIN (out of memory)");
    return 0;
}

bool auth_verify_hash(const char *hash, const char *pin)
{
    return crypto_pwhash_str_verify(hash, pin, strlen(pin)) == 0;
}

int auth_lookup(engine *e, const char *staff_id, auth_staff *out, err_t *err)
{
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT id, name, role, pin_hash FROM staff WHERE id = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, staff_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    }
    snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(out->role, sizeof out->role, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(out->hash, sizeof out->hash, "%s", (const char *)sqlite3_column_text(st, 3));
    sqlite3_reset(st);
    return 0;
}

static engine_auth_slot *slot_for(engine *e, const char *staff_id, bool create)
{
    size_t h = 5381;
    for (const char *p = staff_id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    engine_auth_slot *s = &e->auth[h % ENGINE_AUTH_SLOTS];
    if (strcmp(s->staff, staff_id)) {
        if (!create) return NULL;
        /* A collision evicts: the cost is one more slow verify. */
        memset(s, 0, sizeof *s);
        snprintf(s->staff, sizeof s->staff, "%s", staff_id);
    }
    return s;
}

static void pin_mac(engine *e, const char *pin, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)pin, strlen(pin), e->auth_key,
                       sizeof e->auth_key);
}

static const char *tail_of(const char *hash)
{
    size_t n = strlen(hash);
    return n > 23 ? hash + n - 23 : hash;
}

int auth_cached(engine *e, const char *staff_id, const char *hash, const char *pin)
{
    engine_auth_slot *s = slot_for(e, staff_id, false);
    if (!s) return 0;
    unsigned char mac[32];
    pin_mac(e, pin, mac);
    if (s->bad_until > engine_now(e) && sodium_memcmp(mac, s->bad_mac, 32) == 0) return -1;
    if (strcmp(s->hash_tail, tail_of(hash))) return 0;
    return sodium_memcmp(mac, s->pin_mac, 32) == 0;
}

void auth_remember(engine *e, const char *staff_id, const char *hash, const char *pin, bool ok)
{
    engine_auth_slot *s = slot_for(e, staff_id, true);
    if (ok) {
        pin_mac(e, pin, s->pin_mac);
        snprintf(s->hash_tail, sizeof s->hash_tail, "%s", tail_of(hash));
        s->failures = 0;
        return;
    }
    /* Remembered briefly so that the same wrong PIN, checked once on a
     * worker thread and again by dispatch, costs one hash and one failure. */
    pin_mac(e, pin, s->bad_mac);
    s->bad_until = engine_now(e) + 10;
    if (++s->failures >= AUTH_MAX_FAILURES) {
        s->locked_until = engine_now(e) + AUTH_LOCKOUT_S;
        s->failures = 0;
    }
}

bool auth_locked(engine *e, const char *staff_id, int *seconds_left)
{
    engine_auth_slot *s = slot_for(e, staff_id, false);
    int64_t now = engine_now(e);
    if (!s || s->locked_until <= now) return false;
    if (seconds_left) *seconds_left = (int)(s->locked_until - now);
    return true;
}

int auth_check(engine *e, const char *staff_id, const char *pin, auth_staff *out, err_t *err)
{
    int left;
    if (auth_locked(e, staff_id, &left))
        return err_set(err, ERR_UNAUTHENTICATED,
                       "staff %s is locked after %d wrong PINs; try again in %d s", staff_id,
                       AUTH_MAX_FAILURES, left);
    if (auth_lookup(e, staff_id, out, err) < 0) return -1;
    int cached = auth_cached(e, staff_id, out->hash, pin);
    if (cached == 1) return 0;
    engine_auth_slot *slot = slot_for(e, staff_id, true);
    if (cached < 0) {
        slot->bad_until = 0; /* one answer per verification: the next try counts again */
        return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    }
    bool ok = auth_verify_hash(out->hash, pin);
    auth_remember(e, staff_id, out->hash, pin, ok);
    slot->bad_until = 0;
    if (!ok) return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    return 0;
}

bool auth_staff_at_store(engine *e, const char *staff_id, const char *store)
{
    err_t err;
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT 1 FROM staff_stores WHERE staff = ? AND store = ?", &err);
    if (!st) return false;
    sqlite3_bind_text(st, 1, staff_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return ok;
}

static void collect(json_t *v, json_t *pairs, int depth)
{
    if (depth > 8) return;
    if (json_is_object(v)) {
        json_t *staff = json_object_get(v, "staff"), *pin = json_object_get(v, "pin");
        if (json_is_string(staff) && json_is_string(pin))
            json_array_append_new(pairs, json_pack("[OO]", staff, pin));
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) collect(child, pairs, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) collect(child, pairs, depth + 1);
    }
}

json_t *auth_pins_in_request(const char *op, json_t *args)
{
    json_t *pairs = json_array();
    if (args) collect(args, pairs, 0);
    return pairs;
}
