/* test_text.c: comparing names as a clerk would (SPEC F9: a collector's
 * name is compared with the customer's and the contacts' trimmed and
 * case-insensitive, UTF-8 included), and trimming. */
#include <string.h>

#include "model/text.h"
#include "t.h"

#define SAME(a, b) CHECK(text_same_name(a, b), "'%s' = '%s'", a, b)
#define DIFF(a, b) CHECK(!text_same_name(a, b), "'%s' != '%s'", a, b)

int main(void)
{
    SAME("Karin Smit", "karin smit");
    SAME("  Karin Smit\t", "KARIN SMIT");
    SAME("\xc3\x89mile", "\xc3\xa9mile");   /* Émile = émile */
    SAME("\xc5\x81ukasz", "\xc5\x82ukasz"); /* Łukasz = łukasz */
    SAME("\xc5\xbdofie", "\xc5\xbeofie");   /* Žofie = žofie */
    SAME("\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd", "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd"); /* Иван */
    SAME("\xce\x9d\xce\xaf\xce\xba\xce\xbf\xcf\x82", "\xce\xbd\xce\xaf\xce\xba\xce\xbf\xcf\x82");
    SAME("", "   ");
    DIFF("Karin Smit", "Karin Smits");
    DIFF("Karin", "Karin Smit");
    DIFF("Karin  Smit", "Karin Smit"); /* inner space is part of the name */
    DIFF("\xc3\x89mile", "Emile");     /* accents matter */
    DIFF("caf\xc3", "caf\xc3");        /* invalid UTF-8 never matches */
    DIFF("\xc3\x97", "\xc3\xb7");      /* × is not a capital of ÷ */

    char buf[8];
    CHECK(text_copy_trimmed(buf, sizeof buf, "  ab c \n") && !strcmp(buf, "ab c"), "trimmed: '%s'",
          buf);
    CHECK(!text_copy_trimmed(buf, sizeof buf, " abcdefghij ") && !strcmp(buf, "abcdefg"),
          "cut to fit: '%s'", buf);
    CHECK(text_copy_trimmed(buf, sizeof buf, " \t ") && !strcmp(buf, ""), "blank: '%s'", buf);
    return T_DONE();
}
