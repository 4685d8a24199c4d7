/* test_walbuf.c: the VFS that gathers WAL writes (store/walbuf.c) keeps
 * the durability rule of PROTOCOL.md "Framing": an ok answer follows a
 * COMMIT, so every byte of a commit is in the WAL file when COMMIT returns;
 * a failed write fails the COMMIT and leaves the store as it was; a crash
 * before COMMIT loses nothing committed. And it does what it is for: far
 * fewer write calls per commit than SQLite's own two per page.
 *
 * The unix VFS's write calls are counted (and made to fail on demand)
 * through its own system-call override, xSetSystemCall. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/walbuf.h"
#include "t.h"

_Static_assert(sizeof(off_t) == 8, "pwrite and pwrite64 take the same offset");

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static pwrite_fn real_pwrite, real_pwrite64;
static long pwrites;   /* counted from the unix VFS's write calls */
static int fail_errno; /* non-zero: every write fails with it */

static ssize_t counted(pwrite_fn real, int fd, const void *p, size_t n, off_t off)
{
    pwrites++;
    if (fail_errno) {
        errno = fail_errno;
        return -1;
    }
    return real(fd, p, n, off);
}

static ssize_t my_pwrite(int fd, const void *p, size_t n, off_t off)
{
    return counted(real_pwrite, fd, p, n, off);
}

static ssize_t my_pwrite64(int fd, const void *p, size_t n, off_t off)
{
    return counted(real_pwrite64, fd, p, n, off);
}

static void hook_writes(void)
{
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
    real_pwrite = (pwrite_fn)unix_vfs->xGetSystemCall(unix_vfs, "pwrite");
    real_pwrite64 = (pwrite_fn)unix_vfs->xGetSystemCall(unix_vfs, "pwrite64");
    if (real_pwrite) unix_vfs->xSetSystemCall(unix_vfs, "pwrite", (sqlite3_syscall_ptr)my_pwrite);
    if (real_pwrite64)
        unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", (sqlite3_syscall_ptr)my_pwrite64);
}

/* A VFS below walbuf (the default when walbuf registers, so walbuf wraps
 * it) that sees what reaches the unix VFS: for the WAL file, the furthest
 * end of the writes between two syncs (SQLite rewrites frame headers of
 * the transaction before its sync, so the last write need not be the
 * furthest). */
typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
    int is_wal;
} below_file;

static sqlite3_vfs below_vfs;
static sqlite3_io_methods below_io;
static sqlite3_int64 write_end, synced_end; /* of the WAL */

static int below_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    below_file *b = (below_file *)f;
    if (b->is_wal && off + n > write_end) write_end = off + n;
    return b->real->pMethods->xWrite(b->real, p, n, off);
}

static int below_sync(sqlite3_file *f, int flags)
{
    below_file *b = (below_file *)f;
    if (b->is_wal) {
        synced_end = write_end;
        write_end = 0;
    }
    return b->real->pMethods->xSync(b->real, flags);
}

#define REAL(f) (((below_file *)(f))->real)
#define FORWARD(name, params, args)                                                                \
    static int below_##name params                                                                 \
    {                                                                                              \
        return REAL(f)->pMethods->x##name args;                                                    \
    }
FORWARD(Close, (sqlite3_file * f), (REAL(f)))
FORWARD(Read, (sqlite3_file * f, void *p, int n, sqlite3_int64 o), (REAL(f), p, n, o))
FORWARD(Truncate, (sqlite3_file * f, sqlite3_int64 n), (REAL(f), n))
FORWARD(FileSize, (sqlite3_file * f, sqlite3_int64 *n), (REAL(f), n))
FORWARD(Lock, (sqlite3_file * f, int l), (REAL(f), l))
FORWARD(Unlock, (sqlite3_file * f, int l), (REAL(f), l))
FORWARD(CheckReservedLock, (sqlite3_file * f, int *o), (REAL(f), o))
FORWARD(FileControl, (sqlite3_file * f, int op, void *a), (REAL(f), op, a))
FORWARD(SectorSize, (sqlite3_file * f), (REAL(f)))
FORWARD(DeviceCharacteristics, (sqlite3_file * f), (REAL(f)))
FORWARD(ShmMap, (sqlite3_file * f, int i, int n, int e, void volatile **o), (REAL(f), i, n, e, o))
FORWARD(ShmLock, (sqlite3_file * f, int o, int n, int fl), (REAL(f), o, n, fl))
FORWARD(ShmUnmap, (sqlite3_file * f, int d), (REAL(f), d))
FORWARD(Fetch, (sqlite3_file * f, sqlite3_int64 o, int n, void **p), (REAL(f), o, n, p))
FORWARD(Unfetch, (sqlite3_file * f, sqlite3_int64 o, void *p), (REAL(f), o, p))

