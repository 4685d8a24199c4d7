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
 * WAL frames are synced, whoever copies them later. */
#include "store/checkpoint.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define CHECKPOINT_EVERY_MS 20

struct checkpointer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    sqlite3 *db;
};

static void *checkpoint_main(void *arg)
{
    checkpointer *c = arg;
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
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &done);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

checkpointer *checkpoint_start(const char *path, err_t *err)
{
    checkpointer *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "checkpointer: cannot open %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 1000);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        err_set(err, ERR_INTERNAL, "checkpointer: cannot start a thread");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

void checkpoint_stop(checkpointer *c)
{
    if (!c) return;
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
