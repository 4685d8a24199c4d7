/* lapi.h: the Lua-facing pieces of the bindings that the corder Lua module
 * (bindings/lmodule.c) assembles into its table. Each lapi_*_open adds its
 * functions to the table on top of the stack and leaves the stack as it
 * found it. */
#ifndef CORDER_LAPI_H
#define CORDER_LAPI_H

#include <lua.h>

/* load_policy(file [, {memory = bytes, budget_ms = n}]) -> policy object with
 * :deposit :shipping_charge :cancellation_charge :shipping_refund :permits
 * :params :version :name :file :has, all through the real sandboxed host
 * (bindings/lapi_policy.c). */
int lapi_policy_open(lua_State *L);

#endif
