/* wal_pages.c: where a store's WAL bytes go, B-tree by B-tree.
 *
 * Reads the frames of the -wal file's current generation (those with the
 * header's salts, up to the last commit frame), then names each frame's
 * page by the B-tree it belongs to (SQLite's dbstat table, read through a
 * read-only connection after the frames, so that pages the frames made
 * are known). A page written twice in one commit would count twice; SQLite
 * writes each dirty page once per commit unless its cache spills, and the
 * tool says how often that happened. `make bench` runs it on the 10,000-
 * order store right after corder's turns (docs/performance.md, "Where the WAL bytes go").
 * Prints one line:
 *   wal_commits=N wal_pages_per_commit=P repeated=R <btree>=<pages per commit> ...
 * B-trees in falling order; pages dbstat does not know (freed since) are
 * "(free)".
 * Usage: wal_pages DB   (DB-wal beside it) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define WAL_HDR 32
#define FRAME_HDR 24

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The whole file, or NULL. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

typedef struct {
    char *name;
    uint64_t frames;
} btree;

static int by_frames(const void *a, const void *b)
{
    const btree *x = a, *y = b;
    return (y->frames > x->frames) - (y->frames < x->frames);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wal_pages DB\n");
        return 2;
    }
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", argv[1]);
    size_t len;
    unsigned char *w = slurp(wal, &len);
    if (!w || len < WAL_HDR) {
        fprintf(stderr, "wal_pages: cannot read %s\n", wal);
        return 1;
    }
    uint32_t psz = be32(w + 8), s1 = be32(w + 16), s2 = be32(w + 20);
    if (psz < 512 || psz > 65536 || (psz & (psz - 1))) {
        fprintf(stderr, "wal_pages: %s: not a WAL header\n", wal);
        return 1;
    }
    /* The frames of this generation up to its last commit. */
    size_t nframes = 0, committed = 0, commits = 0;
    for (size_t off = WAL_HDR; off + FRAME_HDR + psz <= len; off += FRAME_HDR + psz) {
        const unsigned char *h = w + off;
        if (be32(h + 8) != s1 || be32(h + 12) != s2) break;
        nframes++;
        if (be32(h + 4)) { /* the database's size: a commit frame */
            committed = nframes;
            commits++;
        }
    }
    if (commits == 0) {
        printf("wal_commits=0\n");
        return 0;
    }

    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "wal_pages: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT name, pageno FROM dbstat", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "wal_pages: %s (is dbstat built in?)\n", sqlite3_errmsg(db));
        return 1;
    }
    /* page number -> B-tree index (0: unknown) */
    size_t npages = 0;
    uint32_t *owner = NULL;
    btree *trees = calloc(1, sizeof *trees);
    size_t ntrees = 1;
    if (!trees) return 1;
    trees[0].name = strdup("(free)");
    if (!trees[0].name) return 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int64_t pg = sqlite3_column_int64(st, 1);
        if (!name || pg <= 0 || pg > UINT32_MAX) continue;
        size_t t = ntrees - 1;
        if (ntrees == 1 ||
            strcmp(trees[t].name, name) != 0) { /* dbstat lists a tree's pages together */
            btree *nt = realloc(trees, (ntrees + 1) * sizeof *trees);
            if (!nt) return 1;
            trees = nt;
            trees[ntrees] = (btree){strdup(name), 0};
            t = ntrees++;
        }
        if ((size_t)pg >= npages) {
            size_t nn = (size_t)pg * 2;
            uint32_t *no = realloc(owner, nn * sizeof *owner);
            if (!no) return 1;
            memset(no + npages, 0, (nn - npages) * sizeof *no);
            owner = no;
            npages = nn;
        }
        owner[pg] = (uint32_t)t;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* Count, and notice a page written twice in one commit. */
    uint32_t *seen = calloc(npages ? npages : 1, sizeof *seen);
    if (!seen) return 1;
    size_t repeated = 0;
    uint32_t commit_no = 1;
    for (size_t i = 0; i < committed; i++) {
        const unsigned char *h = w + WAL_HDR + i * (FRAME_HDR + psz);
        uint32_t pg = be32(h);
        uint32_t t = pg < npages ? owner[pg] : 0;
        trees[t].frames++;
        if (pg < npages) {
            if (seen[pg] == commit_no) repeated++;
            seen[pg] = commit_no;
        }
        if (be32(h + 4)) commit_no++;
    }
    /* Merge the trees dbstat listed in more than one run. */
    for (size_t a = 1; a < ntrees; a++)
        for (size_t b = a + 1; b < ntrees; b++)
            if (trees[b].name && trees[a].name && !strcmp(trees[a].name, trees[b].name)) {
                trees[a].frames += trees[b].frames;
                trees[b].frames = 0;
            }
    qsort(trees, ntrees, sizeof *trees, by_frames);
    printf("wal_commits=%zu wal_pages_per_commit=%.1f repeated=%zu", commits,
           (double)committed / (double)commits, repeated);
    for (size_t t = 0; t < ntrees; t++)
        if (trees[t].frames)
            printf(" %s=%.2f", trees[t].name, (double)trees[t].frames / (double)commits);
    printf("\n");
    for (size_t t = 0; t < ntrees; t++)
        free(trees[t].name);
    free(trees);
    free(seen);
    free(owner);
    free(w);
    return 0;
}
