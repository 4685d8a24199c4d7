/* backup.h: a consistent, checked copy of a live database (SPEC OP3), for
 * `corder backup` and the console's corder.backup. */
#ifndef CORDER_BACKUP_H
#define CORDER_BACKUP_H

#include <stdatomic.h>
#include <stdint.h>

#include "model/err.h"

typedef struct {
    int pages_per_step; /* 0: BACKUP_PAGES_PER_STEP */
    int pause_us;       /* between steps; 0: BACKUP_PAUSE_US, -1: none */
    atomic_bool *stop;  /* set by another thread to give up (NULL: never) */
} backup_opts;

typedef struct {
    int64_t pages;  /* pages copied */
    int64_t orders; /* orders in the copy */
    int64_t ms;     /* how long it took */
    int schema;     /* the copy's schema version */
} backup_result;

/* Copies the database at src to dst: written to a temporary file next to
 * dst (mode 0600), checked (integrity_check, schema version, the corder
 * tables), synced, then renamed over dst. 0, or -1 with err (dst untouched). */
int backup_copy(const char *src, const char *dst, const backup_opts *o, backup_result *res,
                err_t *err);

#endif
