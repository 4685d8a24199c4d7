/* auth.h: staff sign-in and approvals (SPEC A1, A2). PINs are kept only as
 * libsodium crypto_pwhash_str hashes. Verifying one is deliberately slow, so
 * the check is split: auth_lookup reads the hash (database, loop thread),
 * auth_verify_hash runs the slow part (thread-safe, for a worker thread), and
 * auth_remember caches a success so that the next check of the same PIN is
 * fast. After AUTH_MAX_FAILURES wrong PINs a staff id is refused for
 * AUTH_LOCKOUT_S seconds. */
#ifndef CORDER_AUTH_H
#define CORDER_AUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"

#define AUTH_MAX_FAILURES 5
#define AUTH_LOCKOUT_S 60
#define AUTH_HASH_LEN 128 /* crypto_pwhash_STRBYTES */

typedef struct {
    char id[32];
    char name[128];
    char role[64];
    char hash[AUTH_HASH_LEN];
} auth_staff;

/* Hashes a PIN for storage. */
int auth_hash_pin(const char *pin, char out[AUTH_HASH_LEN], err_t *err);

int auth_lookup(engine *e, const char *staff_id, auth_staff *out, err_t *err);
/* Slow, thread-safe, touches nothing shared. */
bool auth_verify_hash(const char *hash, const char *pin);
/* Records the outcome of a verification (cache on success, count failures). */
void auth_remember(engine *e, const char *staff_id, const char *hash, const char *pin, bool ok);
/* A cached answer: 1 known good, -1 known bad (already counted), 0 not cached. */
int auth_cached(engine *e, const char *staff_id, const char *hash, const char *pin);
/* Whether the id is locked out now (and for how many more seconds). */
bool auth_locked(engine *e, const char *staff_id, int *seconds_left);

/* The whole check: lockout, lookup, cache or slow verify, remember.
 * Wrong id or PIN: ERR_UNAUTHENTICATED. */
int auth_check(engine *e, const char *staff_id, const char *pin, auth_staff *out, err_t *err);

/* Whether staff may work at store. */
bool auth_staff_at_store(engine *e, const char *staff_id, const char *store);

/* Collects every {staff, pin} pair a request carries (session.login args,
 * approvals at any depth), so the server can verify them off the loop
 * first. Returns a JSON array of [staff, pin] pairs (new reference). */
json_t *auth_pins_in_request(const char *op, json_t *args);

#endif
