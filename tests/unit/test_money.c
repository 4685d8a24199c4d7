/* test_money.c: SPEC M1-M4: integer minor units, one rounding rule (half
 * away from zero), percentages with two decimals exact, overflow refused. */
#include <stdint.h>

#include "model/money.h"
#include "t.h"

static int64_t pct(int64_t a, int64_t bp)
{
    int64_t out = -999;
    CHECK(money_pct(a, bp, &out), "pct(%lld, %lld) failed", (long long)a, (long long)bp);
    return out;
}

static void test_rounding(void)
{
    /* M2: x.5 goes away from zero, both signs */
    CHECK(pct(5, 1000) == 1, "10%% of 5 = 0.5 -> 1");
    CHECK(pct(15, 1000) == 2, "10%% of 15 = 1.5 -> 2");
    CHECK(pct(25, 1000) == 3, "10%% of 25 = 2.5 -> 3 (not banker's 2)");
    CHECK(pct(-5, 1000) == -1, "-0.5 -> -1");
    CHECK(pct(-25, 1000) == -3, "-2.5 -> -3");
    CHECK(pct(14, 1000) == 1, "1.4 -> 1");
    CHECK(pct(16, 1000) == 2, "1.6 -> 2");
    CHECK(pct(-14, 1000) == -1, "-1.4 -> -1");
    /* two-decimal percentages are exact */
    CHECK(pct(1000, 1250) == 125, "12.5%% of 1000");
    CHECK(pct(4, 1250) == 1, "12.5%% of 4 = 0.5 -> 1");
    CHECK(pct(300, 3333) == 100, "33.33%% of 300 = 99.99 -> 100");
    CHECK(pct(150, 3333) == 50, "33.33%% of 150 = 49.995 -> 50");
    CHECK(pct(75700, 1000) == 7570, "10%% deposit");
    CHECK(pct(75890, 2000) == 15178, "20%% of 75890");
    CHECK(pct(0, 3333) == 0, "of zero");
    CHECK(pct(12345, 10000) == 12345, "100%%");
}

static void test_overflow(void)
{
    int64_t out;
    CHECK(!money_add(INT64_MAX, 1, &out), "M4 add overflow refused");
    CHECK(!money_sub(INT64_MIN, 1, &out), "M4 sub overflow refused");
    CHECK(!money_mul(INT64_MAX / 2, 3, &out), "M4 mul overflow refused");
    CHECK(money_mul(MONEY_MAX, 9, &out) && out == 9 * MONEY_MAX, "large but fine");
    CHECK(!money_pct(INT64_MAX, 20000, &out), "200%% of max overflows");
    CHECK(money_pct(INT64_MAX, 10000, &out) && out == INT64_MAX, "100%% of max is exact");
    CHECK(!money_muldiv(1, 1, 0, &out), "division by zero refused");
}

static void test_round_and_parse(void)
{
    int64_t out, bp;
    CHECK(money_round(1249, 100, &out) && out == 1200, "round down");
    CHECK(money_round(1250, 100, &out) && out == 1300, "round half up");
    CHECK(money_round(-1250, 100, &out) && out == -1300, "negative half away");
    CHECK(!money_round(5, 0, &out), "step 0 refused");
    CHECK(money_parse_pct("12.5", &bp) && bp == 1250, "12.5");
    CHECK(money_parse_pct("33.33", &bp) && bp == 3333, "33.33");
    CHECK(money_parse_pct("10", &bp) && bp == 1000, "10");
    CHECK(!money_parse_pct("1.234", &bp), "three decimals refused");
    CHECK(!money_parse_pct("-5", &bp), "negative refused");
    CHECK(!money_parse_pct("1e3", &bp), "exponent refused");
    CHECK(!money_parse_pct("", &bp), "empty refused");
    CHECK(!money_parse_pct("10001", &bp), "over 10000%% refused");
}

int main(void)
{
    test_rounding();
    test_overflow();
    test_round_and_parse();
    return T_DONE();
}
