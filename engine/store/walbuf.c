/* walbuf.c: a SQLite VFS that sits on the default one and gathers the
 * writes to a WAL file into one write.
 *
 * SQLite writes each WAL frame as two writes (its 24-byte header, then the
 * page) and syncs the file once at COMMIT: a commit of 50 pages costs 100
 * pwrite calls, each a trip into a paravirtualised kernel on the server's
 * only thread. Here the writes that continue (or overwrite) the range
 * already gathered are copied into one buffer per WAL file handle, and the
 * buffer is written, one write per WALBUF_WRITE_MAX bytes (the most the
 * unix VFS writes at once), when anything could tell the difference:
 *
 *   - xSync: first the buffer, then the sync. So every byte SQLite wrote is
 *     in the file before xSync returns, as without the buffer: an answer
 *     the server releases after COMMIT is on disk. A failed write is
 *     returned by xSync, and SQLite fails the COMMIT as it does when the
 *     sync itself fails;
 *   - xRead of a range that overlaps the buffer, xFileSize, xTruncate,
 *     xFileControl and xClose;
 *   - a write that neither continues nor falls inside the gathered range
 *     (the WAL starting over at offset 0 after a checkpoint, SQLite
 *     rewriting a frame of an earlier flush), and a write that would take
 *     the buffer past WALBUF_CAP;
 *   - the database file's xShmBarrier and xShmLock (the same connection's):
 *     SQLite publishes new frames to other connections through the shared
 *     wal-index, after a barrier. With synchronous=FULL (the engine's) the
 *     buffer is already empty there, since the sync came first; with
 *     NORMAL, which does not sync at COMMIT, this keeps other connections
 *     from reading frames still in memory. Those two calls cannot fail, so
 *     a failed write there is kept and returned by the WAL file's next
 *     call: under NORMAL such a commit has already returned ok, where
 *     SQLite alone would have failed it. Exactly SQLite's behaviour, write
 *     errors included, is under FULL, which the engine uses.
 *
 * A crash with bytes still gathered loses only bytes of a commit whose sync
 * had not returned: nothing was promised for them, and recovery stops at
 * the last frame whose checksum chain holds, as it would after a crash
 * between two of SQLite's own writes. Other files (the database, the
 * wal-index) pass straight through. */
#include "store/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct walbuf_file walbuf_file;

struct walbuf_file {
    sqlite3_file base;
    sqlite3_file *real; /* the file of the VFS below, in the same allocation */
    bool is_wal;
    /* the WAL of a main database file, the main database of a WAL: both
     * belong to one connection, so one thread uses them at a time */
    walbuf_file *peer;
    unsigned char *buf;  /* WALBUF_CAP bytes once the first write comes */
    sqlite3_int64 start; /* the file offset of buf[0] */
    int len;             /* bytes gathered */
    int pending_rc;      /* a failed write nobody could be told of yet */
    /* Deferred syncs (walbuf_defer_syncs): set on the main database file,
     * read by its WAL through peer; one connection, one thread. */
    bool defer_syncs;   /* main: a commit's sync of our WAL may be deferred */
    bool checkpointing; /* main: the connection holds the checkpoint lock */
    bool header_dirty;  /* WAL: its header was rewritten since a real sync */
    bool owed;          /* WAL: a commit's sync was deferred (walbuf_take_owed) */
};

/* Where the real file starts after ours, aligned for any type. */
#define WALBUF_REAL_OFFSET                                                                         \
    ((sizeof(walbuf_file) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) *                   \
     _Alignof(max_align_t))

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *walbuf_below;
static walbuf_counts walbuf_stats;

static void count(uint64_t *n)
{
    __atomic_fetch_add(n, 1, __ATOMIC_RELAXED);
}

void walbuf_get_counts(walbuf_counts *out)
{
    out->asked = __atomic_load_n(&walbuf_stats.asked, __ATOMIC_RELAXED);
    out->written = __atomic_load_n(&walbuf_stats.written, __ATOMIC_RELAXED);
    out->failed = __atomic_load_n(&walbuf_stats.failed, __ATOMIC_RELAXED);
    out->synced = __atomic_load_n(&walbuf_stats.synced, __ATOMIC_RELAXED);
    out->deferred = __atomic_load_n(&walbuf_stats.deferred, __ATOMIC_RELAXED);
}

