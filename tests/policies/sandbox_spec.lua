-- sandbox_spec.lua: what a retailer sees when a policy misbehaves (SPEC L2):
-- each fault fails that one call with policy_error naming file and line,
-- and the policy keeps answering afterwards.
local corder = require "corder"
local F = require "tests.policies.fixtures.orders"

local DIR = "tests/policies/fixtures/"
local order = F.order { lines = { F.line(1, "P1", 1, 1000) } }

describe("the policy sandbox", function()
  it("refuses every way out", function()
    local p = corder.load_policy(DIR .. "escapes.lua")
    local ret = F.ret { lines = { { line = 1, qty = 1, amount = 1 } } }
    assert.error_matches(function() p:deposit(order) end,
      "policy_error: .*escapes%.lua:4: .*'io'")
    assert.error_matches(function() p:shipping_charge(F.shipment {}, order) end,
      "escapes%.lua:5: .*execute")
    assert.error_matches(function() p:cancellation_charge(order) end, "escapes%.lua:6: .*require")
    assert.error_matches(function() p:shipping_refund(ret, order) end, "binary chunk")
    assert.error_matches(function() p:permits(F.manager, "ship") end, "read%-only")
  end)

  it("stops runaway hooks within the budget and keeps working", function()
    local p = corder.load_policy(DIR .. "runaway.lua", { budget_ms = 100, memory = 2 * 2^20 // 1 })
    local t0 = os.clock()
    assert.error_matches(function() p:deposit(order) end, "runaway%.lua:5: instruction budget")
    assert.error_matches(function() p:shipping_charge(F.shipment {}, order) end, "budget")
    assert.is_true(os.clock() - t0 < 2)
    assert.is_true(p:permits(F.manager, "ship"))
    -- the memory cap, with time to reach it even on a loaded machine under
    -- sanitizers (with 100 ms the instruction budget may stop it first)
    local m = corder.load_policy(DIR .. "runaway.lua", { budget_ms = 5000, memory = 2 * 2^20 // 1 })
    assert.error_matches(function() m:cancellation_charge(order) end, "memory limit")
    assert.is_true(m:permits(F.manager, "ship"))
  end)

  it("refuses answers that are not amounts", function()
    local p = corder.load_policy(DIR .. "bad_answers.lua")
    assert.error_matches(function() p:deposit(order) end,
      "bad_answers%.lua:4: deposit returned a float %(12%.5%), expected an integer amount")
    assert.error_matches(function() p:shipping_charge(F.shipment {}, order) end, "returned %-1")
    assert.error_matches(function() p:cancellation_charge(order) end, "a string")
    assert.error_matches(function() p:shipping_refund(F.ret { lines = {} }, order) end, "nil")
    assert.error_matches(function() p:permits(F.manager, "ship") end, "expected true or false")
  end)

  it("names file and line when a policy does not load", function()
    assert.error_matches(function() corder.load_policy(DIR .. "syntax_error.lua") end,
      "policy_error: .*syntax_error%.lua:5:")
    assert.error_matches(function() corder.load_policy(DIR .. "bad_params.lua") end,
      "bad_params%.lua: parameter default_deposit_pct = 12%.345 has more than 2 decimals")
    assert.error_matches(function() corder.load_policy(DIR .. "nosuch.lua") end,
      "nosuch%.lua: No such file")
  end)

  it("hands hooks copies, and ctx with store, today and params", function()
    local p = corder.load_policy("tests/policies/fixtures/spelled_out.lua")
    local o = F.order { lines = { F.line(1, "P1", 1, 1000) } }
    p:deposit(o, { store = "S042", today = "2030-02-03" })
    assert.equal(1000, o.lines[1].unit_price)
  end)
end)
