/* slowsend.c: a client that reads slowly, seen from the server, for the
 * sender thread's specs (tests/e2e/sender_spec.lua), LD_PRELOADed into
 * `corder serve`. A writev made by the sender thread (the thread named
 * corder-send, engine/net/sender.c) that a full socket cuts short returns
 * only $CORDER_SLOWSEND_US microseconds later, so the connection's job
 * stays out while the loop runs the next batches: answers released to
 * that connection meanwhile wait behind the job, and the spec sees whether
 * what the socket did not take goes back in front of them. Every other
 * writev is the C library's own, untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    if (!real) real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    if (!real) return -1;
    ssize_t done = real(fd, iov, n);
    const char *us = getenv("CORDER_SLOWSEND_US");
    char name[16] = "";
    if (!us || prctl(PR_GET_NAME, name) != 0 || strcmp(name, "corder-send")) return done;
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    if (done < 0 || (size_t)done < want) usleep((useconds_t)atoi(us)); /* cut short */
    return done;
}
