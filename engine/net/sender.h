/* sender.h: a thread that writes the loop's answers to plain sockets, so
 * that the loop runs the next batch meanwhile (see sender.c). */
#ifndef CORDER_SENDER_H
#define CORDER_SENDER_H

#include <event2/buffer.h>
#include <event2/event.h>

/* One connection's answers on their way: the loop fills buf and hands the
 * job over; the thread writes what the socket takes at once and hands the
 * job back with the rest (if any) still in buf. A job belongs to one
 * thread at a time, so buf needs no lock. */
typedef struct sender_job {
    struct sender_job *next;
    evutil_socket_t fd;
    struct evbuffer *buf;
} sender_job;

typedef struct sender sender;

/* Called on the loop with the jobs written since the last call, in the
 * order they were handed over (linked by next). */
typedef void (*sender_done_fn)(sender_job *done, void *arg);

/* Starts the thread; NULL if it could not be started. */
sender *sender_new(struct event_base *base, sender_done_fn done, void *arg);

/* Hands over the jobs head..tail (linked by next); from the loop. */
void sender_submit(sender *s, sender_job *head, sender_job *tail);

/* Waits until every job handed over has been written, calls done for
 * those not reported yet on the caller's thread (the loop's, the only one
 * that calls these), then stops the thread and frees s. NULL: nothing. */
void sender_free(sender *s);

#endif
