/* args.c: strict JSON argument getters (see args.h). */
#include "model/args.h"

#include <stdio.h>
#include <string.h>

const char *args_path(char *buf, size_t n, const char *path, const char *key)
{
    if (path && *path)
        snprintf(buf, n, "%s.%s", path, key);
    else
        snprintf(buf, n, "%s", key);
    return buf;
}

const char *args_index(char *buf, size_t n, const char *path, size_t i)
{
    snprintf(buf, n, "%s[%zu]", path, i);
    return buf;
}

int args_only(json_t *obj, const char *path, const char *const *allowed, err_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, k);
        if (!ok) {
            char p[160];
            return err_field(err, ERR_BAD_REQUEST, args_path(p, sizeof p, path, k),
                             "%s: unknown field", p);
        }
    }
    return 0;
}

/* Looks the key up; reports a missing required one. */
static int lookup(json_t *obj, const char *path, const char *key, bool required, json_t **v,
                  char *p, size_t n, err_t *err)
{
    args_path(p, n, path, key);
    *v = json_object_get(obj, key);
    if (!*v || json_is_null(*v)) {
        *v = NULL;
        if (required) return err_field(err, ERR_BAD_REQUEST, p, "%s: required", p);
        return 0;
    }
    return 1;
}

int args_str(json_t *obj, const char *path, const char *key, bool required, size_t maxlen,
             const char **out, err_t *err)
{
    char p[160];
    json_t *v;
    int rc = lookup(obj, path, key, required, &v, p, sizeof p, err);
    if (rc <= 0) return rc;
    if (!json_is_string(v)) return err_field(err, ERR_BAD_REQUEST, p, "%s: expected a string", p);
    size_t len = json_string_length(v);
    if (len > maxlen)
        return err_field(err, ERR_BAD_REQUEST, p, "%s: longer than %zu bytes", p, maxlen);
    if (memchr(json_string_value(v), '\0', len))
        return err_field(err, ERR_BAD_REQUEST, p, "%s: contains a NUL character", p);
    *out = json_string_value(v);
    return 1;
}

int args_int(json_t *obj, const char *path, const char *key, bool required, int64_t min,
             int64_t max, int64_t *out, err_t *err)
{
    char p[160];
    json_t *v;
    int rc = lookup(obj, path, key, required, &v, p, sizeof p, err);
    if (rc <= 0) return rc;
    if (!json_is_integer(v))
        return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an integer", p);
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return err_field(err, ERR_BAD_REQUEST, p, "%s: %lld is outside %lld..%lld", p, (long long)i,
                         (long long)min, (long long)max);
    *out = i;
    return 1;
}

int args_bool(json_t *obj, const char *path, const char *key, bool required, bool *out, err_t *err)
{
    char p[160];
    json_t *v;
    int rc = lookup(obj, path, key, required, &v, p, sizeof p, err);
    if (rc <= 0) return rc;
    if (!json_is_boolean(v))
        return err_field(err, ERR_BAD_REQUEST, p, "%s: expected true or false", p);
    *out = json_is_true(v);
    return 1;
}

int args_obj(json_t *obj, const char *path, const char *key, bool required, json_t **out,
             err_t *err)
{
    char p[160];
    json_t *v;
    int rc = lookup(obj, path, key, required, &v, p, sizeof p, err);
    if (rc <= 0) return rc;
    if (!json_is_object(v)) return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
    *out = v;
    return 1;
}

int args_arr(json_t *obj, const char *path, const char *key, bool required, size_t max_items,
             json_t **out, err_t *err)
{
    char p[160];
    json_t *v;
    int rc = lookup(obj, path, key, required, &v, p, sizeof p, err);
    if (rc <= 0) return rc;
    if (!json_is_array(v)) return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an array", p);
    if (json_array_size(v) > max_items)
        return err_field(err, ERR_BAD_REQUEST, p, "%s: more than %zu items", p, max_items);
    *out = v;
    return 1;
}
