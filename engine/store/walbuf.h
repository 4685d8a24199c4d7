/* walbuf.h: a SQLite VFS that writes each commit's WAL frames with one
 * write instead of two per frame (see walbuf.c). */
#ifndef CORDER_WALBUF_H
#define CORDER_WALBUF_H

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
} walbuf_counts;

void walbuf_get_counts(walbuf_counts *out);

#endif
