/* schema.c: compiling an argument schema's text and checking a request's
 * arguments against it (see schema.h for the grammar). */
#include "model/schema.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"

typedef struct sobj sobj;

typedef struct {
    char *name;
    char type; /* s i b o a */
    bool optional;
    char *tag; /* s=value: the only value allowed (and the shape it picks) */
    sobj *obj; /* {..}: the object's keys; [..]: each item's keys */
} snode;

typedef struct {
    snode *f;
    int n;
} sshape;

struct sobj {
    sshape *v; /* one shape, or several told apart by a tag */
    int nv;
};

struct schema {
    sobj *top;
};

/* ---- compiling ---- */

static void obj_free(sobj *o)
{
    if (!o) return;
    for (int i = 0; i < o->nv; i++) {
        for (int j = 0; j < o->v[i].n; j++) {
            free(o->v[i].f[j].name);
            free(o->v[i].f[j].tag);
            obj_free(o->v[i].f[j].obj);
        }
        free(o->v[i].f);
    }
    free(o->v);
    free(o);
}

static char *word(const char **p)
{
    const char *s = *p;
    while (isalnum((unsigned char)**p) || **p == '_')
        (*p)++;
    if (*p == s) return NULL;
    return strndup(s, (size_t)(*p - s));
}

static sobj *parse_obj(const char **p, char close, err_t *err);

static int parse_field(const char **p, snode *f, err_t *err)
{
    const char *at = *p;
    if (!(f->name = word(p)) || **p != ':')
        return err_set(err, ERR_INTERNAL, "schema: a field name and ':' expected at '%.20s'", at);
    (*p)++;
    char t = **p;
    if (t == '{' || t == '[') {
        (*p)++;
        f->type = t == '{' ? 'o' : 'a';
        if (!(f->obj = parse_obj(p, t == '{' ? '}' : ']', err))) return -1;
    } else if (t && strchr("sibao", t)) {
        f->type = t;
        (*p)++;
        if (t == 's' && **p == '=') {
            (*p)++;
            if (!(f->tag = word(p)))
                return err_set(err, ERR_INTERNAL, "schema: a value expected after %s:s=", f->name);
        }
    } else {
        return err_set(err, ERR_INTERNAL, "schema: %s has no type (s i b o a { [)", f->name);
    }
    if (**p == '?') {
        f->optional = true;
        (*p)++;
    }
    return 0;
}

/* The tagged key of a shape, or NULL. */
static const snode *tag_of(const sshape *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->f[i].tag) return &s->f[i];
    return NULL;
}

static sobj *parse_obj(const char **p, char close, err_t *err)
{
    sobj *o = calloc(1, sizeof *o);
    if (!o) goto oom;
    for (;;) {
        sshape *v = realloc(o->v, (size_t)(o->nv + 1) * sizeof *v);
        if (!v) goto oom;
        o->v = v;
        sshape *s = &o->v[o->nv++];
        *s = (sshape){0};
        for (;;) {
            while (**p == ' ')
                (*p)++;
            if (**p == close || **p == '|') break;
            if (!**p) {
                err_set(err, ERR_INTERNAL, "schema: '%c' missing", close ? close : '?');
                goto fail;
            }
            snode *f = realloc(s->f, (size_t)(s->n + 1) * sizeof *f);
            if (!f) goto oom;
            s->f = f;
            s->f[s->n] = (snode){0};
            if (parse_field(p, &s->f[s->n++], err) < 0) goto fail;
        }
        if (**p != '|') break;
        (*p)++;
    }
    if (close) (*p)++;
    /* Several shapes must each be picked by the same tagged key. */
    if (o->nv > 1)
        for (int i = 0; i < o->nv; i++) {
            const snode *t = tag_of(&o->v[i]), *t0 = tag_of(&o->v[0]);
            if (!t || !t0 || strcmp(t->name, t0->name)) {
                err_set(err, ERR_INTERNAL, "schema: shapes separated by | need one name:s=value");
                goto fail;
            }
        }
    return o;
oom:
    err_set(err, ERR_INTERNAL, "out of memory");
fail:
    obj_free(o);
    return NULL;
}

schema *schema_compile(const char *text, err_t *err)
{
    const char *p = text ? text : "";
    schema *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->top = parse_obj(&p, '\0', err);
    if (!s->top) {
        free(s);
        return NULL;
    }
    return s;
}

void schema_free(schema *s)
{
    if (!s) return;
    obj_free(s->top);
    free(s);
}

/* ---- checking ---- */

static const char *type_name(char t)
{
    return t == 's'   ? "a string"
           : t == 'i' ? "an integer"
           : t == 'b' ? "true or false"
           : t == 'o' ? "an object"
                      : "an array";
}

static bool type_ok(char t, json_t *v)
{
    switch (t) {
    case 's':
        return json_is_string(v);
    case 'i':
        return json_is_integer(v);
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    default:
        return json_is_array(v);
    }
}

/* Compares the first byte before calling strcmp: most keys differ there. */
static const snode *find(const sshape *s, const char *k)
{
    for (int i = 0; i < s->n; i++)
        if (s->f[i].name[0] == k[0] && !strcmp(s->f[i].name, k)) return &s->f[i];
    return NULL;
}

