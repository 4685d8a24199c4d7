/* failsync.c: a fault for the durability specs, LD_PRELOADed into
 * `corder serve`: once the file named by $CORDER_FAILSYNC exists, fsync and
 * fdatasync of any file whose name ends in "-wal" fail with EIO, the way a
 * dying disk answers. Everything else goes to the C library's own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failing(int fd)
{
    const char *trigger = getenv("CORDER_FAILSYNC");
    if (!trigger || access(trigger, F_OK) != 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 4) return 0;
    path[n] = '\0';
    return strcmp(path + n - 4, "-wal") == 0;
}

/* EIO when failing, else the C library's own function of that name. */
static int sync_or_fail(int fd, const char *name)
{
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    return real ? real(fd) : -1;
}

int fdatasync(int fd)
{
    return sync_or_fail(fd, "fdatasync");
}

int fsync(int fd)
{
    return sync_or_fail(fd, "fsync");
}