static walbuf_file *wf(sqlite3_file *f)
{
    return (walbuf_file *)f;
}

static int write_below(walbuf_file *f, const void *p, int amt, sqlite3_int64 off)
{
    count(&walbuf_stats.written);
    int rc = f->real->pMethods->xWrite(f->real, p, amt, off);
    if (rc != SQLITE_OK) count(&walbuf_stats.failed);
    return rc;
}

/* Writes the gathered bytes, in pieces of at most WALBUF_WRITE_MAX. They
 * are dropped whether or not the writes succeeded: SQLite treats a failed
 * write as not done and does not retry it, it fails the transaction. */
static int flush(walbuf_file *f)
{
    int len = f->len, rc = SQLITE_OK;
    f->len = 0;
    for (int done = 0; done < len && rc == SQLITE_OK; done += WALBUF_WRITE_MAX) {
        int n = len - done < WALBUF_WRITE_MAX ? len - done : WALBUF_WRITE_MAX;
        rc = write_below(f, f->buf + done, n, f->start + done);
    }
    return rc;
}

/* flush, then the error a barrier could not return, if any. */
static int settle(walbuf_file *f)
{
    int rc = flush(f);
    if (rc == SQLITE_OK && f->pending_rc != SQLITE_OK) rc = f->pending_rc;
    f->pending_rc = SQLITE_OK;
    return rc;
}

/* For the calls that cannot fail: keep the error for the next one that can. */
static void settle_later(walbuf_file *f)
{
    int rc = flush(f);
    if (rc != SQLITE_OK && f->pending_rc == SQLITE_OK) f->pending_rc = rc;
}

static int io_close(sqlite3_file *pf)
{
    walbuf_file *f = wf(pf);
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    if (f->peer) f->peer->peer = NULL;
    f->peer = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc2 = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int io_read(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off)
{
    walbuf_file *f = wf(pf);
    if (f->is_wal && f->len > 0 && off < f->start + f->len && off + amt > f->start) {
        int rc = settle(f);
        if (rc != SQLITE_OK) return rc;
    }
    return f->real->pMethods->xRead(f->real, p, amt, off);
}

static int io_write(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off)
{
    walbuf_file *f = wf(pf);
    if (!f->is_wal) return f->real->pMethods->xWrite(f->real, p, amt, off);
    count(&walbuf_stats.asked);
    if (off == 0) f->header_dirty = true; /* the log starting over: new salts */
    if (f->pending_rc != SQLITE_OK) return settle(f);
    /* continues the gathered range, or rewrites part of it (SQLite
     * rewriting a frame of this transaction), within the cap */
    if (f->len > 0 && off >= f->start && off <= f->start + f->len &&
        off + amt <= f->start + WALBUF_CAP) {
        memcpy(f->buf + (off - f->start), p, (size_t)amt);
        if (off + amt - f->start > f->len) f->len = (int)(off + amt - f->start);
        return SQLITE_OK;
    }
    int rc = flush(f);
    if (rc != SQLITE_OK) return rc;
    if (amt > WALBUF_WRITE_MAX || (!f->buf && !(f->buf = malloc(WALBUF_CAP))))
        return write_below(f, p, amt, off); /* too big to gather, or no memory */
    memcpy(f->buf, p, (size_t)amt);
    f->start = off;
    f->len = amt;
    return SQLITE_OK;
}

static int io_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    walbuf_file *f = wf(pf);
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

/* A WAL's sync. Deferred (only its bytes written, the fdatasync owed to
 * whoever took over syncing: store/walsync.c) when the connection asked for
 * that and this is a commit's sync. Never deferred, so exactly SQLite's:
 *   - during a checkpoint: SQLite syncs the WAL before it copies frames
 *     into the database, and a database page must never be on disk while
 *     the frame it came from may not be (after a power cut, recovery would
 *     lay older frames over newer pages);
 *   - after the WAL's header was rewritten (the log starting over with new
 *     salts): SQLite syncs it at once even under synchronous=NORMAL. */
static int io_sync(sqlite3_file *pf, int flags)
{
    walbuf_file *f = wf(pf);
    if (!f->is_wal) return f->real->pMethods->xSync(f->real, flags);
    int rc = settle(f);
    if (rc != SQLITE_OK) return rc;
    const walbuf_file *db = f->peer;
    if (db && db->defer_syncs && !db->checkpointing && !f->header_dirty) {
        f->owed = true;
        count(&walbuf_stats.deferred);
        return SQLITE_OK;
    }
    rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK) {
        f->header_dirty = false;
        f->owed = false; /* this sync covered them */
        count(&walbuf_stats.synced);
    }
    return rc;
}

