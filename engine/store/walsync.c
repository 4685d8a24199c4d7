/* walsync.c: fdatasync of the WAL on a thread of its own, for pipelined
 * group commit.
 *
 * Without it, each batch's COMMIT ends in an fdatasync on the loop, and the
 * loop can do nothing else meanwhile: at the bench's rate a quarter of
 * every batch's time is that wait, while new requests pile up unread. With
 * it (engine_pipeline), the COMMIT only writes the frames (walbuf defers
 * its sync) and asks this thread for a sync; the loop goes on to the next
 * batch, and the answers of the committed one are released when the sync
 * that covers them has returned. One sync covers every commit written
 * before it began, so when commits come faster than syncs, each sync takes
 * all that were asked meanwhile: group commit again, one level down.
 *
 * The thread syncs through a descriptor of its own on the -wal file (any
 * descriptor of a file flushes the file). It reopens it when the path names
 * another file than the one it holds (the log removed and made again), and
 * a missing file needs no sync: SQLite removes the log only after copying
 * it all into the database and syncing that.
 *
 * A failed fdatasync is final. After one, the kernel may have dropped the
 * pages it could not write and a second try can succeed with them lost
 * (PostgreSQL's "fsyncgate"): so no ticket is ever durable again, and the
 * server stops instead of acknowledging anything more. */
#include "store/walsync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct walsync {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the thread waits for asks and stop */
    pthread_cond_t done_cv; /* walsync_wait waits for syncs */
    uint64_t asked;         /* the last ticket handed out */
    uint64_t durable;       /* every ticket up to this one is on disk */
    int failed;             /* errno of a failed sync; 0: none */
    bool stop;
    bool in_done; /* the thread is calling done (walsync_set_done waits) */
    uint64_t syncs;
    double seconds;
    walsync_fn done;
    void *arg;
    int fd; /* the -wal file; -1: not open */
    dev_t dev;
    ino_t ino;
    char *path;
};

/* Syncs the file the path names now: 0, or an errno. */
static int sync_file(walsync *w)
{
    struct stat st;
    if (stat(w->path, &st) != 0) return errno == ENOENT ? 0 : errno;
    if (w->fd >= 0 && (st.st_dev != w->dev || st.st_ino != w->ino)) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->fd < 0) {
        w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
        if (w->fd < 0) return errno == ENOENT ? 0 : errno;
        if (fstat(w->fd, &st) != 0) return errno;
        w->dev = st.st_dev;
        w->ino = st.st_ino;
    }
    return fdatasync(w->fd) == 0 ? 0 : errno;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *walsync_main(void *arg)
{
    walsync *w = arg;
    pthread_setname_np(pthread_self(), "corder-walsync"); /* top -H, the bench's CPU split */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && (w->asked == w->durable || w->failed))
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->failed || w->asked == w->durable) break; /* stopping, nothing owed */
        uint64_t target = w->asked;
        pthread_mutex_unlock(&w->mu);
        double t0 = now_s();
        int rc = sync_file(w);
        double secs = now_s() - t0;
        pthread_mutex_lock(&w->mu);
        w->syncs++;
        w->seconds += secs;
        if (rc)
            w->failed = rc;
        else
            w->durable = target;
        walsync_fn done = w->done;
        void *done_arg = w->arg;
        w->in_done = done != NULL;
        pthread_mutex_unlock(&w->mu);
        if (done) done(done_arg); /* before the waiters wake: they may free its arg */
        pthread_mutex_lock(&w->mu);
        w->in_done = false;
        pthread_cond_broadcast(&w->done_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

walsync *walsync_open(const char *wal_path, walsync_fn done, void *arg, err_t *err)
{
    walsync *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(wal_path))) {
        free(w);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->done = done;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    if (pthread_create(&w->thread, NULL, walsync_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->done_cv);
        free(w->path);
        free(w);
        err_set(err, ERR_INTERNAL, "cannot start the WAL sync thread");
        return NULL;
    }
    return w;
}

void walsync_close(walsync *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->fd >= 0) close(w->fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->done_cv);
    free(w->path);
    free(w);
}

void walsync_set_done(walsync *w, walsync_fn done, void *arg)
{
    pthread_mutex_lock(&w->mu);
    while (w->in_done)
        pthread_cond_wait(&w->done_cv, &w->mu);
    w->done = done;
    w->arg = arg;
    pthread_mutex_unlock(&w->mu);
}

uint64_t walsync_ask(walsync *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t t = ++w->asked;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return t;
}

uint64_t walsync_last(walsync *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t t = w->asked;
    pthread_mutex_unlock(&w->mu);
    return t;
}

int walsync_durable(walsync *w, uint64_t ticket)
{
    pthread_mutex_lock(&w->mu);
    int r = w->durable >= ticket ? 1 : w->failed ? -1 : 0;
    pthread_mutex_unlock(&w->mu);
    return r;
}

int walsync_wait(walsync *w, uint64_t ticket, err_t *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->durable < ticket && !w->failed)
        pthread_cond_wait(&w->done_cv, &w->mu);
    int failed = w->durable < ticket ? w->failed : 0;
    pthread_mutex_unlock(&w->mu);
    if (failed) return err_set(err, ERR_INTERNAL, "syncing the WAL failed: %s", strerror(failed));
    return 0;
}

void walsync_counts(walsync *w, uint64_t *syncs, double *seconds)
{
    pthread_mutex_lock(&w->mu);
    *syncs = w->syncs;
    *seconds = w->seconds;
    pthread_mutex_unlock(&w->mu);
}
