/* money.c: checked integer money arithmetic and the one rounding rule. */
#include "model/money.h"

#include <ctype.h>

bool money_add(money_t a, money_t b, money_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

bool money_sub(money_t a, money_t b, money_t *out)
{
    return !__builtin_sub_overflow(a, b, out);
}

bool money_mul(money_t a, int64_t b, money_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* 128-bit intermediate so that a * num never overflows before the division. */
bool money_muldiv(money_t a, int64_t num, int64_t den, money_t *out)
{
    if (den <= 0) return false;
    __int128 p = (__int128)a * num;
    bool neg = p < 0;
    if (neg) p = -p;
    __int128 q = p / den, r = p % den;
    if (2 * r >= den) q++; /* half away from zero: ties go up in magnitude */
    if (neg) q = -q;
    if (q > INT64_MAX || q < INT64_MIN) return false;
    *out = (money_t)q;
    return true;
}

bool money_pct(money_t a, int64_t pct_bp, money_t *out)
{
    return money_muldiv(a, pct_bp, 10000, out);
}

bool money_tax_part(money_t a, int64_t pct_bp, money_t *out)
{
    if (pct_bp < 0) return false;
    return money_muldiv(a, pct_bp, 10000 + pct_bp, out);
}

bool money_round(money_t a, int64_t step, money_t *out)
{
    if (step <= 0) return false;
    money_t units;
    if (!money_muldiv(a, 1, step, &units)) return false;
    return money_mul(units, step, out);
}

bool money_parse_pct(const char *s, int64_t *bp)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    while (isdigit((unsigned char)*s)) {
        whole = whole * 10 + (*s++ - '0');
        if (++digits > 6) return false;
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            if (++fdigits > 2) return false;
            frac = frac * 10 + (*s++ - '0');
        }
        if (fdigits == 0) return false;
    }
    if (*s != '\0' || digits == 0) return false;
    if (fdigits == 1) frac *= 10;
    *bp = whole * 100 + frac;
    return *bp <= 1000000;
}
