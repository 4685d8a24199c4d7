/* search.c: the meaning of a search text (see search.h). */
#include "model/search.h"

#include <string.h>

#include "model/text.h"

/* The code point at s (valid UTF-8, as every engine string is) and its
 * length in bytes. */
static unsigned decode(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80) return *len = 1, s[0];
    if (s[0] < 0xE0) return *len = 2, ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    if (s[0] < 0xF0)
        return *len = 3, ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return *len = 4,
           ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

static size_t encode(unsigned cp, char *out)
{
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Simple lower-case mappings of the scripts a European retailer's names
 * are written in. Each maps a capital to a letter of the same UTF-8
 * length, so folding never makes a text longer; SQLite's FTS5 folds the
 * same capitals the same way (it folds more), so the index finds every
 * row this check accepts. */
static unsigned lower(unsigned c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0xC0) return c;
    if (c <= 0xDE) return c == 0xD7 ? c : c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if ((c <= 0x12F || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
            return c + 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1) return c + 1;
        if (c == 0x178) return 0xFF;
        return c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

void search_fold(const char *s, char *out, size_t n)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len;
        unsigned c = lower(decode(p, &len));
        char buf[4];
        size_t k = encode(c, buf);
        if (o + k >= n) break;
        memcpy(out + o, buf, k);
        o += k;
        p += len;
    }
    out[o] = 0;
}

bool search_phone_key(const char *s, char *out, size_t n)
{
    size_t o = 0;
    bool phone_like = true;
    for (; *s; s++) {
        if (strchr(" -.()+/", *s)) continue;
        if (*s < '0' || *s > '9') phone_like = false;
        if (o + 1 < n) out[o++] = *s;
    }
    out[o] = 0;
    return phone_like;
}

/* Appends s to the buffer (size n, used *o), false when it does not fit. */
static bool put(char *buf, size_t n, size_t *o, const char *s, size_t len)
{
    if (*o + len >= n) return false;
    memcpy(buf + *o, s, len);
    *o += len;
    buf[*o] = 0;
    return true;
}

/* Adds the distinct trigrams of s (overlapping: every one, so that the
 * store can pick the rarest) to sq->grams. */
static void trigrams(const char *s, search_query *sq)
{
    size_t starts[SEARCH_Q_MAX * 2 + 2], chars = 0, len;
    for (size_t i = 0; s[i]; i += len) {
        decode((const unsigned char *)s + i, &len);
        starts[chars++] = i;
    }
    starts[chars] = strlen(s);
    for (size_t k = 0; k + 3 <= chars && sq->n_grams < SEARCH_GRAMS_MAX; k++) {
        size_t b = starts[k], l = starts[k + 3] - b;
        char g[13];
        memcpy(g, s + b, l);
        g[l] = 0;
        bool seen = false;
        for (size_t i = s == sq->phone ? sq->n_text : 0; i < sq->n_grams && !seen; i++)
            seen = !strcmp(sq->grams[i], g);
        if (!seen) memcpy(sq->grams[sq->n_grams++], g, l + 1);
    }
}

bool search_match(const search_query *sq, const bool *use, bool with_phone, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    size_t ends[2] = {sq->n_text, with_phone ? sq->n_grams : sq->n_text};
    for (size_t grp = 0, i = 0; grp < 2; grp++) {
        bool first = true;
        for (; i < ends[grp]; i++) {
            if (!use[i]) continue;
            if (first && o > 0 && !put(out, n, &o, ") OR ", 5)) return false;
            if (first && !put(out, n, &o, "(", 1)) return false;
            if (!first && !put(out, n, &o, " AND ", 5)) return false;
            first = false;
            if (!put(out, n, &o, "\"", 1)) return false;
            for (const char *c = sq->grams[i]; *c; c++)
                if (!put(out, n, &o, *c == '"' ? "\"\"" : c, 1 + (*c == '"'))) return false;
            if (!put(out, n, &o, "\"", 1)) return false;
        }
        i = ends[grp];
    }
    return o > 0 && put(out, n, &o, ")", 1);
}

static size_t chars_of(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int search_query_make(const char *q, const char *field, search_query *sq, err_t *err)
{
    memset(sq, 0, sizeof *sq);
    size_t len = strlen(q);
    if (len > SEARCH_Q_MAX)
        return err_field(err, ERR_VALIDATION, field, "%s: longer than %d bytes", field,
                         SEARCH_Q_MAX);
    if (text_blank(q)) return err_field(err, ERR_VALIDATION, field, "%s: must not be empty", field);
    search_fold(q, sq->text, sizeof sq->text);
    if (!search_phone_key(q, sq->phone, sizeof sq->phone) || strlen(sq->phone) < SEARCH_Q_MIN)
        sq->phone[0] = 0;
    bool text_ok = chars_of(sq->text) >= SEARCH_Q_MIN;
    if (!text_ok && !sq->phone[0])
        return err_field(err, ERR_VALIDATION, field,
                         "%s: at least %d characters (or digits of a phone number)", field,
                         SEARCH_Q_MIN);
    if (!text_ok) sq->text[0] = 0;
    if (text_ok) trigrams(sq->text, sq);
    sq->n_text = sq->n_grams;
    if (sq->phone[0]) trigrams(sq->phone, sq);
    return 0;
}

bool search_hit(const search_query *sq, const char *const *texts, size_t n, const char *phone)
{
    char buf[512];
    for (size_t i = 0; sq->text[0] && i < n; i++) {
        if (!texts[i]) continue;
        search_fold(texts[i], buf, sizeof buf);
        if (strstr(buf, sq->text)) return true;
    }
    if (sq->phone[0] && phone) {
        search_phone_key(phone, buf, sizeof buf);
        if (strstr(buf, sq->phone)) return true;
    }
    return false;
}
