/* checkpoint.c: WAL checkpoints off the event loop.
 *
 * In WAL mode a commit appends pages to the -wal file and fsyncs it; from
 * time to time those pages must be copied back into the database file and
 * that file fsynced (a checkpoint). By default SQLite does it inside the
 * COMMIT that crosses 1,000 pages, so one client in every few hundred
 * waits for a few MB of writes and an extra fsync, on the server's only
 * thread. The server turns that off (wal_autocheckpoint=0) and this thread
 * checkpoints PASSIVE-ly on its own connection instead: it never blocks the
 * writer, and durability is unchanged, since a commit is durable once its
 * WAL frames are synced, whoever copies them later.
 *
 * The WAL must also start over now and then. SQLite writes from frame 0
 * again only when a write transaction begins with every frame copied, and
 * a thread that copies while the writer commits hundreds of times a second
 * is never quite done: the file grew without end (459 MB after 15 s of the
 * bench), and an fdatasync after appending to a growing file costs about
 * twice one after overwriting blocks it already has (the inode's size and
 * block map go to the journal too: 0.63 against 0.30 ms for a 200 KB
 * write here), besides a wal-index that grows with it. So once the WAL
 * holds CHECKPOINT_RESTART_BYTES and this thread has copied all but the
 * last CHECKPOINT_CATCHUP_BYTES, it asks the writer to copy that rest
 * itself before its next transaction (checkpoint_catch_up): a short PASSIVE
 * checkpoint on the writer's connection, one fsync of the database file a
 * few times a second, after which SQLite restarts the log.
 *
 * SQLite syncs the database file only after a checkpoint that copied every
 * frame; the partial ones before it leave their pages dirty in the page
 * cache. That made the catch-up's fsync on the loop write megabytes, and
 * the kernel's own writeback of the rest came in bursts that stalled the
 * commits' fsyncs behind them (commits of 100-250 ms, the p99's tail). So
 * this thread fdatasyncs the database after every pass that copied pages:
 * the writes go out in small steps off the loop, and the catch-up syncs
 * only its own few pages.
 *
 * It also counts the bytes the server's commits append to the WAL (a WAL
 * hook on the writer's connection, which SQLite calls after each commit
 * with the number of frames now in the file): the metric
 * corder_wal_bytes_total, and the bench's wal_bytes_per_order. */
#include "store/checkpoint.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "store/walbuf.h"

#define CHECKPOINT_EVERY_MS 20
/* 64 MiB: the log starts over about every 8,000 orders at the bench's
 * rate with 4 KiB pages. A restart's catch-up (at most the bytes below,
 * fewer pages: a page copies once however often it was written) stalls
 * the loop 1-3 ms, and every request in flight waits it out: at 16 MiB
 * that was six times a second, 2-3 % of all requests, enough to set the
 * p99. Six alternating 10 s runs with pipelined commits, 16 against 64
 * MiB: 14,883 against 16,337 orders/s, p99 8.7 against 7.7 ms (64 MiB
 * ahead in 5 of 6 pairs on both). In bytes, not frames: they were 16,384
 * and 512 frames, which with a store's 1 KiB pages made the log start
 * over at 16 MiB again. */
#define CHECKPOINT_RESTART_BYTES (64 << 20)
#define CHECKPOINT_CATCHUP_BYTES (2 << 20)

struct checkpointer {
    pthread_t thread;
    int wal_last;       /* frames in the WAL after the previous commit */
    int frame_bytes;    /* page size + the 24-byte frame header */
    int restart_frames; /* CHECKPOINT_RESTART_BYTES in pages */
    int catchup_frames; /* CHECKPOINT_CATCHUP_BYTES in pages */
    uint64_t wal_bytes; /* appended since start; atomic: read by the metrics page */
    int wal_fd;         /* the -wal file, read for its header; -1 until opened */
    int db_fd;          /* the database file, synced after each pass; -1: not open */
    uint32_t wal_round; /* the header's checkpoint sequence at the previous commit */
    bool round_known;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int catch_up; /* atomic: set here, taken by checkpoint_catch_up */
    sqlite3 *db;
    sqlite3 *writer; /* the engine's connection, whose WAL hook counts */
};

