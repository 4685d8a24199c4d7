/* backup.c: online backup of a live database (SPEC OP3).
 *
 * The copy must be one consistent moment of the database while `serve`
 * goes on writing, and the writers must not wait for it. SQLite's backup
 * API restarts whenever another connection changes the source between two
 * steps, which under a steady load could mean never finishing; so the
 * source is held in one read transaction for the whole copy. In WAL mode a
 * reader takes no lock a writer waits for: the server keeps committing,
 * the backup keeps seeing the snapshot of its first step (every order
 * acknowledged before it began is in it), and the only cost to the server
 * is that a checkpoint cannot recycle the WAL until the copy ends. The copy
 * goes a few pages at a time with a pause between steps, so that it shares
 * the disk rather than taking it.
 *
 * The copy is written to dst.tmp-XXXXXX (mkstemp: 0600, the database holds
 * PIN hashes) beside dst, checked (PRAGMA integrity_check, the schema
 * version this program knows, the orders table readable), fsynced, renamed
 * over dst, and the directory fsynced: dst is either the old file or a
 * complete, checked copy, never half of one. */
#include "store/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/schema.h"

#define BACKUP_PAGES_PER_STEP 64 /* 256 KiB of 4 KiB pages: well under a millisecond */
#define BACKUP_PAUSE_US 1000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_err(err_t *err, sqlite3 *db, const char *what, const char *path)
{
    return err_set(err, ERR_INTERNAL, "backup: %s %s: %s", what, path,
                   db ? sqlite3_errmsg(db) : "out of memory");
}

/* One integer from a one-row query; -1 when it fails. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The checks a restore relies on: the file is sound, and it is a corder
 * database this program can open without migrating it. */
static int check_copy(sqlite3 *db, const char *path, backup_result *res, err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return db_err(err, db, "cannot check", path);
    int rc = sqlite3_step(st);
    const char *first = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!first || strcmp(first, "ok")) {
        err_set(err, ERR_INTERNAL, "backup: the copy fails its integrity check: %s",
                first ? first : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    res->schema = (int)query_int(db, "PRAGMA user_version");
    if (res->schema != schema_version())
        return err_set(err, ERR_INTERNAL,
                       "backup: the copy is schema version %d, this corder's is %d (is the"
                       " source a corder database?)",
                       res->schema, schema_version());
    res->orders = query_int(db, "SELECT count(*) FROM orders");
    if (res->orders < 0)
        return err_set(err, ERR_INTERNAL, "backup: the copy has no readable orders table: %s",
                       sqlite3_errmsg(db));
    return 0;
}

/* Copies src's snapshot into the open destination connection. */
static int copy_pages(sqlite3 *from, sqlite3 *to, const backup_opts *o, backup_result *res,
                      const char *src, err_t *err)
{
    int pages = o && o->pages_per_step > 0 ? o->pages_per_step : BACKUP_PAGES_PER_STEP;
    int pause = o && o->pause_us ? o->pause_us : BACKUP_PAUSE_US;
    /* The read transaction that pins the snapshot (see the top). */
    if (sqlite3_exec(from, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK)
        return db_err(err, from, "cannot read", src);
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        db_err(err, to, "cannot start the copy of", src);
        sqlite3_exec(from, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    int rc;
    for (;;) {
        if (o && o->stop && atomic_load(o->stop)) {
            rc = SQLITE_INTERRUPT;
            break;
        }
        rc = sqlite3_backup_step(b, pages);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        if (pause > 0) usleep((useconds_t)pause);
    }
    res->pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    sqlite3_exec(from, "ROLLBACK", NULL, NULL, NULL);
    if (rc == SQLITE_INTERRUPT) return err_set(err, ERR_INTERNAL, "backup: stopped");
    if (rc != SQLITE_DONE)
        return err_set(err, ERR_INTERNAL, "backup: copying %s failed: %s", src, sqlite3_errstr(rc));
    return 0;
}

static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int backup_copy(const char *src, const char *dst, const backup_opts *o, backup_result *res,
                err_t *err)
{
    backup_result scratch;
    if (!res) res = &scratch;
    memset(res, 0, sizeof *res);
    int64_t t0 = now_ms();
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", dst) >= sizeof tmp)
        return err_set(err, ERR_INTERNAL, "backup: path too long: %s", dst);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return err_set(err, ERR_INTERNAL, "backup: cannot create %s: %s", tmp, strerror(errno));
    close(fd);
    sqlite3 *from = NULL, *to = NULL;
    int rc = -1;
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        db_err(err, from, "cannot open", src);
        goto out;
    }
    sqlite3_busy_timeout(from, 5000);
    if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        db_err(err, to, "cannot open", tmp);
        goto out;
    }
    if (copy_pages(from, to, o, res, src, err) < 0 || check_copy(to, dst, res, err) < 0) goto out;
    /* The copy keeps the source's WAL mode in its header; anything SQLite
     * left in a -wal of the temporary file is folded in before it moves. */
    sqlite3_exec(to, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (sqlite3_close(to) != SQLITE_OK) {
        db_err(err, to, "cannot close", tmp);
        goto out;
    }
    to = NULL;
    fd = open(tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        err_set(err, ERR_INTERNAL, "backup: cannot sync %s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, dst) != 0) {
        err_set(err, ERR_INTERNAL, "backup: cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        goto out;
    }
    sync_dir(dst);
    rc = 0;
out:
    if (to) sqlite3_close(to);
    if (from) sqlite3_close(from);
    if (rc != 0) {
        static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
            char p[PATH_MAX + 16];
            snprintf(p, sizeof p, "%s%s", tmp, suffix[i]);
            unlink(p);
        }
    }
    res->ms = now_ms() - t0;
    return rc;
}
