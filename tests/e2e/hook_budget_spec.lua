-- hook_budget_spec.lua: SPEC L2 against the real server. A policy whose
-- deposit hook calls a library function that loops in C (the two attacks
-- of the review: table.move({}, 1, 3e8, 2), and string.find with many
-- '.-' over a 60-byte name) fails that order.create with policy_error
-- within the 50 ms budget, and a second client's ping, sent at the same
-- time, is answered at once: the event loop is not held for seconds.
local cjson = require "cjson"
local e2e = require "e2e"

local POLICY = [[
-- deposit: the default rule, except that a line of quantity 3 runs
-- table.move over 3e8 slots and one of quantity 4 a backtracking find.
local policy = { parameters = { budget_attacks = true } }

function policy.deposit(order, ctx)
  for _, line in ipairs(order.lines) do
    if line.qty == 3 then
      table.move({}, 1, 3e8, 2)
    elseif line.qty == 4 then
      local name = ("a"):rep(60)
      string.find(name, string.rep("a-", 20) .. "b")
    end
  end
  if order.customer and order.customer.b2b then return 0 end
  return corder.pct(order.deposit.base, ctx.params.default_deposit_pct)
end

return policy
]]

local BOUND = 0.5

-- Pickup lines of P200 (12900 each), paid in full.
local function pickup_order(qty)
  return {customer = "C0001", type = "order",
    lines = {{item = "P200", qty = qty, delivery = {mode = "pickup", store = "S001", date = e2e.date(3)}}},
    payments = {{tender = "cash", amount = 12900 * qty}}}
end

describe("SPEC L2: a hook stalled in a library function", function()
  local srv, dir, cashier

  setup(function()
    dir = e2e.tmpdir()
    local pdir = dir .. "/policies"
    e2e.sh("mkdir -p " .. e2e.q(pdir))
    e2e.write_file(pdir .. "/default.lua", POLICY)
    srv = e2e.server({policies = pdir})
    cashier = srv:connect()
    cashier:login("S001", "1001", "1234")
  end)

  teardown(function()
    if srv then srv:cleanup() end
    e2e.sh("rm -rf " .. e2e.q(dir))
  end)

  -- Sends order.create with a line of quantity qty and, at once, a ping
  -- from another client; returns the error of the order, the seconds the
  -- ping and the order took.
  local function attack(qty)
    local pinger = srv:connect()
    local t0 = e2e.now()
    local id = cashier:send("order.create", pickup_order(qty))
    assert.is_true(pinger:ok("ping").pong)
    local ping_took = e2e.now() - t0
    local r = assert(cashier:recv())
    local took = e2e.now() - t0
    pinger:close()
    assert.are.equal(id, r.id)
    assert.is_false(r.ok, cjson.encode(r))
    return r.error, ping_took, took
  end

  for _, case in ipairs {
    {3, "table.move({}, 1, 3e8, 2)", 8},
    {4, 'string.find(name, string.rep("a-", 20) .. "b") over a 60-byte name', 11},
  } do
    local qty, what, line = case[1], case[2], case[3]
    it(("fails order.create with policy_error for %s; a ping meanwhile is answered at once"):format(what), function()
      local err, ping_took, took = attack(qty)
      assert.are.equal("policy_error", err.code, cjson.encode(err))
      assert.is_truthy(err.message:find("default.lua:" .. line .. ": instruction budget exceeded", 1, true), err.message)
      assert.is_true(ping_took < BOUND, ("ping took %.3f s"):format(ping_took))
      assert.is_true(took < BOUND, ("order.create took %.3f s"):format(took))
    end)
  end

  it("goes on serving the store with the same policy", function()
    local r = cashier:ok("order.preview", pickup_order(1))
    assert.are.equal(1290, r.deposit.required)
    assert.is_nil(srv:stderr():find("AddressSanitizer", 1, true))
  end)
end)