static void *checkpoint_main(void *arg)
{
    checkpointer *c = arg;
    pthread_setname_np(pthread_self(), "corder-ckpt"); /* top -H, the bench's CPU split */
    int copied = 0;                                    /* frames copied as of the previous pass */
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECKPOINT_EVERY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &until);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        int wal_frames = 0, done = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &done);
        if (rc == SQLITE_OK && done != copied && c->db_fd >= 0) fdatasync(c->db_fd);
        if (rc == SQLITE_OK) copied = done;
        if (rc == SQLITE_OK && wal_frames >= c->restart_frames &&
            wal_frames - done <= c->catchup_frames)
            __atomic_store_n(&c->catch_up, 1, __ATOMIC_RELEASE);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Whether the WAL started over from frame 0 since the previous commit: the
 * next writer does so once a checkpoint has copied all of it, and then
 * bumps the checkpoint sequence in the file's header (bytes 12-15,
 * big-endian). -1 when the header cannot be read. */
static int wal_restarted(checkpointer *c)
{
    if (c->wal_fd < 0) {
        char path[PATH_MAX];
        const char *db = sqlite3_db_filename(c->writer, "main");
        if (!db || snprintf(path, sizeof path, "%s-wal", db) >= (int)sizeof path) return -1;
        c->wal_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (c->wal_fd < 0) return -1;
    }
    unsigned char h[16];
    if (pread(c->wal_fd, h, sizeof h, 0) != (ssize_t)sizeof h) return -1;
    uint32_t round = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
    int restarted = c->round_known && round != c->wal_round;
    c->wal_round = round;
    c->round_known = true;
    return restarted;
}

/* After each commit on the writer, with the frames now in the WAL: those
 * it appended. After a restart the file holds only this commit's frames;
 * otherwise they are the growth since the previous commit. (Without the
 * header, a count below the previous one means a restart, which misses a
 * restart whose commit wrote more frames than the WAL held before.) */
static int wal_counted(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    checkpointer *c = arg;
    int restarted = wal_restarted(c);
    int added = restarted == 1 || pages < c->wal_last ? pages : pages - c->wal_last;
    c->wal_last = pages;
    __atomic_fetch_add(&c->wal_bytes, (uint64_t)added * (uint64_t)c->frame_bytes, __ATOMIC_RELAXED);
    return SQLITE_OK;
}

void checkpoint_catch_up(checkpointer *c)
{
    if (!c || !__atomic_exchange_n(&c->catch_up, 0, __ATOMIC_ACQ_REL)) return;
    /* BUSY when this thread is copying right now: then the next pass asks
     * again. */
    sqlite3_wal_checkpoint_v2(c->writer, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

uint64_t checkpoint_wal_bytes(const checkpointer *c)
{
    return c ? __atomic_load_n(&c->wal_bytes, __ATOMIC_RELAXED) : 0;
}

/* The page size of the writer's database (4096 unless the file says so). */
static int page_size(sqlite3 *db)
{
    sqlite3_stmt *st;
    int size = 4096;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) size = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return size;
}

checkpointer *checkpoint_start(sqlite3 *writer, const char *path, err_t *err)
{
    checkpointer *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    /* the writer's VFS (engine_open registered it), so that all of the
     * engine's connections reach the files the same way */
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, WALBUF_VFS) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "checkpointer: cannot open %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 1000);
    int page = page_size(writer);
    c->frame_bytes = page + 24;
    c->restart_frames = CHECKPOINT_RESTART_BYTES / page;
    c->catchup_frames = CHECKPOINT_CATCHUP_BYTES / page;
    /* the frames already in the WAL (a PASSIVE checkpoint tells), so that
     * the first commit counts only its own */
    int in_wal = 0;
    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_wal, NULL);
    c->wal_last = in_wal > 0 ? in_wal : 0;
    c->wal_fd = -1;
    c->db_fd = open(path, O_RDONLY | O_CLOEXEC); /* fdatasync needs no write access */
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        err_set(err, ERR_INTERNAL, "checkpointer: cannot start a thread");
        if (c->db_fd >= 0) close(c->db_fd);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    /* Replaces SQLite's auto-checkpoint hook, which the caller turned off. */
    c->writer = writer;
    wal_restarted(c); /* the header as it is now */
    sqlite3_wal_hook(writer, wal_counted, c);
    return c;
}

void checkpoint_stop(checkpointer *c)
{
    if (!c) return;
    sqlite3_wal_hook(c->writer, NULL, NULL);
    if (c->wal_fd >= 0) close(c->wal_fd);
    if (c->db_fd >= 0) close(c->db_fd);
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