static void below_ShmBarrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int below_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    sqlite3_vfs *unix_vfs = v->pAppData;
    below_file *b = (below_file *)f;
    b->real = (sqlite3_file *)(b + 1);
    b->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = unix_vfs->xOpen(unix_vfs, name, b->real, flags, out);
    if (rc != SQLITE_OK) {
        if (b->real->pMethods) b->real->pMethods->xClose(b->real);
        f->pMethods = NULL;
        return rc;
    }
    f->pMethods = &below_io;
    return SQLITE_OK;
}

static void register_below(void)
{
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
    below_vfs = *unix_vfs; /* the unix VFS's other methods ignore their VFS argument */
    below_vfs.pNext = NULL;
    below_vfs.zName = "test-below";
    below_vfs.pAppData = unix_vfs;
    below_vfs.szOsFile = (int)sizeof(below_file) + unix_vfs->szOsFile;
    below_vfs.xOpen = below_open;
    below_io = (sqlite3_io_methods){3,
                                    below_Close,
                                    below_Read,
                                    below_write,
                                    below_Truncate,
                                    below_sync,
                                    below_FileSize,
                                    below_Lock,
                                    below_Unlock,
                                    below_CheckReservedLock,
                                    below_FileControl,
                                    below_SectorSize,
                                    below_DeviceCharacteristics,
                                    below_ShmMap,
                                    below_ShmLock,
                                    below_ShmBarrier,
                                    below_ShmUnmap,
                                    below_Fetch,
                                    below_Unfetch};
    sqlite3_vfs_register(&below_vfs, 1);
}

static char db_path[256];

static void remove_db(void)
{
    char p[300];
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t int_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *open_db(const char *vfs, const char *sync)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    CHECK(rc == SQLITE_OK, "open through %s: %s", vfs, db ? sqlite3_errmsg(db) : "?");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync);
    CHECK(exec(db, "PRAGMA journal_mode=WAL") == SQLITE_OK && exec(db, sql) == SQLITE_OK &&
              exec(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)") == SQLITE_OK,
          "set up: %s", sqlite3_errmsg(db));
    return db;
}

/* Row k's value: its length and bytes follow from k, so a read checks it. */
static int value_len(int k)
{
    return 50 + (k * 7919) % 6000;
}

static void fill(unsigned char *b, int k, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(k * 31 + i);
}

static int insert_rows(sqlite3 *db, int from, int n)
{
    static unsigned char b[8192];
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?)", -1, &st, NULL);
    for (int k = from; rc == SQLITE_OK && k < from + n; k++) {
        fill(b, k, value_len(k));
        sqlite3_bind_int(st, 1, k);
        sqlite3_bind_blob(st, 2, b, value_len(k), SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Rows 0..n-1 all there with their values, and nothing else. */
static int rows_intact(sqlite3 *db, int n)
{
    static unsigned char b[8192];
    sqlite3_stmt *st;
    int k = 0, ok = 1;
    sqlite3_prepare_v2(db, "SELECT k, v FROM t ORDER BY k", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int len = value_len(k);
        fill(b, k, len);
        if (sqlite3_column_int(st, 0) != k || sqlite3_column_bytes(st, 1) != len ||
            memcmp(sqlite3_column_blob(st, 1), b, (size_t)len) != 0)
            ok = 0;
        k++;
    }
    sqlite3_finalize(st);
    return ok && k == n;
}

static int integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    return ok;
}

/* After each commit (SQLite calls the WAL hook once COMMIT has synced):
 * the commit's last frame had been written when the WAL was last synced
 * (it is the furthest write since the sync before),
 * and it is in the file, with its commit mark and the WAL header's salt,
 * read with plain read calls around SQLite. */
static int hook_commits, hook_bad;

static int check_last_frame(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)arg, (void)name;
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", sqlite3_db_filename(db, "main"));
    FILE *f = fopen(wal, "rb");
    unsigned char h[32], fh[24];
    long page = (long)int_query(db, "PRAGMA page_size");
    int good = synced_end == 32 + (sqlite3_int64)frames * (page + 24) && f &&
               fread(h, 1, 32, f) == 32 && page > 0 &&
               fseek(f, 32 + (long)(frames - 1) * (page + 24), SEEK_SET) == 0 &&
               fread(fh, 1, 24, f) == 24 && memcmp(fh + 4, "\0\0\0\0", 4) != 0 &&
               memcmp(fh + 8, h + 16, 8) == 0;
    if (f) fclose(f);
    hook_commits++;
    if (!good) hook_bad++;
    /* what SQLite's own hook (replaced by this one) does: a checkpoint,
     * after which the next commit starts the WAL over at offset 0 */
    if (frames >= 200) sqlite3_wal_checkpoint(db, NULL);
    return SQLITE_OK;
}