/* Where a value is: a key or an index under its parent. The text
 * ("lines[2].delivery.date") is written only for an error message, since
 * every value of every request is checked and almost all pass. */
typedef struct spath {
    const struct spath *up; /* NULL: the arguments themselves */
    const char *key;        /* NULL: an item, at index */
    size_t index;
} spath;

static const char *path_text(const spath *at, char *buf, size_t n)
{
    if (!at) {
        buf[0] = '\0';
        return buf;
    }
    char up[160];
    path_text(at->up, up, sizeof up);
    return at->key ? args_path(buf, n, up, at->key) : args_index(buf, n, up, at->index);
}

/* "<path>: <what>", bad_request, naming the path as the field. */
static int bad(const spath *at, const char *what, err_t *err)
{
    char p[160];
    path_text(at, p, sizeof p);
    return err_field(err, ERR_BAD_REQUEST, p, "%s: %s", p, what);
}

/* "'x' is not ship, pickup or carryout" */
static int bad_tag(const sobj *o, const spath *at, const char *value, err_t *err)
{
    char list[160] = "";
    size_t n = 0;
    for (int i = 0; i < o->nv && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                              i == 0           ? ""
                              : i == o->nv - 1 ? " or "
                                               : ", ",
                              tag_of(&o->v[i])->tag);
    char p[160];
    path_text(at, p, sizeof p);
    return err_field(err, ERR_BAD_REQUEST, p, "%s: '%s' is not %s", p, value, list);
}

static int check_obj(const sobj *o, json_t *obj, const spath *at, err_t *err);

static int check_value(const snode *f, json_t *v, const spath *at, err_t *err)
{
    char what[96];
    if (!type_ok(f->type, v)) {
        snprintf(what, sizeof what, "expected %s", type_name(f->type));
        return bad(at, what, err);
    }
    if (f->tag && strcmp(json_string_value(v), f->tag)) {
        snprintf(what, sizeof what, "must be '%s'", f->tag);
        return bad(at, what, err);
    }
    if (!f->obj) return 0;
    if (f->type == 'o') return check_obj(f->obj, v, at, err);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        spath ip = {at, NULL, i};
        if (!json_is_object(item)) return bad(&ip, "expected an object", err);
        if (check_obj(f->obj, item, &ip, err) < 0) return -1;
    }
    return 0;
}

/* Keys of one object remembered between the passes (more are looked up
 * again); a shape's first SCHEMA_BITS fields are marked present in a bit
 * set (the rest are looked up in the object). */
#define SCHEMA_KEYS_KEPT 64
#define SCHEMA_BITS 64

static int check_obj(const sobj *o, json_t *obj, const spath *at, err_t *err)
{
    const sshape *s = &o->v[0];
    if (o->nv > 1) {
        /* Pick the shape by its tag's value first: which keys are known
         * depends on it (a pickup has a store, a shipment an address). */
        const char *tk = tag_of(s)->name;
        json_t *tv = json_object_get(obj, tk);
        spath tp = {at, tk, 0};
        if (!tv || json_is_null(tv)) return bad(&tp, "required", err);
        if (!json_is_string(tv)) return bad(&tp, "expected a string", err);
        s = NULL;
        for (int i = 0; i < o->nv && !s; i++)
            if (!strcmp(tag_of(&o->v[i])->tag, json_string_value(tv))) s = &o->v[i];
        if (!s) return bad_tag(o, &tp, json_string_value(tv), err);
    }
    /* First every key must be known, then each value checked, then the
     * required fields present: the first error in that order is the one
     * a client sees, whatever else is wrong. */
    const snode *kept[SCHEMA_KEYS_KEPT];
    uint64_t present = 0;
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        const snode *f = find(s, k);
        spath kp = {at, k, 0};
        if (!f) return bad(&kp, "unknown field", err);
        if (nk < SCHEMA_KEYS_KEPT) kept[nk] = f;
        nk++;
        if (f - s->f < SCHEMA_BITS && !json_is_null(v)) present |= 1ULL << (f - s->f);
    }
    nk = 0;
    json_object_foreach(obj, k, v)
    {
        const snode *f = nk < SCHEMA_KEYS_KEPT ? kept[nk] : find(s, k);
        nk++;
        if (json_is_null(v)) continue;
        /* a plain value of the right type goes no further: most of them */
        if (!f->obj && !f->tag && type_ok(f->type, v)) continue;
        spath kp = {at, k, 0};
        if (check_value(f, v, &kp, err) < 0) return -1;
    }
    for (int i = 0; i < s->n; i++) {
        if (s->f[i].optional) continue;
        bool here;
        if (i < SCHEMA_BITS) {
            here = (present >> i) & 1;
        } else {
            json_t *fv = json_object_get(obj, s->f[i].name);
            here = fv && !json_is_null(fv);
        }
        if (!here) {
            spath fp = {at, s->f[i].name, 0};
            return bad(&fp, "required", err);
        }
    }
    return 0;
}

int schema_check(const schema *s, json_t *obj, err_t *err)
{
    if (!json_is_object(obj)) return err_set(err, ERR_BAD_REQUEST, "args: expected an object");
    return check_obj(s->top, obj, NULL, err);
}
