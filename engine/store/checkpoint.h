/* checkpoint.h: WAL checkpoints on a thread of their own (see checkpoint.c). */
#ifndef CORDER_CHECKPOINT_H
#define CORDER_CHECKPOINT_H

#include <sqlite3.h>
#include <stdint.h>

#include "model/err.h"

typedef struct checkpointer checkpointer;

/* Opens its own connection to path and checkpoints the WAL every few ms;
 * counts the WAL bytes of writer's commits (its WAL hook: call after
 * PRAGMA wal_autocheckpoint=0, which clears the hook). writer must stay
 * open until checkpoint_stop. */
checkpointer *checkpoint_start(sqlite3 *writer, const char *path, err_t *err);
/* On the writer's thread, outside a transaction: when the thread has asked
 * for it (the WAL is big and nearly all copied), copies the rest on the
 * writer's connection so that the next transaction restarts the WAL from
 * its first frame. Cheap when not asked; NULL is fine. */
void checkpoint_catch_up(checkpointer *c);
/* Bytes writer's commits appended to the WAL since start (frames x (page
 * size + 24)); any thread may ask. 0 for NULL. */
uint64_t checkpoint_wal_bytes(const checkpointer *c);
/* Stops the thread after a last full checkpoint. */
void checkpoint_stop(checkpointer *c);

#endif
