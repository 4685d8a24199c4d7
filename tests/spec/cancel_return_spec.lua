-- cancel_return_spec.lua: SPEC F6 (cancel), F7 (return), P3, P5, P6, A2.
local fx = require "fixture"

describe("order.cancel", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995, cancellation_charge_pct = 5}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  local function make(pay)
    return assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}, payments = fx.cash(pay or 20000)}))
  end

  it("F6/P3: refunds the deposit minus the charge (pct of open lines, charges not counted)", function()
    local o = make(20000)
    local r = assert(ann:call("order.cancel", {number = o.number, version = o.version, reason = "changed mind"}))
    -- 5% of 49900 + 25800 = 3785; the 995 shipping charge is no longer owed
    assert.equal(3785, r.cancellation.charge)
    assert.equal("CANCEL", r.cancellation.code)
    assert.equal(20000 - 3785, r.cancellation.refund)
    assert.equal("cancelled", r.order.status)
    assert.equal(3785, r.order.totals.order)
    assert.equal(0, r.order.balance)
    assert.equal(0, r.order.on_account)
    for _, l in ipairs(r.order.lines) do assert.equal("cancelled", l.status) end
    assert.is_nil(fx.invariant_error(r.order))
    local _, err = ann:call("order.cancel", {number = o.number})
    assert.equal("invalid_state", err.code)
  end)

  it("F6: if the money on account does not cover the charge, the customer pays the difference", function()
    local o = assert(ann:call("order.create", {customer = "C0002", lines = {  -- B2B: no deposit
      {item = "P500", qty = 1, delivery = fx.pickup("S001", 30)}}}))
    local _, err = ann:call("order.cancel", {number = o.number})
    assert.equal("payment_mismatch", err.code)
    assert.equal(6495, err.details.due)        -- 5% of 129900
    local r = assert(ann:call("order.cancel", {number = o.number, payments = fx.cash(6495)}))
    assert.equal(0, r.cancellation.refund)
    assert.equal(0, r.order.balance)
  end)

  it("F6/A2: changing the charge needs cancellation_charge_override", function()
    local o = make(20000)
    local _, err = ann:call("order.cancel", {number = o.number, charge_override = {amount = 0}})
    assert.equal("approval_required", err.code)
    assert.equal("cancellation_charge_override", err.details.permission)
    local r = assert(ann:call("order.cancel", {number = o.number,
      charge_override = {amount = 0, approval = {staff = "1002", pin = "9999"}}}))
    assert.equal(0, r.cancellation.charge)
    assert.equal(20000, r.cancellation.refund)
  end)

  it("F6: a stale version is a conflict and changes nothing", function()
    local o = make(20000)
    assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 1}}}))
    local before = fx.snapshot(db)
    local _, err = ann:call("order.cancel", {number = o.number, version = o.version})
    assert.equal("conflict", err.code)
    assert.equal(before, fx.snapshot(db))
  end)

  it("F6: invoiced lines stay invoiced and returnable", function()
    local o = make(20000)
    local p = assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 2}}}))
    -- the pickup used the money on account, so the charge is paid now
    local r = assert(fx.paying(ann, "order.cancel", {number = o.number}))
    assert.equal(2495, r.cancellation.charge)   -- 5% of the open 49900
    assert.equal(0, r.cancellation.refund)
    assert.equal("invoiced", r.order.lines[2].status)
    assert.equal("cancelled", r.order.lines[1].status)
    assert.is_nil(fx.invariant_error(r.order))
    local ret = assert(ann:call("order.return", {number = o.number, invoice = p.invoice.id,
      lines = {{line = 2, qty = 1, reason = "scratched"}}}))
    assert.equal(12900, ret["return"].refund)
    assert.is_nil(fx.invariant_error(ret.order))
  end)

  it("a quote can be cancelled and costs nothing", function()
    local q = assert(ann:call("order.create", {customer = "C0001", type = "quote", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)}}}))
    local r = assert(ann:call("order.cancel", {number = q.number}))
    assert.equal(0, r.cancellation.charge)
    assert.equal("cancelled", r.order.status)
  end)
end)

