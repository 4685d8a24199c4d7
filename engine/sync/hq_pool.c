/* hq_pool.c: an HQ on PostgreSQL runs its uploads on worker threads.
 *
 * WHY. libpq calls block, and the server is one loop: an upload of 500
 * events costs the database a few milliseconds of work (and a commit),
 * during which the loop would serve nobody and the process would do no
 * work of its own (parsing the next batch, hashing events). So hq.upload,
 * the bulk of an HQ's work, is taken off the loop the way a sync-mode
 * create is (sync_gate.c): HQ's gate (hq_gate.c) takes the line, a worker
 * with a connection of its own runs the whole upload (hq_upload_run: one
 * transaction, committed before the answer), and the loop, told through
 * an event, hands the outcome to the op (hq_ops_preset_upload) and
 * releases the line, which answers in order with its connection's other
 * answers. Meanwhile that connection reads no further lines and every
 * other connection is served; uploads of different stores run in
 * parallel, up to HQ_POOL_THREADS at once. The rarer ops (synchronize,
 * status, real-time create) still run on the loop, on its own
 * connection, briefly blocking it (docs/architecture.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "net/server.h"
#include "sync/hq.h"

typedef struct job {
    struct job *next;
    server_wait *w;
    const char *store; /* borrowed from the held request */
    json_t *events;    /* borrowed: the request lives until its release */
    int rc;
    hq_upload_out out;
    err_t err;
} job;

struct hq_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *todo, *todo_tail, *done;
    bool stopping;
    int nthreads;
    pthread_t threads[HQ_POOL_THREADS];
    hq_store *stores[HQ_POOL_THREADS];
    struct event *done_ev;
};

typedef struct {
    hq_pool *p;
    int i;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    pthread_setname_np(pthread_self(), "corder-hq");
    hq_pool *p = wa->p;
    hq_store *h = p->stores[wa->i];
    free(wa);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->todo && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        job *j = p->todo;
        if (!j) break; /* stopping, and nothing left to do */
        p->todo = j->next;
        if (!p->todo) p->todo_tail = NULL;
        pthread_mutex_unlock(&p->mu);
        err_clear(&j->err);
        j->rc = hq_upload_run(h, j->store, j->events, &j->out, &j->err);
        pthread_mutex_lock(&p->mu);
        j->next = p->done;
        p->done = j;
        if (p->done_ev) event_active(p->done_ev, 0, 0);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* On the loop: every finished upload answers. */
static void release_done(hq_pool *p)
{
    pthread_mutex_lock(&p->mu);
    job *j = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->mu);
    while (j) {
        job *next = j->next;
        hq_ops_preset_upload(j->events, j->rc, &j->out, &j->err);
        server_gate_release(j->w);
        free(j);
        j = next;
    }
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    release_done(arg);
}

hq_pool *hq_pool_start(struct event_base *base, const char *url, err_t *err)
{
    hq_pool *p = calloc(1, sizeof *p);
    if (!p) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->done_ev = event_new(base, -1, 0, done_cb, p);
    if (!p->done_ev) {
        err_set(err, ERR_INTERNAL, "cannot create the upload workers' event");
        hq_pool_stop(p);
        return NULL;
    }
    for (int i = 0; i < HQ_POOL_THREADS; i++) {
        if (!(p->stores[i] = hq_store_pg_new(url, err))) {
            hq_pool_stop(p);
            return NULL;
        }
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (*wa = (worker_arg){p, i}, pthread_create(&p->threads[i], NULL, worker, wa))) {
            free(wa);
            err_set(err, ERR_INTERNAL, "cannot start an upload worker");
            hq_pool_stop(p);
            return NULL;
        }
        p->nthreads++;
    }
    return p;
}

void hq_pool_submit(hq_pool *p, server_wait *w, const char *store, json_t *events)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort(); /* as the server does: no way to go on without memory */
    j->w = w;
    j->store = store;
    j->events = events;
    pthread_mutex_lock(&p->mu);
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo = j;
    p->todo_tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Uploads already taken are finished and answered before the workers go. */
void hq_pool_stop(hq_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    release_done(p);
    for (int i = 0; i < HQ_POOL_THREADS; i++)
        if (p->stores[i]) p->stores[i]->vt->free(p->stores[i]);
    if (p->done_ev) event_free(p->done_ev);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
