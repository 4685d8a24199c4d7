/* checkpoint.h: WAL checkpoints on a thread of their own (see checkpoint.c). */
#ifndef CORDER_CHECKPOINT_H
#define CORDER_CHECKPOINT_H

#include "model/err.h"

typedef struct checkpointer checkpointer;

/* Opens its own connection to path and checkpoints the WAL every few ms. */
checkpointer *checkpoint_start(const char *path, err_t *err);
/* Stops the thread after a last full checkpoint. */
void checkpoint_stop(checkpointer *c);

#endif
