-- clock_spec.lua: one clock (SPEC L1, F8). A hook's ctx.now and ctx.today
-- come from the same clock as the flow's own timestamps, a pinned test
-- clock included: a policy that decides by the hour decides by the hour
-- the order says it was made.
local fx = require "tests.lib.fixture"

describe("one clock for the flow and its policy", function()
  local db, ann
  setup(function()
    -- the deposit is the hour of ctx.now in cents: the hook shows its clock
    db = fx.open({policy = [[
      return {deposit = function(order, ctx) return tonumber(ctx.now:sub(12, 13)) end}
    ]]})
    ann = assert(db:login("S001", "1001", "1234"))
  end)
  after_each(function() db:set_now(0) end)

  it("hands the hook the flow's pinned time", function()
    -- 2030-06-15 07:00 UTC, a time the real clock is not at
    local pinned = os.time({year = 2030, month = 6, day = 15, hour = 7, min = 0, sec = 0, isdst = false})
    pinned = pinned + (os.time() - os.time(os.date("!*t")))  -- os.time reads local time: to UTC
    db:set_now(pinned)
    local order = {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = {mode = "pickup", store = "S001", date = "2030-07-01"}}}}
    local _, err = ann:call("order.create", order)
    assert.equal("payment_mismatch", err.code)
    assert.equal(7, err.details.due)          -- the hook saw 07 o'clock
    order.payments = fx.cash(7)
    local o = assert(ann:call("order.create", order))
    assert.equal("2030-06-15T07:00:00Z", o.created_at)
    assert.equal(7, o.deposit.required)
  end)
end)
