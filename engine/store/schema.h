/* schema.h: the database's versioned migrations. */
#ifndef CORDER_SCHEMA_H
#define CORDER_SCHEMA_H

#include <sqlite3.h>

#include "model/err.h"

/* Brings the schema to the newest version, each migration in its own
 * transaction, recorded in PRAGMA user_version. Returns the version. */
int schema_migrate(sqlite3 *db, err_t *err);
int schema_version(void);

#endif
