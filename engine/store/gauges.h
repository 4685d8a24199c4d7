/* gauges.h: what the metrics page reads from the database (net/http_metrics.c):
 * a health probe, per store the upload queue and its age, and the WAL bytes
 * written. Read-only
 * SQL on the engine's connection, so it sees what the server committed and
 * what its open batch wrote. */
#ifndef CORDER_GAUGES_H
#define CORDER_GAUGES_H

#include <stdint.h>

#include "store/engine.h"
#include "model/err.h"

/* 0 when the database answers a query, -1 with err otherwise. */
int gauges_health(engine *e, err_t *err);

typedef struct {
    char store[32];
    char policy[64];     /* the policy name the store's master data gives */
    int64_t queue;       /* outbox events HQ has not acknowledged */
    double oldest_age_s; /* age of the oldest of them (0 when none) */
    int64_t orders;      /* orders of this store in the database */
} gauges_store;

/* Up to max stores, in id order; *n how many. */
int gauges_stores(engine *e, gauges_store *out, int max, int *n, err_t *err);

typedef struct {
    int64_t stores, staff, customers, products;
    int64_t locked_staff; /* staff ids locked out now (SPEC A6) */
} gauges_master;
int gauges_master_counts(engine *e, gauges_master *out, err_t *err);

/* Bytes the server's commits appended to the WAL since it started (the
 * checkpointer's count, store/checkpoint.c); 0 for an engine without one. */
uint64_t gauges_wal_bytes(engine *e);

#endif
