-- edit_spec.lua: SPEC F3 (find and edit): added lines continue the
-- numbering, locked prices, invoiced quantities never edited away, the
-- deposit recomputed (P1) and the difference brought, optimistic versions.
local fx = require "fixture"

describe("order.edit", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  local function make()
    return assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}}))
  end

  it("F3/O2: added lines take the next numbers; removed lines are cancelled and keep theirs", function()
    local o = make()
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      remove_lines = {2}, add_lines = {{item = "P400", qty = 1, delivery = fx.pickup("S001", 31)}}}))
    assert.equal(3, #e.lines)
    assert.equal("cancelled", e.lines[2].status)
    assert.equal(3, e.lines[3].line)
    e = assert(fx.paying(ann, "order.edit", {number = o.number, version = e.version,
      add_lines = {{item = "P900", qty = 1, delivery = fx.pickup("S001", 31)}}}))
    assert.equal(4, e.lines[4].line)   -- never reuses 2
    assert.is_nil(fx.invariant_error(e))
  end)

  it("F3: existing lines keep their locked price", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P930", qty = 1, delivery = fx.ship("home", 40)}}}))
    db:query("SELECT 1") -- prices change only through a new seed; re-seed with a new price
    local corder = require "corder"
    local seedfile = fx.tmpdir() .. "/seed.json"
    fx.write(seedfile, '{"products":[{"item":"P930","name":"Mattress 160","price":54900}]}')
    local db2 = assert(corder.open{db = db:query("PRAGMA database_list")[1][3], seed = seedfile,
                                  policies = fx.root .. "/policies"})
    db2:close()
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 1, qty = 2}}}))
    assert.equal(44900, e.lines[1].unit_price)
    assert.equal(89800, e.lines[1].amount)
    e = assert(fx.paying(ann, "order.edit", {number = o.number, version = e.version,
      add_lines = {{item = "P930", qty = 1, delivery = fx.ship("home", 40)}}}))
    assert.equal(54900, e.lines[2].unit_price)  -- a new line takes today's price
  end)

  it("P1/F3: the deposit is recomputed; if money on account no longer covers it the edit brings the difference", function()
    local o = make()
    -- 10% of 49900 + 25800 + 995 = 7670 on account
    assert.equal(7670, o.on_account)
    local _, err = ann:call("order.edit", {number = o.number, version = o.version,
      add_lines = {{item = "P500", qty = 1, delivery = fx.ship("home", 40)}}})
    assert.equal("payment_mismatch", err.code)
    assert.equal(12990, err.details.due)   -- 10% of 129900 more; same shipment, no new charge
    local e = assert(ann:call("order.edit", {number = o.number, version = o.version,
      add_lines = {{item = "P500", qty = 1, delivery = fx.ship("home", 40)}}, payments = fx.cash(12990)}))
    assert.equal(20660, e.deposit.required)
    assert.equal(20660, e.on_account)
  end)

  it("F3: removing lines below what was paid pays the excess back, so the balance stays >= 0", function()
    local o = assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.pickup("S001", 30)},
      {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}}, payments = fx.cash(60000)}))
    local e = assert(ann:call("order.edit", {number = o.number, version = o.version, remove_lines = {1}}))
    assert.equal(12900, e.totals.order)
    assert.equal(60000 - 12900, e.refunded)
    assert.equal(0, e.balance)
    assert.is_nil(fx.invariant_error(e))
  end)

  it("F3: invoiced quantities can never be edited away", function()
    local o = make()
    assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}}))
    o = assert(ann:call("order.get", {number = o.number}))
    local _, err = ann:call("order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 0}}})
    assert.equal("invalid_state", err.code)
    _, err = ann:call("order.edit", {number = o.number, version = o.version, remove_lines = {2}})
    assert.equal("invalid_state", err.code)
    _, err = ann:call("order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, delivery = fx.pickup("S002", 30)}}})
    assert.equal("invalid_state", err.code)
    -- the pickup used the deposit up, so the edit brings the recomputed one
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 1}}}))
    assert.equal("invoiced", e.lines[2].status)
    assert.equal(5090, e.deposit.required)  -- 10% of 49900 + 995 still to deliver
    assert.equal(5090, e.on_account)
  end)

  it("F3: changing a line's delivery re-forms shipments and their charges", function()
    local o = make()
    assert.equal(1, #o.charges)
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, delivery = fx.ship("work", 45)}}}))
    assert.equal(2, #e.charges)
    e = assert(fx.paying(ann, "order.edit", {number = o.number, version = e.version, shipping_charge = 0}))
    assert.equal(0, e.totals.charges)
  end)

  it("F3: two clerks editing at once: one wins, the other gets conflict and loses nothing", function()
    local o = make()
    local a = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 1}}}))
    local before = fx.snapshot(db)
    local _, err = bram:call("order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 3}}, payments = fx.cash(2580)})
    assert.equal("conflict", err.code)
    assert.equal(before, fx.snapshot(db))
    local now = assert(ann:call("order.get", {number = o.number}))
    assert.equal(1, now.lines[2].qty)
    assert.equal(a.version, now.version)
  end)

  it("F3: find by number, customer, status, store and date", function()
    local o = make()
    local r = assert(ann:call("order.find", {customer = "C0001"}))
    assert.truthy(#r.orders >= 1)
    local seen = false
    for _, x in ipairs(r.orders) do seen = seen or x.number == o.number end
    assert.is_true(seen)
    r = assert(ann:call("order.find", {customer = "C0001", status = "open", store = "S001",
      from = fx.date(-1), to = fx.date(1), limit = 500}))
    for _, x in ipairs(r.orders) do assert.equal("open", x.status) end
    r = assert(ann:call("order.find", {customer = "C0003"}))
    assert.equal(0, #r.orders)
    local _, err = ann:call("order.find", {status = "lost"})
    assert.equal("validation", err.code)
  end)
end)