describe("order.return", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = {default_shipping_charge = 1000, max_shipping_refund_without_approval = 600}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  -- ship 2 x P100 (99800) + P200 (12900) to home: one shipment, charge 1000
  local function shipped()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 2, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P300", qty = 2, delivery = fx.carry()}}}))
    local r = assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 2}, {line = 2, qty = 1}}}))
    return r.order, r.invoice
  end

  it("F7/P5: refund = goods + the shipment's charge in proportion to the value returned", function()
    local o, inv = shipped()
    local r = assert(ann:call("order.return", {number = o.number, invoice = inv.id,
      lines = {{line = 1, qty = 1, reason = "damaged"}}}))
    -- 1000 * 49900 / 112700 = 442.77 -> 443
    assert.equal(49900, r["return"].product_refund)
    assert.equal(443, r["return"].shipping_refund)
    assert.equal(50343, r["return"].refund)
    assert.equal(1, r.order.lines[1].qty_returned)
    assert.equal(0, r.order.balance)
    assert.is_nil(fx.invariant_error(r.order))
  end)

  it("F7: never more than invoiced minus already returned on that invoice; reasons required", function()
    local o, inv = shipped()
    local _, err = ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 1, qty = 3, reason = "x"}}})
    assert.equal("validation", err.code)
    assert(ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 2, qty = 1, reason = "too big"}},
      shipping_refund = 0}))
    _, err = ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 2, qty = 1, reason = "again"}}})
    assert.equal("validation", err.code)
    _, err = ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 1, qty = 1, reason = ""}}})
    assert.equal("validation", err.code)
    _, err = ann:call("order.return", {number = o.number, invoice = 99, lines = {{line = 1, qty = 1, reason = "x"}}})
    assert.equal("not_found", err.code)
    _, err = ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 3, qty = 1, reason = "x"}}})
    assert.equal("not_found", err.code)   -- line 3 is on the carry-out invoice, not this one
  end)

  it("F7: carry-out goods come back from the carry-out invoice, without shipping refund", function()
    local o = shipped()
    local r = assert(ann:call("order.return", {number = o.number, invoice = 1, lines = {{line = 3, qty = 2, reason = "wrong colour"}}}))
    assert.equal(3998, r["return"].product_refund)
    assert.equal(0, r["return"].shipping_refund)
  end)

  it("P6: shipping refunds over the limit, summed over the order's returns, need approval", function()
    local o, inv = shipped()
    -- first return: 443 <= 600, fine
    assert(ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 1, qty = 1, reason = "a"}}}))
    -- second: another 443 makes 886 > 600
    local _, err = ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 1, qty = 1, reason = "b"}}})
    assert.equal("approval_required", err.code)
    assert.equal("shipping_refund_over_limit", err.details.permission)
    local r = assert(ann:call("order.return", {number = o.number, invoice = inv.id, lines = {{line = 1, qty = 1, reason = "b"}},
      approval = {staff = "1002", pin = "9999"}}))
    assert.equal("1002", r["return"].approved_by)
  end)

  it("F7: the clerk may type another amount; an approved refund may exceed what was charged", function()
    local o, inv = shipped()
    local r = assert(bram:call("order.return", {number = o.number, invoice = inv.id,
      lines = {{line = 2, qty = 1, reason = "late"}}, shipping_refund = 5000}))
    assert.equal(5000, r["return"].shipping_refund)
    -- totals go below what was paid and are not clamped; the balance stays right
    assert.equal(112700 + 3998 + 1000 - 12900 - 5000, r.order.totals.order)
    assert.equal(0, r.order.balance)
    assert.is_nil(fx.invariant_error(r.order))
  end)

  it("P5: no shipping refund when refund_shipping_charges is off", function()
    local db2 = fx.open{params = {default_shipping_charge = 1000, refund_shipping_charges = false}}
    local a = assert(db2:login("S001", "1001", "1234"))
    local m = assert(db2:login("S001", "1002", "9999"))
    local o = assert(fx.paying(a, "order.create", {customer = "C0001", lines = {{item = "P100", qty = 1, delivery = fx.ship("home", 40)}}}))
    local s = assert(fx.paying(m, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}))
    local r = assert(a:call("order.return", {number = o.number, invoice = s.invoice.id, lines = {{line = 1, qty = 1, reason = "x"}}}))
    assert.equal(0, r["return"].shipping_refund)
  end)
end)
