/* policy_host.c: which version of which policy each store uses right now,
 * and hot reload (SPEC L3).
 *
 * stores --bind--> slots (one per policy name) --cur--> policy version
 *
 * Several stores naming the same policy share its slot, hence its version.
 * A slot holds one reference to its current version; every request holds
 * another for its whole duration (policy_acquire/policy_release). A reload
 * compiles the file into a fresh version and swaps the slot's pointer only
 * if that load succeeded; the old version is freed when its last reference
 * goes, so requests in flight finish on the rules they started with.
 *
 * Change detection is stat (mtime in ns, size) first, then SHA-256: a touch
 * or an editor's rewrite of the same bytes does not bump the version. As in
 * git's "racy" check, a file whose mtime is within RACY_NS of the moment it
 * was read is hashed again at the next poll too: the file system's clock is
 * coarse, and a second same-size write in the same tick leaves stat
 * unchanged. A
 * broken file leaves the old version in force, its error (file:line) kept
 * for policy.info and printed once to stderr; it is not retried until the
 * file changes again.
 *
 * "default" with no default.lua in the directory is the engine's built-in
 * rules (version "builtin", no Lua at all); a default.lua that appears later
 * is picked up by the next poll like any change.
 *
 * Single-threaded by design: the event loop owns the host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "host/policy_int.h"

#define RACY_NS INT64_C(2000000000)

typedef struct {
    char *name;
    char *path; /* dir/NAME.lua; NULL when there is no directory */
    policy *cur;
    int64_t mtime_ns;
    int64_t size;
    bool racy; /* mtime too close to the read: hash again next poll */
    char last_error[512];
} slot;

typedef struct {
    char *store;
    int slot;
} binding;

struct policy_host {
    policy_base base; /* first: the engine dispatches on it */
    char *dir;
    policy_limits lim;
    slot *slots;
    int nslots;
    binding *binds;
    int nbinds;
};

policy_host *lh_host_new(const char *dir, const policy_limits *lim, err_t *err)
{
    policy_host *h = calloc(1, sizeof *h);
    if (!h || (dir && !(h->dir = strdup(dir)))) {
        free(h);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (lim) h->lim = *lim;
    h->base.impl = &policy_lua;
    return h;
}

void lh_host_free(policy_host *h)
{
    if (!h) return;
    for (int i = 0; i < h->nslots; i++) {
        lh_release(h->slots[i].cur);
        free(h->slots[i].name);
        free(h->slots[i].path);
    }
    for (int i = 0; i < h->nbinds; i++)
        free(h->binds[i].store);
    free(h->slots);
    free(h->binds);
    free(h->dir);
    free(h);
}

const char *lh_host_dir(const policy_host *h)
{
    return h->dir;
}

/* Names become file names: no slashes, no dots up front, nothing odd. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.') return false;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", *s))
            return false;
    return true;
}

static int file_stat(const char *path, int64_t *mtime_ns, int64_t *size)
{
    struct stat st;
    if (!path || stat(path, &st) < 0) return -1;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    *size = (int64_t)st.st_size;
    return 0;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void slot_swap(slot *s, policy *p)
{
    lh_release(s->cur);
    s->cur = p;
    s->last_error[0] = '\0';
}

/* Loads s->path if it differs from the current version: 1 swapped, 0 same,
 * -1 failed (old version kept, error recorded and printed once). */
static int slot_refresh(policy_host *h, slot *s, err_t *err)
{
    int64_t mt, sz;
    if (file_stat(s->path, &mt, &sz) < 0) {
        if (!s->cur->file) return 0; /* built in, and still no file */
        err_set(err, ERR_POLICY_ERROR, "%s: %s", s->path, strerror(errno));
    } else {
        s->mtime_ns = mt;
        s->size = sz;
        s->racy = real_ns() - mt < RACY_NS;
        size_t len;
        char *src = pld_read_file(s->path, &len, err);
        if (src) {
            char sha[65];
            pld_sha256_hex(src, len, sha);
            policy *p = NULL;
            if (strcmp(sha, s->cur->version) != 0)
                p = pld_load(s->name, s->path, src, len, &h->lim, err);
            else
                s->last_error[0] = '\0';
            free(src);
            if (!strcmp(sha, s->cur->version)) return 0;
            if (p) {
                slot_swap(s, p);
                fprintf(stderr, "corder: policy %s reloaded from %s, version %.12s\n", s->name,
                        s->path, p->version);
                return 1;
            }
        }
    }
    if (strcmp(s->last_error, err->message) != 0)
        fprintf(stderr, "corder: policy %s not reloaded, version %.12s stays: %s\n", s->name,
                s->cur->version, err->message);
    snprintf(s->last_error, sizeof s->last_error, "%s", err->message);
    return -1;
}

static int slot_find(policy_host *h, const char *name)
{
    for (int i = 0; i < h->nslots; i++)
        if (!strcmp(h->slots[i].name, name)) return i;
    return -1;
}

static int slot_open(policy_host *h, const char *store, const char *name, err_t *err)
{
    int i = slot_find(h, name);
    if (i >= 0) return i;
    slot s = {0};
    char path[4096];
    if (h->dir) snprintf(path, sizeof path, "%s/%s.lua", h->dir, name);
    int exists = h->dir && file_stat(path, &s.mtime_ns, &s.size) == 0;
    if (exists) {
        s.racy = real_ns() - s.mtime_ns < RACY_NS;
        s.cur = policy_load_file(path, &h->lim, err);
        if (!s.cur) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            return err_set(err, ERR_POLICY_ERROR, "store %s: policy %s: %s", store, name, msg);
        }
        free(s.cur->name);
        s.cur->name = strdup(name);
    } else if (!strcmp(name, "default")) {
        s.cur = pld_builtin(&h->lim);
    } else {
        return err_set(err, ERR_POLICY_ERROR, "store %s: policy %s: no file %s", store, name,
                       h->dir ? path : "(no policies directory)");
    }
    s.name = strdup(name);
    s.path = h->dir ? strdup(path) : NULL;
    slot *ns = realloc(h->slots, (size_t)(h->nslots + 1) * sizeof *ns);
    if (!s.cur || !s.cur->name || !s.name || (h->dir && !s.path) || !ns) {
        if (ns) h->slots = ns;
        lh_release(s.cur);
        free(s.name);
        free(s.path);
        return err_set(err, ERR_INTERNAL, "out of memory");
    }
    h->slots = ns;
    h->slots[h->nslots] = s;
    return h->nslots++;
}

