/* auth.c: PIN checks for sign-in and approvals (SPEC A1, A2, A6).
 *
 * crypto_pwhash_str is slow on purpose (~0.1 s, 64 MiB), so a server never
 * runs it on its event loop: it collects the PINs a request needs
 * (dispatch_req_pins), verifies them on worker threads, records each
 * outcome here (auth_remember) and hands the request its verdicts
 * (auth_use_verdicts) before dispatch runs it. With auth_set_offloop on, a
 * PIN that has neither a verdict nor a cached success is an internal error
 * instead of a slow hash on the caller's thread. Tools without a loop (the
 * Lua module, `corder repl --db`) verify inline.
 *
 * LOCKOUT (A6). State is exact per staff id: a hash table keyed by the
 * whole id, never evicted, holding only staff that exist (a lookup comes
 * first), so no other id can reset or share it. Five wrong PINs in a row
 * lock the id for AUTH_LOCKOUT_S seconds, during which every attempt is
 * `unauthenticated` whatever the PIN and nothing is hashed. Failures and
 * the lock are written to table auth_lockout at once (migration 3), so a
 * restart does not open the door again; an entry is read back the first
 * time its id is seen.
 *
 * A verified PIN is remembered as a keyed BLAKE2b MAC under a key that
 * lives only in this process, so a repeated sign-in is cheap while the
 * database holds nothing but the slow hash. */
#include "store/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/engine_internal.h"
#include "model/text.h"

typedef struct {
    char staff[32]; /* "" = empty bucket */
    unsigned char pin_mac[32];
    char hash_tail[24]; /* detects a changed PIN hash */
    bool has_good;
    int failures;
    int64_t locked_until;
} auth_slot;

typedef struct auth_table auth_table;

struct auth_table {
    auth_slot *slots;
    size_t cap, used; /* cap a power of two, used <= cap/2 */
    const auth_pin *verdicts;
    int nverdicts;
    bool offloop;
};

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
    if (strlen(staff_id) >= sizeof out->id)
        return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT id, name, role, pin_hash FROM staff WHERE id = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, staff_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    }
    text_copy(out->id, sizeof out->id, (const char *)sqlite3_column_text(st, 0));
    text_copy(out->name, sizeof out->name, (const char *)sqlite3_column_text(st, 1));
    text_copy(out->role, sizeof out->role, (const char *)sqlite3_column_text(st, 2));
    text_copy(out->hash, sizeof out->hash, (const char *)sqlite3_column_text(st, 3));
    sqlite3_reset(st);
    return 0;
}

/* ---- the table ---- */

static size_t bucket_of(const auth_table *t, const char *staff)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: ids are short, the table exact */
    for (const char *p = staff; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)h & (t->cap - 1);
}

static auth_table *table_of(engine *e)
{
    if (!e->auth) {
        e->auth = calloc(1, sizeof *e->auth);
        if (!e->auth) abort();
        e->drop_auth = auth_free; /* engine_close calls it: the engine needs no auth.h */
    }
    return e->auth;
}

static auth_slot *probe(auth_table *t, const char *staff)
{
    if (!t->cap) return NULL;
    for (size_t i = bucket_of(t, staff);; i = (i + 1) & (t->cap - 1)) {
        auth_slot *s = &t->slots[i];
        if (!s->staff[0]) return s;
        if (!strcmp(s->staff, staff)) return s;
    }
}

static void grow(auth_table *t)
{
    size_t old_cap = t->cap;
    auth_slot *old = t->slots;
    t->cap = old_cap ? old_cap * 2 : 64;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots) abort(); /* bounded by the staff table; no partial state */
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].staff[0]) *probe(t, old[i].staff) = old[i];
    sodium_memzero(old, old_cap * sizeof *old);
    free(old);
}

/* The id's slot, read back from auth_lockout the first time; NULL when
 * create is false and the id has no state. */
static auth_slot *slot_get(engine *e, const char *staff, bool create)
{
    auth_table *t = table_of(e);
    if (strlen(staff) >= sizeof t->slots[0].staff) return NULL;
    auth_slot *s = probe(t, staff);
    if (s && s->staff[0]) return s;
    int failures = 0;
    int64_t locked_until = 0;
    err_t err;
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT failures, locked_until FROM auth_lockout WHERE staff = ?", &err);
    bool found = false;
    if (st) {
        sqlite3_bind_text(st, 1, staff, -1, SQLITE_STATIC);
        if ((found = sqlite3_step(st) == SQLITE_ROW)) {
            failures = sqlite3_column_int(st, 0);
            locked_until = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
    }
    if (!found && !create) return NULL;
    if ((t->used + 1) * 2 > t->cap) grow(t);
    s = probe(t, staff);
    memset(s, 0, sizeof *s);
    text_copy(s->staff, sizeof s->staff, staff);
    s->failures = failures;
    s->locked_until = locked_until;
    t->used++;
    return s;
}

/* Written through at once: a failure must outlive a restart (A6). */
static void persist(engine *e, const auth_slot *s)
{
    err_t err;
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO auth_lockout(staff, failures, locked_until)"
                                   " VALUES(?1, ?2, ?3) ON CONFLICT(staff) DO UPDATE SET"
                                   " failures = ?2, locked_until = ?3",
                                   &err);
    if (!st) {
        fprintf(stderr, "corder: auth: %s\n", err.message);
        return;
    }
    sqlite3_bind_text(st, 1, s->staff, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, s->failures);
    sqlite3_bind_int64(st, 3, s->locked_until);
    if (sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "corder: auth: cannot record a failure: %s\n",
                sqlite3_errmsg(engine_db(e)));
    sqlite3_reset(st);
}