/* Many transactions of all sizes (some beyond the buffer's cap, some that
 * spill pages mid-transaction and rewrite frames, WAL restarts after the
 * automatic checkpoints), a second connection reading as they commit, then
 * close and reopen: every row intact. Under FULL (the engine's) and
 * NORMAL (where the wal-index barrier writes the buffer). */
static void test_many_transactions(const char *sync)
{
    remove_db();
    sqlite3 *db = open_db(WALBUF_VFS, sync);
    sqlite3 *reader = open_db(WALBUF_VFS, sync);
    exec(db, "PRAGMA cache_size=20"); /* small: big transactions spill */
    exec(db, "PRAGMA wal_autocheckpoint=200");
    hook_commits = hook_bad = 0;
    if (!strcmp(sync, "FULL")) sqlite3_wal_hook(db, check_last_frame, NULL);
    int n = 0, seen_ok = 1;
    for (int t = 0; t < 400; t++) {
        int rows = t % 50 == 0 ? 400 : 1 + t % 13; /* 400 rows: ~1.2 MB */
        CHECK(exec(db, "BEGIN") == SQLITE_OK, "begin");
        CHECK(insert_rows(db, n, rows) == SQLITE_OK, "insert: %s", sqlite3_errmsg(db));
        if (t % 7 == 0) /* rewrite rows of this transaction: frames rewritten */
            exec(db, "UPDATE t SET v = v WHERE k >= (SELECT max(k) - 3 FROM t)");
        CHECK(exec(db, "COMMIT") == SQLITE_OK, "commit %d: %s", t, sqlite3_errmsg(db));
        n += rows;
        if (int_query(reader, "SELECT count(*) FROM t") != n) seen_ok = 0;
    }
    CHECK(seen_ok, "%s: another connection sees each commit as it returns", sync);
    if (!strcmp(sync, "FULL"))
        CHECK(hook_commits == 400 && hook_bad == 0,
              "each commit's last frame was written before the sync and in the file when COMMIT "
              "returned (%d of %d bad)",
              hook_bad, hook_commits);
    sqlite3_close(reader);
    sqlite3_close(db);
    db = open_db(WALBUF_VFS, sync);
    CHECK(rows_intact(db, n), "%s: %d rows intact after reopening", sync, n);
    CHECK(integrity_ok(db), "integrity_check ok");
    sqlite3_close(db);
    /* and the plain VFS reads the same file */
    db = open_db("unix", sync);
    CHECK(rows_intact(db, n), "%s: intact through the plain unix VFS", sync);
    sqlite3_close(db);
}

/* The same commits through the plain VFS and through walbuf: write calls
 * per commit drop from two per page to one per 124 KiB. */
