/* auth.h: staff sign-in and approvals (SPEC A1, A2, A6). PINs are kept only
 * as libsodium crypto_pwhash_str hashes. Verifying one is deliberately
 * slow, so the check is split: auth_lookup reads the hash (database, loop
 * thread), auth_verify_hash runs the slow part (thread-safe, for a worker
 * thread), auth_remember records the outcome (a cached success, or one
 * more failure toward the lockout). After AUTH_MAX_FAILURES wrong PINs in
 * a row a staff id is refused for AUTH_LOCKOUT_S seconds; the state is
 * exact per id and survives restarts (auth.c). */
#ifndef CORDER_AUTH_H
#define CORDER_AUTH_H

#include <stdbool.h>

#include "store/engine.h"

#define AUTH_MAX_FAILURES 5
#define AUTH_LOCKOUT_S 60
#define AUTH_HASH_LEN 128 /* crypto_pwhash_STRBYTES */
#define AUTH_PIN_MAX 32   /* longer PINs are `validation`, never hashed */
#define AUTH_STAFF_MAX 31

typedef struct {
    char id[32];
    char name[128];
    char role[64];
    char hash[AUTH_HASH_LEN];
} auth_staff;

/* A PIN a request carries, and what a worker found: 1 good, -1 wrong, 0
 * not checked. The strings are borrowed from the request. */
typedef struct {
    const char *staff, *pin;
    int verdict;
} auth_pin;

/* Hashes a PIN for storage. */
int auth_hash_pin(const char *pin, char out[AUTH_HASH_LEN], err_t *err);

int auth_lookup(engine *e, const char *staff_id, auth_staff *out, err_t *err);
/* Slow, thread-safe, touches nothing shared. */
bool auth_verify_hash(const char *hash, const char *pin);
/* Records the outcome of a verification (cache a success, count a failure
 * and lock at the fifth in a row; written to the database at once). */
void auth_remember(engine *e, const char *staff_id, const char *hash, const char *pin, bool ok);
/* Whether this PIN is the one last verified good for this id (and hash). */
bool auth_cached(engine *e, const char *staff_id, const char *hash, const char *pin);
/* Whether the id is locked out now (and for how many more seconds). */
bool auth_locked(engine *e, const char *staff_id, int *seconds_left);

/* The verdicts a server brought for the request about to run (NULL, 0
 * after it). auth_check answers from them instead of hashing. */
void auth_use_verdicts(engine *e, const auth_pin *pins, int n);
/* On: a PIN with neither a verdict nor a cached success is an internal
 * error, never a slow hash on this thread (the server's event loop). */
void auth_set_offloop(engine *e, bool on);

/* `validation` on field when pin is longer than AUTH_PIN_MAX. */
int auth_pin_check_shape(const char *pin, const char *field, err_t *err);

/* The whole check: lockout, lookup, cache, verdict or slow verify,
 * remember. Wrong id or PIN, or locked: ERR_UNAUTHENTICATED. */
int auth_check(engine *e, const char *staff_id, const char *pin, auth_staff *out, err_t *err);

/* Whether staff may work at store. */
bool auth_staff_at_store(engine *e, const char *staff_id, const char *store);

void auth_free(engine *e);

#endif
