/* walbuf.h: a SQLite VFS that writes each commit's WAL frames with one
 * write instead of two per frame (see walbuf.c). */
#ifndef CORDER_WALBUF_H
#define CORDER_WALBUF_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* The name to pass to sqlite3_open_v2 as its VFS. */
#define WALBUF_VFS "corder-walbuf"

/* The most bytes a WAL file's buffer holds before it is written out. */
#define WALBUF_CAP (1024 * 1024)

/* The most bytes written at once: SQLite's unix VFS writes at most
 * 128 KiB - 1 bytes a call (it masks the length to 17 bits, so a longer
 * write comes back short, as SQLITE_FULL). 31 pages of 4 KiB, 30 WAL
 * frames: a commit of 50 pages is 2 writes. */
#define WALBUF_WRITE_MAX (31 * 4096)

/* Registers the VFS (once per process; any thread may call it), wrapping
 * whichever VFS is the default at the first call. Returns a SQLite code. */
int walbuf_register(void);

/* Counts since the process started, over every WAL file opened through
 * the VFS (for tests and the bench): the writes SQLite asked for, the
 * writes that reached the VFS below, and the flushes that failed. */
typedef struct {
    uint64_t asked;
    uint64_t written;
    uint64_t failed;
    uint64_t synced;   /* WAL syncs done */
    uint64_t deferred; /* WAL syncs left to the caller (walbuf_defer_syncs) */
} walbuf_counts;

void walbuf_get_counts(walbuf_counts *out);

/* Pipelined commits (store/walsync.c). With on, a COMMIT on db writes its
 * WAL frames (write errors still fail it) but leaves the fdatasync undone
 * and owed: the caller must sync the -wal file itself before it tells
 * anyone the commit happened. Syncs during a checkpoint and after the log
 * started over stay SQLite's own. Both return a SQLite code; db must have
 * been opened through this VFS. */
int walbuf_defer_syncs(sqlite3 *db, bool on);
/* Whether a sync was deferred since the last call (and clears it). */
bool walbuf_take_owed(sqlite3 *db);

/* Private file-control codes (on the main database file). */
#define WALBUF_FCNTL_DEFER 0x57420001
#define WALBUF_FCNTL_TAKE_OWED 0x57420002
/* The wal-index lock a checkpoint holds (SQLite's WAL_CKPT_LOCK). */
#define WALBUF_CKPT_LOCK 1

#endif
