/* policy_lua.h: the Lua policy host seen from outside it: the table the
 * engine is given (engine_config.policy_impl = &policy_lua), and what only
 * Lua-side tools use (`corder policy check` and replay, the Lua module,
 * tests): loading one file on its own, its file and parameters, the clock
 * of ctx.now. */
#ifndef CORDER_POLICY_LUA_H
#define CORDER_POLICY_LUA_H

#include <jansson.h>

#include "model/policy.h"

extern const policy_impl policy_lua;

/* Loads FILE on its own (for `corder policy check` and replay); NULL on error. */
policy *policy_load_file(const char *file, const policy_limits *lim, err_t *err);
/* The file a version was loaded from; NULL for the built-in default. */
const char *policy_file(const policy *p);
/* The merged parameters as JSON (what ctx.params holds); owned by p. */
json_t *policy_params_json(const policy *p);
/* Pins ctx.now (epoch seconds, handed to hooks as ISO-8601 UTC) for every
 * call; 0 follows the real clock. For tests and replay. Process-wide. */
void policy_set_now(int64_t now);
/* How many hook calls went into Lua in this process: a store whose policy
 * leaves every hook out makes none (tests count them). */
unsigned long long policy_lua_calls(void);

#endif