static binding *bind_find(policy_host *h, const char *store)
{
    for (int i = 0; i < h->nbinds; i++)
        if (!strcmp(h->binds[i].store, store)) return &h->binds[i];
    return NULL;
}

int lh_bind(policy_host *h, const char *store, const char *name, err_t *err)
{
    if (!name || !valid_name(name))
        return err_set(err, ERR_POLICY_ERROR, "store %s: invalid policy name '%s'", store,
                       name ? name : "(null)");
    int i = slot_open(h, store, name, err);
    if (i < 0) return -1;
    binding *b = bind_find(h, store);
    if (b) {
        b->slot = i;
        return 0;
    }
    binding *nb = realloc(h->binds, (size_t)(h->nbinds + 1) * sizeof *nb);
    if (!nb) return err_set(err, ERR_INTERNAL, "out of memory");
    h->binds = nb;
    if (!(nb[h->nbinds].store = strdup(store))) return err_set(err, ERR_INTERNAL, "out of memory");
    nb[h->nbinds++].slot = i;
    return 0;
}

int lh_poll(policy_host *h)
{
    int changed = 0;
    for (int i = 0; i < h->nslots; i++) {
        slot *s = &h->slots[i];
        int64_t mt, sz;
        if (!s->path) continue;
        int st = file_stat(s->path, &mt, &sz);
        if (st == 0 && mt == s->mtime_ns && sz == s->size && !s->racy &&
            (s->cur->file || s->last_error[0]))
            continue;
        if (st < 0 && (!s->cur->file || s->last_error[0])) continue;
        err_t e;
        err_clear(&e);
        if (slot_refresh(h, s, &e) > 0) changed++;
    }
    return changed;
}

static slot *store_slot(policy_host *h, const char *store, err_t *err)
{
    binding *b = bind_find(h, store);
    if (!b) {
        err_set(err, ERR_NOT_FOUND, "store %s has no policy", store);
        return NULL;
    }
    return &h->slots[b->slot];
}

int lh_reload(policy_host *h, const char *store, err_t *err)
{
    if (store) {
        slot *s = store_slot(h, store, err);
        if (!s) return -1;
        return s->path ? slot_refresh(h, s, err) : 0;
    }
    int changed = 0, failed = 0;
    for (int i = 0; i < h->nslots; i++) {
        err_t e;
        err_clear(&e);
        int rc = h->slots[i].path ? slot_refresh(h, &h->slots[i], &e) : 0;
        if (rc < 0 && !failed++) *err = e;
        if (rc > 0) changed++;
    }
    return failed ? -1 : changed;
}

json_t *lh_info(policy_host *h, const char *store, err_t *err)
{
    slot *s = store_slot(h, store, err);
    if (!s) return NULL;
    policy *p = s->cur;
    json_t *o = json_pack("{s:s, s:s?, s:s, s:s, s:O}", "name", s->name, "file", p->file, "version",
                          p->version, "loaded_at", p->loaded_at, "parameters", p->params_json);
    if (!o) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (s->last_error[0]) json_object_set_new(o, "last_error", json_string(s->last_error));
    return o;
}

policy *lh_acquire(policy_host *h, const char *store, err_t *err)
{
    slot *s = store_slot(h, store, err);
    if (!s) return NULL;
    s->cur->refs++;
    return s->cur;
}

/* The Lua host, as the engine sees it (model/policy.h). */
const policy_impl policy_lua = {
    .name = "lua",
    .host_new = lh_host_new,
    .host_free = lh_host_free,
    .host_dir = lh_host_dir,
    .bind = lh_bind,
    .poll = lh_poll,
    .reload = lh_reload,
    .info = lh_info,
    .acquire = lh_acquire,
    .release = lh_release,
    .params = lh_params,
    .version = lh_version,
    .name_of = lh_name,
    .has_hook = lh_has_hook,
    .call_amount = lh_call_amount,
    .call_permits = lh_call_permits,
};