static int io_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    walbuf_file *f = wf(pf);
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* SQLite never locks a WAL file this way (its locks are in the wal-index),
 * so these pass through. */
static int io_lock(sqlite3_file *pf, int level)
{
    return wf(pf)->real->pMethods->xLock(wf(pf)->real, level);
}

static int io_unlock(sqlite3_file *pf, int level)
{
    return wf(pf)->real->pMethods->xUnlock(wf(pf)->real, level);
}

static int io_check_reserved(sqlite3_file *pf, int *out)
{
    return wf(pf)->real->pMethods->xCheckReservedLock(wf(pf)->real, out);
}

/* Some controls act on the file (a size hint may extend it): they see
 * every byte written so far. */
static int io_file_control(sqlite3_file *pf, int op, void *arg)
{
    walbuf_file *f = wf(pf);
    if (!f->is_wal && op == WALBUF_FCNTL_DEFER) {
        f->defer_syncs = *(int *)arg != 0;
        return SQLITE_OK;
    }
    if (!f->is_wal && op == WALBUF_FCNTL_TAKE_OWED) {
        *(int *)arg = f->peer && f->peer->owed;
        if (f->peer) f->peer->owed = false;
        return SQLITE_OK;
    }
    if (f->is_wal) settle_later(f);
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int io_sector_size(sqlite3_file *pf)
{
    return wf(pf)->real->pMethods->xSectorSize(wf(pf)->real);
}

static int io_device_characteristics(sqlite3_file *pf)
{
    return wf(pf)->real->pMethods->xDeviceCharacteristics(wf(pf)->real);
}

static int io_shm_map(sqlite3_file *pf, int page, int size, int extend, void volatile **out)
{
    return wf(pf)->real->pMethods->xShmMap(wf(pf)->real, page, size, extend, out);
}

/* Called on the main database file; see the top of the file. */
static int io_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    walbuf_file *f = wf(pf);
    if (f->peer) settle_later(f->peer);
    int rc = f->real->pMethods->xShmLock(f->real, offset, n, flags);
    /* The wal-index's lock 1 is the checkpoint lock (SQLite's WAL format). */
    if (rc == SQLITE_OK && offset <= WALBUF_CKPT_LOCK && offset + n > WALBUF_CKPT_LOCK &&
        (flags & SQLITE_SHM_EXCLUSIVE))
        f->checkpointing = (flags & SQLITE_SHM_LOCK) != 0;
    return rc;
}

static void io_shm_barrier(sqlite3_file *pf)
{
    walbuf_file *f = wf(pf);
    if (f->peer) settle_later(f->peer);
    f->real->pMethods->xShmBarrier(f->real);
}

static int io_shm_unmap(sqlite3_file *pf, int delete_flag)
{
    return wf(pf)->real->pMethods->xShmUnmap(wf(pf)->real, delete_flag);
}

static int io_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **out)
{
    return wf(pf)->real->pMethods->xFetch(wf(pf)->real, off, amt, out);
}

static int io_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    return wf(pf)->real->pMethods->xUnfetch(wf(pf)->real, off, p);
}

/* One table per io_methods version, so SQLite sees the same abilities
 * (shared memory for WAL, memory-mapped reads) as the file below has. */
#define WALBUF_IO_METHODS(version)                                                                 \
    {                                                                                              \
        version, io_close, io_read, io_write, io_truncate, io_sync, io_file_size, io_lock,         \
            io_unlock, io_check_reserved, io_file_control, io_sector_size,                         \
            io_device_characteristics, io_shm_map, io_shm_lock, io_shm_barrier, io_shm_unmap,      \
            io_fetch, io_unfetch                                                                   \
    }

static const sqlite3_io_methods walbuf_io[3] = {WALBUF_IO_METHODS(1), WALBUF_IO_METHODS(2),
                                                WALBUF_IO_METHODS(3)};

