/* engine_internal.h: the engine struct, for engine modules only. */
#ifndef CORDER_ENGINE_INTERNAL_H
#define CORDER_ENGINE_INTERNAL_H

#include "store/checkpoint.h"
#include "store/engine.h"
#include "store/master_cache.h"
#include "store/txcache.h"

#define ENGINE_STMT_SLOTS 256
#define ENGINE_TZ_SLOTS 64

typedef struct {
    const char *sql; /* the key: statements are static strings */
    sqlite3_stmt *st;
} engine_stmt_slot;

typedef struct {
    char store[32];
    char date[11];
    int64_t until; /* engine_now() before which date is still right */
} engine_tz_slot;

struct engine {
    sqlite3 *db;
    policy_host *policies;
    int64_t pinned_now;
    bool in_txn;
    bool hq_role;
    engine_stmt_slot stmts[ENGINE_STMT_SLOTS];
    engine_tz_slot tz[ENGINE_TZ_SLOTS];
    struct auth_table *auth;      /* auth.c: lockout and cached PINs, per staff id */
    void (*drop_auth)(engine *e); /* set with auth; engine_close frees it through this */
    unsigned char auth_key[32];
    checkpointer *checkpointer;
    struct walsync *walsync; /* pipelined commits (engine_pipeline); NULL: synced at COMMIT */
    uint64_t ticket;         /* the last commit's (engine_commit_ticket) */
    uint64_t staff_epoch;    /* bumped when staff or their stores change (SPEC C4) */
    master_cache mc;         /* master_cache.c: master rows read within a transaction */
    txcache tc;              /* txcache.c: counter and till rows written at COMMIT */
};

#endif
