-- hook_floor.lua: what a hook that reads a 5-line order costs in Lua
-- itself, for tests/bench/policy_bench.c to time beside the engine's call.
--
-- The call below builds the order policy_bench's deposit call hands its
-- hook (the same five lines, their deliveries, the shipping charge, the
-- customer, ctx and its params: 17 tables) with Lua's own table
-- constructors, in a plain state with no sandbox, budget, lazy fields or
-- checks, and asks the same rule (tests/policies/fixtures/spelled_out.lua's
-- deposit hook). Only the fields that rule reads are made. It is the
-- nearest thing to a floor under hook_ns: what Lua itself spends making
-- such tables and running the rule, with glibc's allocator, timed the same
-- way in the same run (docs/performance.md, "The floors").
-- Loaded with the project's root as its argument; returns the call.
local root = ...
corder = { -- luacheck: ignore (the global the rule calls, as in the sandbox)
  pct = function(v, p) return (v * p + 50) // 100 end,
}
local deposit = dofile(root .. "/tests/policies/fixtures/spelled_out.lua").deposit
local params = {default_deposit_pct = 10, shipping_charge_code = "SHIP"}
local params_mt = {__index = params} -- ctx.params reads through, as the host's does

-- One constructor a table, the lines' list included (no loop, no resize).
return function()
  local order = {
    customer = {b2b = false},
    lines = {
      {qty = 2, unit_price = 49900, qty_invoiced = 0, qty_cancelled = 0,
       delivery = {mode = "ship"}},
      {qty = 2, unit_price = 49900, qty_invoiced = 0, qty_cancelled = 0,
       delivery = {mode = "pickup"}},
      {qty = 2, unit_price = 49900, qty_invoiced = 2, qty_cancelled = 0,
       delivery = {mode = "carryout"}},
      {qty = 2, unit_price = 49900, qty_invoiced = 0, qty_cancelled = 0,
       delivery = {mode = "ship"}},
      {qty = 2, unit_price = 49900, qty_invoiced = 0, qty_cancelled = 0,
       delivery = {mode = "pickup"}},
    },
    charges = {{code = "SHIP", kind = "shipping", amount = 4500, invoiced = false}},
  }
  local ctx = {store = "S001", today = "2030-01-01", now = 0,
               params = setmetatable({}, params_mt)}
  return deposit(order, ctx)
end