static void test_fewer_writes(void)
{
    long per_commit[2];
    const char *vfs[2] = {"unix", WALBUF_VFS};
    for (int i = 0; i < 2; i++) {
        remove_db();
        sqlite3 *db = open_db(vfs[i], "FULL");
        exec(db, "PRAGMA wal_autocheckpoint=0"); /* only WAL writes counted */
        walbuf_counts before, after;
        walbuf_get_counts(&before);
        pwrites = 0;
        for (int t = 0; t < 50; t++) { /* 12 rows, ~37 KB, ~12 pages a commit */
            exec(db, "BEGIN");
            insert_rows(db, t * 12, 12);
            CHECK(exec(db, "COMMIT") == SQLITE_OK, "commit: %s", sqlite3_errmsg(db));
        }
        per_commit[i] = pwrites / 50;
        walbuf_get_counts(&after);
        if (i == 1)
            CHECK(after.written - before.written == (uint64_t)pwrites &&
                      after.asked - before.asked >= (uint64_t)per_commit[0] * 50 - 50,
                  "walbuf counted %llu writes asked, %llu made (%ld seen)",
                  (unsigned long long)(after.asked - before.asked),
                  (unsigned long long)(after.written - before.written), pwrites);
        sqlite3_close(db);
    }
    printf("write calls per commit: unix %ld, walbuf %ld\n", per_commit[0], per_commit[1]);
    CHECK(per_commit[0] >= 20, "the plain VFS writes each of ~12 frames twice (%ld)",
          per_commit[0]);
    CHECK(per_commit[1] <= 2, "walbuf writes a commit of ~50 KB at once (%ld)", per_commit[1]);
}

/* A write that fails (EIO, then a full disk) fails that COMMIT, which
 * SQLite rolls back; the commits before it and after it are kept. */
static void test_write_error(int err, int want)
{
    remove_db();
    sqlite3 *db = open_db(WALBUF_VFS, "FULL");
    exec(db, "PRAGMA wal_autocheckpoint=0");
    CHECK(insert_rows(db, 0, 100) == SQLITE_OK, "100 rows");
    walbuf_counts before, after;
    walbuf_get_counts(&before);
    exec(db, "BEGIN");
    CHECK(insert_rows(db, 100, 20) == SQLITE_OK, "inserts gathered, not yet written");
    fail_errno = err;
    int rc = exec(db, "COMMIT");
    fail_errno = 0;
    walbuf_get_counts(&after);
    CHECK(rc != SQLITE_OK && (sqlite3_extended_errcode(db) & 0xff) == want,
          "COMMIT fails with the write's error (%d: %s)", rc, sqlite3_errmsg(db));
    CHECK(after.failed > before.failed, "the failed flush was counted");
    if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
    CHECK(rows_intact(db, 100), "the failed transaction left nothing");
    CHECK(insert_rows(db, 100, 10) == SQLITE_OK, "later commits work: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    db = open_db(WALBUF_VFS, "FULL");
    CHECK(rows_intact(db, 110), "after reopening: the 110 committed rows");
    CHECK(integrity_ok(db), "integrity_check ok");
    sqlite3_close(db);
}

/* A process that dies with frames gathered but its COMMIT not reached (a
 * big transaction that spilled) loses only that transaction. */
static void test_crash_before_commit(void)
{
    remove_db();
    sqlite3 *db = open_db(WALBUF_VFS, "FULL");
    insert_rows(db, 0, 50);
    sqlite3_close(db);
    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *c = NULL;
        sqlite3_open_v2(db_path, &c, SQLITE_OPEN_READWRITE, WALBUF_VFS);
        exec(c, "PRAGMA cache_size=10");
        exec(c, "BEGIN");
        insert_rows(c, 50, 300);
        _exit(0); /* no COMMIT, no close */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status), "child ran");
    db = open_db(WALBUF_VFS, "FULL");
    CHECK(rows_intact(db, 50), "the 50 committed rows, nothing of the dead transaction");
    CHECK(integrity_ok(db), "integrity_check ok");
    sqlite3_close(db);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/corder-test-walbuf-%d.db", (int)getpid());
    hook_writes();
    register_below();
    CHECK(walbuf_register() == SQLITE_OK, "registered");
    CHECK(walbuf_register() == SQLITE_OK, "registering again is harmless");
    CHECK(real_pwrite || real_pwrite64, "the unix VFS has a pwrite to count");
    test_many_transactions("FULL");
    test_many_transactions("NORMAL");
    test_fewer_writes();
    test_write_error(EIO, SQLITE_IOERR);
    test_write_error(ENOSPC, SQLITE_FULL);
    test_crash_before_commit();
    remove_db();
    return T_DONE();
}