void auth_free(engine *e)
{
    auth_table *t = e->auth;
    if (!t) return;
    if (t->slots) sodium_memzero(t->slots, t->cap * sizeof *t->slots);
    free(t->slots);
    free(t);
    e->auth = NULL;
}

/* ---- checking ---- */

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

bool auth_cached(engine *e, const char *staff_id, const char *hash, const char *pin)
{
    auth_slot *s = slot_get(e, staff_id, false);
    if (!s || !s->has_good || strcmp(s->hash_tail, tail_of(hash))) return false;
    unsigned char mac[32];
    pin_mac(e, pin, mac);
    return sodium_memcmp(mac, s->pin_mac, 32) == 0;
}

void auth_remember(engine *e, const char *staff_id, const char *hash, const char *pin, bool ok)
{
    auth_slot *s = slot_get(e, staff_id, true);
    if (!s) return;
    if (ok) {
        pin_mac(e, pin, s->pin_mac);
        text_copy(s->hash_tail, sizeof s->hash_tail, tail_of(hash));
        s->has_good = true;
        if (s->failures) {
            s->failures = 0;
            persist(e, s);
        }
        return;
    }
    if (++s->failures >= AUTH_MAX_FAILURES) {
        s->locked_until = engine_now(e) + AUTH_LOCKOUT_S;
        s->failures = 0;
        s->has_good = false;
    }
    persist(e, s);
}

bool auth_locked(engine *e, const char *staff_id, int *seconds_left)
{
    auth_slot *s = slot_get(e, staff_id, false);
    int64_t now = engine_now(e);
    if (!s || s->locked_until <= now) return false;
    if (seconds_left) *seconds_left = (int)(s->locked_until - now);
    return true;
}

void auth_use_verdicts(engine *e, const auth_pin *pins, int n)
{
    auth_table *t = table_of(e);
    t->verdicts = pins;
    t->nverdicts = n;
}

void auth_set_offloop(engine *e, bool on)
{
    table_of(e)->offloop = on;
}

/* The verdict the server brought for this staff id and PIN: 1, -1, or 0. */
static int verdict_for(engine *e, const char *staff, const char *pin)
{
    auth_table *t = table_of(e);
    size_t n = strlen(pin);
    for (int i = 0; i < t->nverdicts; i++) {
        const auth_pin *v = &t->verdicts[i];
        if (v->verdict && v->staff && v->pin && !strcmp(v->staff, staff) && strlen(v->pin) == n &&
            sodium_memcmp(v->pin, pin, n) == 0)
            return v->verdict;
    }
    return 0;
}

int auth_pin_check_shape(const char *pin, const char *field, err_t *err)
{
    if (strlen(pin) > AUTH_PIN_MAX)
        return err_field(err, ERR_VALIDATION, field, "%s: a PIN has at most %d characters", field,
                         AUTH_PIN_MAX);
    return 0;
}

int auth_check(engine *e, const char *staff_id, const char *pin, auth_staff *out, err_t *err)
{
    int left;
    if (auth_locked(e, staff_id, &left))
        return err_set(err, ERR_UNAUTHENTICATED,
                       "staff %s is locked after %d wrong PINs; try again in %d s", staff_id,
                       AUTH_MAX_FAILURES, left);
    if (auth_lookup(e, staff_id, out, err) < 0) return -1;
    if (auth_cached(e, staff_id, out->hash, pin)) return 0;
    int v = verdict_for(e, staff_id, pin);
    if (v > 0) return 0;
    if (v < 0) return err_set(err, ERR_UNAUTHENTICATED, "wrong staff id or PIN");
    if (table_of(e)->offloop)
        return err_set(err, ERR_INTERNAL, "the PIN of %s was not checked off the event loop",
                       staff_id);
    bool ok = auth_verify_hash(out->hash, pin);
    auth_remember(e, staff_id, out->hash, pin, ok);
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
