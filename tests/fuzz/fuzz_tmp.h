/* fuzz_tmp.h: the fuzzers' scratch database, gone when the fuzzer exits.
 * fuzz_tmp_db makes a directory under /tmp and names a database in it;
 * at exit the database, the -wal and -shm files SQLite makes beside it and
 * the directory are removed: libFuzzer exits without closing the engine,
 * and every run had left the directory with its -wal and -shm behind (a
 * fuzzer may unlink the database itself once the engine has it open). */
#ifndef CORDER_FUZZ_TMP_H
#define CORDER_FUZZ_TMP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_tmp_dir[64];

static void fuzz_tmp_gone(void)
{
    static const char *const files[] = {"f.db", "f.db-wal", "f.db-shm"};
    char p[96];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_tmp_dir, files[i]);
        unlink(p);
    }
    rmdir(fuzz_tmp_dir);
}

/* The database's path in a new directory named after the fuzzer; NULL if
 * the directory cannot be made. */
static const char *fuzz_tmp_db(const char *fuzzer, char *db, size_t n)
{
    snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "/tmp/%s.XXXXXX", fuzzer);
    if (!mkdtemp(fuzz_tmp_dir)) return NULL;
    atexit(fuzz_tmp_gone);
    snprintf(db, n, "%s/f.db", fuzz_tmp_dir);
    return db;
}

#endif
