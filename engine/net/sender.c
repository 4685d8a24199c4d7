/* sender.c: the thread that writes answers to plain sockets.
 *
 * At 1,000 connections with one request in flight each, every answer is a
 * writev of its own on its own socket, and on this kind of machine (a
 * virtual one, where a system call costs several microseconds and a
 * loopback send runs the receiver's TCP stack in the sender's time) those
 * writes took a fifth of the loop's time (perf, docs/performance.md),
 * while a third of the second core sat idle. The loop is the one thread
 * that parses, decides and commits, so its time is the server's rate.
 * Here a second thread does the writes: after a batch is released the
 * loop moves each connection's answers into that connection's job (an
 * evbuffer; moving its chains copies nothing) and hands the batch's jobs
 * over at once; the thread writes each with one writev, as the loop did,
 * and hands them back through an event, on which the loop puts back what
 * a full socket did not take in front of the answers released meanwhile
 * and leaves it to the bufferevent (server.c, sent_cb).
 *
 * Only the loop and this thread touch a job, one at a time: the mutex
 * passes it over, so the evbuffers need no locks of their own. */
#include "net/sender.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct sender {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* jobs to write, or quit */
    pthread_cond_t idle; /* the thread has nothing in hand (sender_finish) */
    sender_job *todo, *todo_tail, *done, *done_tail;
    bool busy; /* the thread holds jobs taken from todo */
    bool quit;
    struct event *done_ev; /* made active by the thread: jobs to hand back */
    sender_done_fn fn;
    void *arg;
};

/* One writev of everything the job holds (evbuffer_write gathers up to
 * 128 chains), as the loop's own flush did. Whatever it did not write (a
 * full socket, or a failed write) stays in buf: the loop gives it to the
 * bufferevent, which waits for the socket, or meets the error again and
 * closes the connection. */
static void write_job(sender_job *j)
{
    evbuffer_write(j->buf, j->fd);
}

static void *sender_main(void *arg)
{
    sender *s = arg;
    pthread_setname_np(pthread_self(), "corder-send"); /* top -H, the bench's CPU split */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->todo && !s->quit)
            pthread_cond_wait(&s->work, &s->mu);
        if (!s->todo) break; /* quit, and nothing left */
        sender_job *head = s->todo, *tail = s->todo_tail;
        s->todo = s->todo_tail = NULL;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);
        for (sender_job *j = head; j; j = j->next)
            write_job(j);
        pthread_mutex_lock(&s->mu);
        if (s->done_tail)
            s->done_tail->next = head;
        else
            s->done = head;
        s->done_tail = tail;
        s->busy = false;
        pthread_cond_broadcast(&s->idle);
        event_active(s->done_ev, 0, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The jobs written and not yet reported, taken. */
static sender_job *take_done(sender *s)
{
    pthread_mutex_lock(&s->mu);
    sender_job *d = s->done;
    s->done = s->done_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return d;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sender *s = arg;
    sender_job *d = take_done(s);
    if (d) s->fn(d, s->arg);
}

/* Frees what sender_new made, the thread stopped or never started. */
static void sender_destroy(sender *s)
{
    if (s->done_ev) event_free(s->done_ev);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    free(s);
}

sender *sender_new(struct event_base *base, sender_done_fn done, void *arg)
{
    sender *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fn = done;
    s->arg = arg;
    s->done_ev = event_new(base, -1, 0, done_cb, s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (!s->done_ev || pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        sender_destroy(s);
        return NULL;
    }
    return s;
}

void sender_submit(sender *s, sender_job *head, sender_job *tail)
{
    if (!head) return;
    tail->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->todo_tail)
        s->todo_tail->next = head;
    else
        s->todo = head;
    s->todo_tail = tail;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

/* Every job handed over written, and reported to done. */
static void sender_finish(sender *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->todo || s->busy)
        pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    sender_job *d = take_done(s);
    if (d) s->fn(d, s->arg);
}

void sender_free(sender *s)
{
    if (!s) return;
    sender_finish(s);
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    sender_destroy(s);
}
