/* engine.h: the engine handle shared by every layer above the store: the
 * database, the policy host, the clock, and the per-request context that
 * flows fill in (decisions asked of the policy, for the transaction log). */
#ifndef CORDER_ENGINE_H
#define CORDER_ENGINE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"
#include "model/policy.h"

typedef struct engine engine;

/* Who is asking: set by session.login (PROTOCOL A1). */
typedef struct {
    bool signed_in;
    bool hq_peer; /* a store signed in to HQ with session.login_store */
    char store[32];
    char staff[32];
    char name[128];
    char role[64];
    uint64_t staff_epoch; /* engine_staff_epoch at sign-in; 0: not a staff sign-in */
} session;

typedef struct {
    const char *db_path;
    const char *policies_dir; /* NULL: policies/ next to the db, then ./policies */
    /* the policy host (model/policy.h); NULL: the built-in one (no Lua) */
    const policy_impl *policy_impl;
    policy_limits limits;
    bool hq_role;
    bool no_policies;           /* init: master data only, policies not loaded */
    bool background_checkpoint; /* serve: WAL checkpoints on a thread (checkpoint.c) */
} engine_config;

engine *engine_open(const engine_config *cfg, err_t *err);
/* SQLite's process-wide settings the engine runs with (engine_open applies
 * them first; a tool that opens databases itself, as the storage-limit
 * bench does, calls this before its first SQLite call to match). */
void engine_tune_sqlite(void);
/* The per-connection settings of the engine's writer: the page size of a
 * new file, WAL, synchronous=FULL, foreign keys, the page cache. The
 * storage-limit bench opens its file with the same. */
int engine_pragmas(sqlite3 *db, err_t *err);
void engine_close(engine *e);

/* Pipelined commits (the server's; store/walsync.c): from now on a COMMIT
 * writes the WAL but its fdatasync runs on a thread of its own, so the
 * caller may start the next transaction at once. A commit is durable, and
 * only then may anyone be told of it or of what it wrote, once
 * engine_durable(engine_commit_ticket()) is 1. synced (may be NULL) is
 * called on that thread after every sync, good or failed. */
int engine_pipeline(engine *e, void (*synced)(void *arg), void *arg, err_t *err);
/* No more synced calls; returns once none is running (so arg may be freed). */
void engine_pipeline_unhook(engine *e);
/* The ticket of the last engine_commit: what it wrote, and every commit
 * before it, is durable once the ticket is. 0 when not pipelined. */
uint64_t engine_commit_ticket(const engine *e);
/* 1: durable (always, when not pipelined, or for ticket 0); 0: not yet;
 * -1: the WAL could not be synced: never durable, stop acknowledging. */
int engine_durable(engine *e, uint64_t ticket);
/* Blocks until everything committed so far (autocommit writes too) is on
 * disk. 0 at once when not pipelined. */
int engine_sync(engine *e, err_t *err);
/* WAL syncs the pipeline made, and their seconds (0 when not pipelined). */
void engine_sync_counts(engine *e, uint64_t *syncs, double *seconds);
sqlite3 *engine_db(engine *e);
policy_host *engine_policies(engine *e);

/* Seconds since the epoch as the engine sees them. CORDER_NOW (env, epoch
 * seconds) or engine_set_now() pin it, so tests can travel in time. */
int64_t engine_now(engine *e);
void engine_set_now(engine *e, int64_t now); /* 0: follow the real clock */
/* Today's date YYYY-MM-DD in the store's time zone (SPEC O4). */
int engine_today(engine *e, const char *store, char out[11], err_t *err);
/* Adds days to a YYYY-MM-DD date. */
void engine_date_add(const char *date, int days, char out[11]);
bool engine_valid_date(const char *s);

/* Staff and the stores they may sign in to changed (master data from HQ,
 * SPEC C4): a signed-in session whose staff_epoch is older is checked
 * again before its next request (dispatch), and ends if its staff member
 * may no longer work at its store. */
uint64_t engine_staff_epoch(engine *e);
void engine_staff_changed(engine *e);

/* Transactions. The caller of dispatch owns the outer transaction: the
 * server groups many requests per COMMIT; every other caller commits each. */
int engine_begin(engine *e, err_t *err);
int engine_commit(engine *e, err_t *err);
void engine_rollback(engine *e);
bool engine_in_txn(engine *e);
/* A read of many statements (order.find and its orders) in one snapshot,
 * taking SQLite's locks once instead of per statement: 1 when it began a
 * read transaction (end it with engine_read_end), 0 when one is open
 * already (the server's batch), -1 on error. */
int engine_read_begin(engine *e, err_t *err);
void engine_read_end(engine *e, int began);

/* Prepared statements are cached per engine by their SQL text's address. */
sqlite3_stmt *engine_stmt(engine *e, const char *sql, err_t *err);

/* The current time as ISO-8601 UTC (YYYY-MM-DDTHH:MM:SSZ). */
void engine_iso_now(engine *e, char out[32]);
/* Steps a statement that returns no row and resets it; ERR_INTERNAL naming
 * `what` if it failed. */
int engine_step_done(engine *e, sqlite3_stmt *st, const char *what, err_t *err);

/* A sqlite error as an ERR_INTERNAL value. */
int engine_sqlerr(engine *e, err_t *err, const char *what);

/* Whether SQLite rolled the open transaction back by itself (a full disk,
 * an I/O error inside a statement): nothing of it will be committed. */
bool engine_txn_lost(engine *e);

/* Savepoints inside the open transaction: one per request (dispatch), one
 * for a write the server makes itself (server_write). end keeps (RELEASE)
 * or undoes (ROLLBACK TO, then RELEASE) what ran since. */
typedef enum { ENGINE_SP_REQUEST, ENGINE_SP_SERVER } engine_sp;
int engine_savepoint(engine *e, engine_sp which, err_t *err);
void engine_savepoint_end(engine *e, engine_sp which, bool keep);

#endif
