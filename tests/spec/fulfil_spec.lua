-- fulfil_spec.lua: SPEC F4 (pick up), F5 (ship), O3 (statuses), O5 (money
-- on account applied to invoices in order), A2 (the ship permission).
local fx = require "fixture"

describe("pick up and ship", function()
  local db, ann, bram, dewi
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995, default_deposit_pct = 10}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
    dewi = assert(db:login("S001", "1004", "4321"))
  end)

  -- ship: P100 49900 (+995 charge) ; pickup here: 2 x P200 12900 ; pickup at S002: P600 8995
  local function make()
    return assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)},
      {item = "P600", qty = 1, delivery = fx.pickup("S002", 30)}}}))
  end

  it("F4: partial pickup: due = selected value - money on account, on account applied first", function()
    local o = make()
    -- deposit 10% of 49900 + 25800 + 8995 + 995 = 85690 -> 8569
    assert.equal(8569, o.on_account)
    local _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}})
    assert.equal("payment_mismatch", err.code)
    assert.equal(12900 - 8569, err.details.due)
    local r = assert(ann:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}, payments = fx.cash(4331)}))
    assert.equal(12900, r.invoice.amount)
    assert.equal(8569, r.invoice.deposit_applied)
    assert.equal(4331, r.invoice.paid)
    assert.equal(0, r.order.on_account)
    assert.equal("partially_invoiced", r.order.lines[2].status)
    assert.equal("partially_invoiced", r.order.status)   -- O3
    assert.is_nil(fx.invariant_error(r.order))
    -- the rest of line 2: nothing on account any more, the full value is due
    _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}})
    assert.equal(12900, err.details.due)
  end)

  it("F4: due is never below zero; money on account covers the pickup and the rest stays", function()
    local o = assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}, payments = fx.cash(20000)}))
    assert.equal(20000, o.on_account)
    local r = assert(ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}}))
    assert.equal(0, r.invoice.paid)
    assert.equal(12900, r.invoice.deposit_applied)
    assert.equal(7100, r.order.on_account)
    local _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}, payments = fx.cash(1)})
    assert.equal("payment_mismatch", err.code)
    assert.equal(12900 - 7100, err.details.due)
  end)

  it("F4: up to the open quantity only, pickup lines only, at their pickup store only", function()
    local o = make()
    local _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 3}}})
    assert.equal("validation", err.code)
    assert.equal("lines[0].qty", err.details.field)
    _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}})
    assert.equal("validation", err.code)        -- a ship line
    _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 3, qty = 1}}})
    assert.equal("validation", err.code)        -- picked up at S002, not here
    _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 9, qty = 1}}})
    assert.equal("not_found", err.code)
    _, err = ann:call("order.pickup", {number = "S001-999999", lines = {{line = 1, qty = 1}}})
    assert.equal("not_found", err.code)
    -- at S002 it works
    local cees = assert(db:login("S002", "1003", "5678"))
    local r = assert(fx.paying(cees, "order.pickup", {number = o.number, lines = {{line = 3, qty = 1}}}))
    assert.equal("invoiced", r.order.lines[3].status)
  end)

  it("F5/A2: shipping needs the ship permission, or an approval", function()
    local o = make()
    local _, err = ann:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}}})
    assert.equal("approval_required", err.code)
    assert.equal("ship", err.details.permission)
    _, err = dewi:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}}})
    assert.equal("approval_required", err.code)  -- role warehouse holds nothing by default
    local r = assert(fx.paying(ann, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
      approval = {staff = "1002", pin = "9999"}, tracking = "3SABC"}))
    assert.equal("3SABC", r.invoice.tracking)
  end)

  it("F5: the first invoice of a shipment carries its shipping charge, once", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P900", qty = 4, delivery = fx.ship("home", 40)}}}))
    assert.equal(1, #o.charges)
    local r = assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}))
    assert.equal(1495 + 995, r.invoice.amount)
    assert.equal(995, r.invoice.charges)
    assert.is_true(r.order.charges[1].invoiced)
    r = assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 3}}}))
    assert.equal(3 * 1495, r.invoice.amount)
    assert.equal(0, r.invoice.charges)
    assert.equal("invoiced", r.order.status)
    assert.equal(0, r.order.balance)
    assert.is_nil(fx.invariant_error(r.order))
  end)

  it("O3: invoiced once every line not cancelled is; ship lines cannot be picked up", function()
    local o = make()
    assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}))
    local r = assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 2}}}))
    assert.equal("partially_invoiced", r.order.status)
    local cees = assert(db:login("S002", "1003", "5678"))
    r = assert(fx.paying(cees, "order.pickup", {number = o.number, lines = {{line = 3, qty = 1}}}))
    assert.equal("invoiced", r.order.status)
    assert.equal(0, r.order.balance)
    local _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}})
    assert.equal("validation", err.code)
  end)

  it("a quote cannot be picked up", function()
    local q = assert(ann:call("order.create", {customer = "C0001", type = "quote", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}}}))
    local _, err = ann:call("order.pickup", {number = q.number, lines = {{line = 1, qty = 1}}})
    assert.equal("invalid_state", err.code)
  end)
end)
