-- text_spec.lua: no input may produce an order document the engine cannot
-- read back (README "Limits of an order").
--
-- The bug: a 128-byte customer name with a multi-byte character at the end
-- was cut inside the character when copied into the order, and the order
-- then answered `internal` to order.get and order.find. The rule: every
-- text that enters an order either fits its field whole or is refused
-- (bad_request, naming the field); nothing is cut. Here every such text is
-- put in exactly at its limit with a 2-, 3- and 4-byte character at the end,
-- and one byte over, where the character straddles the limit.
local fx = require "fixture"
local cjson = require "cjson"

local CHARS = {["2-byte"] = "\xC3\xA9", ["3-byte"] = "\xE2\x82\xAC", ["4-byte"] = "\xF0\x9F\x98\x80"}

-- n bytes exactly, ending with ch.
local function fit(n, ch, fill) return (fill or "a"):rep(n - #ch) .. ch end

local function doc(db, number)
  return cjson.decode(db:query("SELECT doc FROM orders WHERE number = ?", number)[1][1])
end

-- order.get, order.find (by customer) and order.history all answer ok, and
-- the document and the upload events decode.
local function reads_back(db, s, o)
  local g = assert(s:call("order.get", {number = o.number}))
  local found = false
  local f = assert(s:call("order.find", {customer = g.customer, store = g.store}))
  for _, x in ipairs(f.orders) do found = found or x.number == o.number end
  assert.is_true(found)
  assert(s:call("order.history", {number = o.number}))
  for _, r in ipairs(db:query("SELECT payload FROM outbox_events WHERE order_number = ?", o.number)) do
    assert.equal(o.number, cjson.decode(r[1]).number)
  end
  return g, doc(db, o.number)
end

local function refused(s, op, args, field)
  local r, err = s:call(op, args)
  assert.is_nil(r)
  assert.equal("bad_request", err.code)
  assert.equal(field, err.details.field)
end

describe("text in an order", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  for label, ch in pairs(CHARS) do
    it("the reported bug: a customer name of 127 bytes ending in a " .. label .. " character, an address id of 63, a method of 63: orders read back whole", function()
      local name, addr, method = fit(127, ch), fit(63, ch), fit(63, ch, "m")
      local c = assert(ann:call("customer.create", {name = name, addresses = {{id = addr, street = "Damrak 1"}}}))
      assert.equal(name, assert(ann:call("customer.get", {account = c.account})).name)
      local o = assert(fx.paying(ann, "order.create", {customer = c.account, lines = {
        {item = "P100", qty = 1, delivery = {mode = "ship", address = addr, date = fx.date(40), method = method}},
        {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}}}))
      local g, d = reads_back(db, ann, o)
      assert.equal(name, d.customer.name)
      assert.equal(addr, g.lines[1].delivery.address)
      assert.equal(method, g.lines[1].delivery.method)
      assert.equal(addr, g.charges[1].shipment.address)
      -- the same texts through an edit's new delivery
      local method2 = fit(63, ch, "n")
      local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = g.version,
        update_lines = {{line = 1, delivery = {mode = "ship", address = addr, date = fx.date(41), method = method2}}}}))
      assert.equal(method2, e.lines[1].delivery.method)
      g = reads_back(db, ann, o)
      assert.equal(method2, g.lines[1].delivery.method)
      local h = assert(ann:call("order.history", {number = o.number}))
      assert.equal(method, h.events[1].request.lines[1].delivery.method)
    end)

    it("one byte over, with the " .. label .. " character across the limit: refused, nothing cut", function()
      refused(ann, "customer.create", {name = fit(128, ch)}, "name")
      refused(ann, "customer.create", {name = "x", addresses = {{id = fit(64, ch)}}}, "addresses[0].id")
      refused(ann, "customer.add_address", {account = "C0001", address = {id = fit(64, ch)}}, "address.id")
      local line = {item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = fx.date(40), method = fit(64, ch)}}
      refused(ann, "order.create", {customer = "C0001", lines = {line}}, "lines[0].delivery.method")
      line.delivery.method, line.delivery.address = nil, fit(64, ch)
      refused(ann, "order.create", {customer = "C0001", lines = {line}}, "lines[0].delivery.address")
      line.delivery = {mode = "pickup", store = fit(32, ch), date = fx.date(30)}
      refused(ann, "order.preview", {customer = "C0001", lines = {line}}, "lines[0].delivery.store")
      line.item, line.delivery = fit(64, ch), fx.pickup("S001", 30)
      refused(ann, "order.create", {customer = "C0001", lines = {line}}, "lines[0].item")
      line.item = "P100"
      refused(ann, "order.create", {customer = fit(64, ch), lines = {line}}, "customer")
      refused(ann, "order.edit", {number = "S001-000001", version = 1,
        add_lines = {{item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = fx.date(40), method = fit(64, ch)}}}},
        "add_lines[0].delivery.method")
    end)

    it("payments' tender (31 bytes) and ref (63), a shipment's tracking (63), a return's reason (127), a cancel's reason (255) ending in a " .. label .. " character read back whole; one byte more is refused", function()
      local tender, ref = fit(31, ch, "t"), fit(63, ch, "r")
      local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
        {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
        {item = "P200", qty = 2, delivery = fx.ship("work", 40)}}}))
      refused(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
        payments = {{tender = fit(32, ch), amount = 1}}}, "payments[0].tender")
      refused(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
        payments = {{tender = "card", ref = fit(64, ch), amount = 1}}}, "payments[0].ref")
      refused(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
        tracking = fit(64, ch)}, "tracking")
      local sh, err = bram:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
        tracking = fit(63, ch, "k")})
      assert.equal("payment_mismatch", err.code)
      sh = assert(bram:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
        tracking = fit(63, ch, "k"), payments = {{tender = tender, ref = ref, amount = err.details.due}}}))
      local g, d = reads_back(db, ann, o)
      assert.equal(fit(63, ch, "k"), g.invoices[1].tracking)
      assert.equal(tender, g.payments[#g.payments].tender)
      assert.equal(ref, g.payments[#g.payments].ref)
      assert.equal(ref, d.payments[#d.payments].ref)
      refused(bram, "order.return", {number = o.number, invoice = sh.invoice.id,
        lines = {{line = 1, qty = 1, reason = fit(128, ch)}}}, "lines[0].reason")
      local reason = fit(127, ch, "z")
      assert(bram:call("order.return", {number = o.number, invoice = sh.invoice.id,
        lines = {{line = 1, qty = 1, reason = reason}}}))
      g, d = reads_back(db, ann, o)
      assert.equal(reason, g.returns[1].lines[1].reason)
      assert.equal(reason, d.returns[1].lines[1].reason)
      refused(ann, "order.cancel", {number = o.number, reason = fit(256, ch)}, "reason")
      local why = fit(255, ch, "w")
      local c = assert(fx.paying(ann, "order.cancel", {number = o.number, reason = why}))
      assert.equal(why, c.cancellation.reason)
      reads_back(db, ann, o)
      local h = assert(ann:call("order.history", {number = o.number}))
      local last = h.events[#h.events]
      assert.equal("order.cancel", last.op)
      assert.equal(why, last.request.reason)
      assert.equal(why, last.result.detail.reason)
    end)
  end

  it("master data at its limits (store and staff ids 31 bytes, an account 32, a product's item 63 and name 127) ending in multi-byte characters: orders made with it read back whole", function()
    local store, staff = fit(31, CHARS["4-byte"], "S"), fit(31, CHARS["3-byte"], "1")
    local account, item = fit(32, CHARS["4-byte"], "C"), fit(63, CHARS["4-byte"], "P")
    local pname, sname = fit(127, CHARS["2-byte"], "N"), fit(127, CHARS["3-byte"], "M")
    local cname, addr = fit(127, CHARS["4-byte"], "K"), fit(63, CHARS["3-byte"], "h")
    local mdb = fx.open{params = {default_shipping_charge = 995, shipping_charge_code = fit(31, CHARS["4-byte"], "X")},
      seed = function(t)
        t.stores[#t.stores + 1] = {id = store, name = sname, currency = "EUR",
          timezone = "Europe/Amsterdam", order_creation = "async", policy = "default"}
        t.staff[#t.staff + 1] = {id = staff, name = fit(127, CHARS["2-byte"]), pin = "2468",
          role = "manager", stores = {store, "S001"}}
        t.products[#t.products + 1] = {item = item, name = pname, price = 1000}
        t.customers[#t.customers + 1] = {account = account, name = cname,
          addresses = {{id = addr, street = "x"}}}
      end}
    local s = assert(mdb:login(store, staff, "2468"))
    local o = assert(fx.paying(s, "order.create", {customer = account, lines = {
      {item = item, qty = 1, delivery = {mode = "pickup", store = store, date = fx.date(30)}},
      {item = item, qty = 1, delivery = fx.ship(addr, 40)}}}))
    assert.equal(store .. "-000001", o.number)
    local g, d = reads_back(mdb, s, o)
    assert.equal(account, g.customer)
    assert.equal(cname, d.customer.name)
    assert.equal(item, g.lines[1].item)
    assert.equal(pname, g.lines[1].name)
    assert.equal(store, g.lines[1].delivery.store)
    assert.equal(staff, g.created_by)
    assert.equal(fit(31, CHARS["4-byte"], "X"), g.charges[1].code)
    assert(fx.paying(s, "order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}}))
    -- an approval by that staff, recorded in the order (override_by)
    local cashier = assert(mdb:login("S001", "1001", "1234"))
    local q = assert(fx.paying(cashier, "order.create", {customer = account, lines = {
      {item = item, qty = 1, delivery = fx.ship(addr, 40)}},
      deposit_override = {amount = 0, approval = {staff = staff, pin = "2468"}}}))
    g = reads_back(mdb, cashier, q)
    assert.equal(staff, g.deposit.override_by)
    mdb:close()
  end)

  it("master data one byte over its limit, or a policy's charge code that is not UTF-8, is refused when loaded", function()
    local over = {
      function(t) t.products[1].name = fit(128, CHARS["2-byte"]) end,
      function(t) t.products[1].item = fit(64, CHARS["3-byte"]) end,
      function(t) t.customers[1].name = fit(128, CHARS["4-byte"]) end,
      function(t) t.customers[1].account = fit(33, CHARS["4-byte"]) end,
      function(t) t.customers[1].addresses[1].id = fit(64, CHARS["2-byte"]) end,
      function(t) t.stores[1].id = fit(32, CHARS["3-byte"]) end,
    }
    for i, change in ipairs(over) do
      local ok = pcall(fx.open, {seed = change})
      assert.is_false(ok, "seed change " .. i)
    end
    assert.is_false((pcall(fx.open, {params = {shipping_charge_code = "SH\xff"}})))
    assert.is_false((pcall(fx.open, {params = {cancellation_charge_code = "C\xE2\x82"}})))
    assert.is_false((pcall(fx.open, {params = {shipping_charge_code = fit(32, CHARS["2-byte"])}})))
  end)
end)
