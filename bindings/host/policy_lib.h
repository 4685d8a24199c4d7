/* policy_lib.h: the library functions a policy calls that are written in
 * C so that their work counts toward the budget. */
#ifndef CORDER_POLICY_LIB_H
#define CORDER_POLICY_LIB_H

#include <lua.h>

/* policy_bounded.c: replaces, in the tables of an opened sandbox, the
 * library functions that loop in C (its header says which, and why the
 * others are left alone). */
void pbd_install(lua_State *L, int g, int str, int tab, int math, int utf8, int os);
/* policy_match.c: string.find, match, gmatch and gsub into str. */
void psm_install(lua_State *L, int str);

#endif
