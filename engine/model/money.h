/* money.h: amounts are int64 minor units (SPEC M1). Every operation is
 * checked (M4) and there is exactly one rounding rule (M2): half away from
 * zero. Percentages travel as basis points (12.5 % = 1250) so that a
 * percentage with two decimals is exact. */
#ifndef CORDER_MONEY_H
#define CORDER_MONEY_H

#include <stdbool.h>
#include <stdint.h>

typedef int64_t money_t;

/* The largest amount accepted from outside: 10^15 minor units. Sums of many
 * such amounts stay far from INT64_MAX, and anything larger is not a price. */
#define MONEY_MAX INT64_C(1000000000000000)

bool money_add(money_t a, money_t b, money_t *out);
bool money_sub(money_t a, money_t b, money_t *out);
bool money_mul(money_t a, int64_t b, money_t *out);
/* a * num / den rounded half away from zero; den > 0. */
bool money_muldiv(money_t a, int64_t num, int64_t den, money_t *out);
/* pct_bp basis points (1/100 of a percent) of a, rounded half away from zero. */
bool money_pct(money_t a, int64_t pct_bp, money_t *out);
/* The tax part of a gross amount at pct_bp (T1): a − a / (1 + pct/100),
 * i.e. a × pct_bp / (10000 + pct_bp), rounded half away from zero. */
bool money_tax_part(money_t a, int64_t pct_bp, money_t *out);
/* Rounds a to the nearest multiple of step (> 0), halves away from zero. */
bool money_round(money_t a, int64_t step, money_t *out);
/* Parses a percentage with up to two decimals ("12.5", "33.33") into basis
 * points; false if malformed or outside [0, 10000 %]. */
bool money_parse_pct(const char *s, int64_t *bp);

#endif