static const sqlite3_io_methods *methods_like(const sqlite3_io_methods *below)
{
    int v = below->iVersion > 3 ? 3 : below->iVersion;
    if (v >= 2 && !below->xShmMap) v = 1;
    if (v >= 3 && !below->xFetch) v = 2;
    return &walbuf_io[v < 1 ? 0 : v - 1];
}

static bool is_ours(const sqlite3_file *f)
{
    return f && (f->pMethods == &walbuf_io[0] || f->pMethods == &walbuf_io[1] ||
                 f->pMethods == &walbuf_io[2]);
}

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags,
                    int *out_flags)
{
    (void)vfs;
    walbuf_file *f = wf(pf);
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)pf + WALBUF_REAL_OFFSET);
    int rc = walbuf_below->xOpen(walbuf_below, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || !f->real->pMethods) {
        /* SQLite will not call xClose on a file whose open failed */
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        pf->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    if (f->is_wal && name) {
        /* the connection's main database file, whose barrier flushes us */
        sqlite3_file *db = sqlite3_database_file_object(name);
        if (is_ours(db)) {
            walbuf_file *main = wf(db);
            if (main->peer) main->peer->peer = NULL;
            main->peer = f;
            f->peer = main;
        }
    }
    pf->pMethods = methods_like(f->real->pMethods);
    return SQLITE_OK;
}

/* The rest of the VFS is the VFS below. */
static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return walbuf_below->xDelete(walbuf_below, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return walbuf_below->xAccess(walbuf_below, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return walbuf_below->xFullPathname(walbuf_below, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return walbuf_below->xDlOpen(walbuf_below, name);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    walbuf_below->xDlError(walbuf_below, n, out);
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return walbuf_below->xDlSym(walbuf_below, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    walbuf_below->xDlClose(walbuf_below, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return walbuf_below->xRandomness(walbuf_below, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return walbuf_below->xSleep(walbuf_below, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return walbuf_below->xCurrentTime(walbuf_below, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return walbuf_below->xGetLastError ? walbuf_below->xGetLastError(walbuf_below, n, out) : 0;
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return walbuf_below->xCurrentTimeInt64(walbuf_below, out);
}

static int vfs_set_syscall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr p)
{
    (void)v;
    return walbuf_below->xSetSystemCall(walbuf_below, name, p);
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return walbuf_below->xGetSystemCall(walbuf_below, name);
}

static const char *vfs_next_syscall(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return walbuf_below->xNextSystemCall(walbuf_below, name);
}

static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_register_rc = SQLITE_ERROR;

static void register_once(void)
{
    if (sqlite3_initialize() != SQLITE_OK || !(walbuf_below = sqlite3_vfs_find(NULL))) return;
    sqlite3_vfs *b = walbuf_below;
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = b->iVersion > 3 ? 3 : b->iVersion,
        .szOsFile = (int)WALBUF_REAL_OFFSET + b->szOsFile,
        .mxPathname = b->mxPathname,
        .zName = WALBUF_VFS,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = b->xDlOpen ? vfs_dlopen : NULL,
        .xDlError = b->xDlError ? vfs_dlerror : NULL,
        .xDlSym = b->xDlSym ? vfs_dlsym : NULL,
        .xDlClose = b->xDlClose ? vfs_dlclose : NULL,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
    };
    if (b->iVersion >= 2 && b->xCurrentTimeInt64) walbuf_vfs.xCurrentTimeInt64 = vfs_current_time64;
    if (b->iVersion >= 3 && b->xSetSystemCall) {
        walbuf_vfs.xSetSystemCall = vfs_set_syscall;
        walbuf_vfs.xGetSystemCall = vfs_get_syscall;
        walbuf_vfs.xNextSystemCall = vfs_next_syscall;
    }
    walbuf_register_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

int walbuf_register(void)
{
    pthread_once(&walbuf_once, register_once);
    return walbuf_register_rc;
}

int walbuf_defer_syncs(sqlite3 *db, bool on)
{
    int v = on;
    return sqlite3_file_control(db, "main", WALBUF_FCNTL_DEFER, &v);
}

bool walbuf_take_owed(sqlite3 *db)
{
    int v = 0;
    return sqlite3_file_control(db, "main", WALBUF_FCNTL_TAKE_OWED, &v) == SQLITE_OK && v;
}
