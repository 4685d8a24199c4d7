-- tenders_spec.lua: SPEC R1 (every refund names its tenders), R2 (the
-- tenders a refund may use) and R3 (the till's day, store.tenders).
local fx = require "fixture"
local cjson = require "cjson"

local function by_tender(list)
  local t = {}
  for _, r in ipairs(list) do t[r.tender] = (t[r.tender] or 0) + r.amount end
  return t
end

-- No cancellation charge, no shipping charge: every refund is the money paid.
local PARAMS = {cancellation_charge_pct = 0, default_shipping_charge = 0}

describe("R1: refunds name their tenders", function()
  local db, ann, dbdir
  setup(function()
    db, dbdir = fx.open{params = PARAMS}
    ann = assert(db:login("S001", "1001", "1234"))
  end)

  -- An order of 49900 + 2 x 12900 = 75700, paid with the given payments.
  local function make(payments)
    return assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}, payments = payments}))
  end

  it("R1: a cancel refunds split over card and cash as asked", function()
    local o = make{{tender = "card", amount = 10000, ref = "A1"}, {tender = "cash", amount = 10000}}
    local r = assert(ann:call("order.cancel", {number = o.number, refunds = {
      {tender = "card", amount = 12000, ref = "R-77"}, {tender = "cash", amount = 8000}}}))
    assert.equal(20000, r.cancellation.refund)
    assert.equal(2, #r.order.refunds)
    local card, cash = r.order.refunds[1], r.order.refunds[2]
    assert.same({"cancellation", "card", 12000, "R-77"}, {card.kind, card.tender, card.amount, card.ref})
    assert.same({"cancellation", "cash", 8000}, {cash.kind, cash.tender, cash.amount})
    assert.is_nil(cash.ref)
    assert.is_string(card.at)
    assert.equal(20000, r.order.refunded)
    -- the order lists its payments with their tenders too
    assert.same({card = 10000, cash = 10000}, by_tender(r.order.payments))
    assert.is_nil(fx.invariant_error(r.order))
    -- and so does order.get
    local g = assert(ann:call("order.get", {number = o.number}))
    assert.same(r.order.refunds, g.refunds)
  end)

  it("R1: left out, a refund goes back to the last tender paid, each at most what it paid", function()
    local o = make{{tender = "card", amount = 40000}}
    o = assert(ann:call("order.edit", {number = o.number, version = o.version,
      payments = {{tender = "cash", amount = 20000}}}))
    -- removing the table takes the total to 25800: 34200 of the 60000 goes back
    local e = assert(ann:call("order.edit", {number = o.number, version = o.version,
      remove_lines = {1}}))
    assert.equal(2, #e.refunds)
    assert.same({"excess", "cash", 20000}, {e.refunds[1].kind, e.refunds[1].tender, e.refunds[1].amount})
    assert.same({"excess", "card", 14200}, {e.refunds[2].kind, e.refunds[2].tender, e.refunds[2].amount})
    -- cash has nothing left to take back: the rest of the card goes back on cancel
    local r = assert(ann:call("order.cancel", {number = o.number}))
    assert.equal(25800, r.cancellation.refund)
    assert.same({"cancellation", "card", 25800},
      {r.order.refunds[3].kind, r.order.refunds[3].tender, r.order.refunds[3].amount})
    assert.equal(3, #r.order.refunds)
    assert.same({card = 40000, cash = 20000}, by_tender(r.order.refunds))
    assert.is_nil(fx.invariant_error(r.order))
  end)

  it("R1: an order stored before tenders were recorded reads its refunds with tender \"\"", function()
    local o = make{{tender = "card", amount = 20000}}
    local r = assert(ann:call("order.cancel", {number = o.number}))
    assert.equal("card", r.order.refunds[1].tender)
    -- as an older corder wrote it: the refund without a tender
    assert(os.execute(string.format("sqlite3 %s \"UPDATE orders SET doc = json_remove(doc, '$.refunds[0].tender')"
      .. " WHERE number = '%s'\"", dbdir .. "/t.db", o.number)))
    local g = assert(ann:call("order.get", {number = o.number}))
    assert.equal("", g.refunds[1].tender)
    assert.equal(20000, g.refunds[1].amount)
    assert.equal(20000, g.refunded)
  end)

  it("R1: what the order's tenders cannot take back goes to store_credit", function()
    local o = assert(ann:call("order.create", {lines = {{item = "P300", qty = 1, delivery = fx.carry()}},
      payments = {{tender = "cash", amount = 1999}}}))
    local r = assert(ann:call("order.return", {number = o.number, invoice = o.invoices[1].id,
      lines = {{line = 1, qty = 1, reason = "damaged"}}, shipping_refund = 500}))
    assert.equal(2499, r["return"].refund)
    assert.same({cash = 1999, store_credit = 500}, by_tender(r.order.refunds))
    assert.equal("return", r.order.refunds[1].kind)
  end)

  it("R1: refunds that do not add up are payment_mismatch with details.refund, and change nothing", function()
    local o = make{{tender = "card", amount = 20000}}
    local before = fx.snapshot(db)
    local _, err = ann:call("order.cancel", {number = o.number, refunds = {
      {tender = "card", amount = 15000}, {tender = "store_credit", amount = 4999}}})
    assert.equal("payment_mismatch", err.code)
    assert.equal(20000, err.details.refund)
    assert.is_nil(err.details.due)
    assert.equal(before, fx.snapshot(db))
    -- a return that asks too much back
    local c = assert(ann:call("order.create", {lines = {{item = "P300", qty = 2, delivery = fx.carry()}},
      payments = {{tender = "card", amount = 3998}}}))
    before = fx.snapshot(db)
    _, err = ann:call("order.return", {number = c.number, invoice = c.invoices[1].id,
      lines = {{line = 1, qty = 1, reason = "damaged"}}, refunds = {{tender = "card", amount = 3998}}})
    assert.equal("payment_mismatch", err.code)
    assert.equal(1999, err.details.refund)
    assert.equal(before, fx.snapshot(db))
  end)

  it("R1: refunds given when nothing goes back are payment_mismatch with refund 0", function()
    local o = make{{tender = "card", amount = 20000}}
    local before = fx.snapshot(db)
    local _, err = ann:call("order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, qty = 1}}, refunds = {{tender = "card", amount = 100}}})
    assert.equal("payment_mismatch", err.code)
    assert.equal(0, err.details.refund)
    assert.equal(before, fx.snapshot(db))
    -- an empty list is the same as none
    assert(ann:call("order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, qty = 1}}, refunds = require("corder").empty_array}))
  end)

  it("R1: an empty tender or an amount not above 0 is validation, and changes nothing", function()
    local o = make{{tender = "card", amount = 20000}}
    local before = fx.snapshot(db)
    local cases = {
      {{tender = "", amount = 20000}, "refunds[0].tender"},
      {{tender = "card\n", amount = 20000}, "refunds[0].tender"},
      {{tender = string.rep("x", 32), amount = 20000}, "refunds[0].tender"},
      {{tender = "card", amount = 0}, "refunds[0].amount"},
      {{tender = "card", amount = -5}, "refunds[0].amount"},
    }
    for _, c in ipairs(cases) do
      local _, err = ann:call("order.cancel", {number = o.number, refunds = {c[1]}})
      assert.equal("validation", err.code)
      assert.equal(c[2], err.details.field)
    end
    local _, err = ann:call("order.cancel", {number = o.number, refunds = {{tender = "card"}}})
    assert.equal("bad_request", err.code)
    assert.equal(before, fx.snapshot(db))
  end)
end)

describe("R2: refund_tenders", function()
  it("R2: by default a refund may use the order's tenders and store_credit; others need refund_tender_override", function()
    local db = fx.open{params = PARAMS}
    local ann = assert(db:login("S001", "1001", "1234"))
    local bram = assert(db:login("S001", "1002", "9999"))
    local function make()
      return assert(ann:call("order.create", {lines = {{item = "P300", qty = 3, delivery = fx.carry()}},
        payments = {{tender = "card", amount = 5997}}}))
    end
    local function ret(s, o, refunds, approval)
      return s:call("order.return", {number = o.number, invoice = o.invoices[1].id,
        lines = {{line = 1, qty = 1, reason = "damaged"}}, refunds = refunds, approval = approval})
    end
    local o = make()
    assert(ret(ann, o, {{tender = "card", amount = 999}, {tender = "store_credit", amount = 1000}}))
    local before = fx.snapshot(db)
    local _, err = ret(ann, o, {{tender = "voucher", amount = 1999}})
    assert.equal("approval_required", err.code)
    assert.equal("refund_tender_override", err.details.permission)
    assert.equal(before, fx.snapshot(db))
    -- an approver without the permission is forbidden
    _, err = ret(ann, o, {{tender = "voucher", amount = 1999}}, {staff = "1001", pin = "1234"})
    assert.equal("forbidden", err.code)
    assert.equal(before, fx.snapshot(db))
    -- a manager's approval, or a manager at the till
    local r = assert(ret(ann, o, {{tender = "voucher", amount = 1999}}, {staff = "1002", pin = "9999"}))
    assert.equal("voucher", r.order.refunds[3].tender)
    local h = assert(ann:call("order.history", {number = o.number}))
    local last = h.events[#h.events].result
    assert.same({{permission = "refund_tender_override", approver = "1002"}}, last.approvals)
    assert(ret(bram, o, {{tender = "voucher", amount = 1999}}))
  end)

  it("R2: a policy's list limits the tenders, the order's own included", function()
    local db = fx.open{policy = [[
      return { parameters = { cancellation_charge_pct = 0, refund_tenders = { "cash", "store_credit" } },
               permits = function(staff, permission) return staff.role == "manager" end }
    ]]}
    local ann = assert(db:login("S001", "1001", "1234"))
    local info = assert(ann:call("policy.info", {}))
    assert.same({"cash", "store_credit"}, info.parameters.refund_tenders)
    local o = assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.pickup("S001", 30)}}, payments = {{tender = "card", amount = 4990}}}))
    local before = fx.snapshot(db)
    local _, err = ann:call("order.cancel", {number = o.number, refunds = {{tender = "card", amount = 4990}}})
    assert.equal("approval_required", err.code)
    assert.equal("refund_tender_override", err.details.permission)
    assert.equal(before, fx.snapshot(db))
    local r = assert(ann:call("order.cancel", {number = o.number, refunds = {{tender = "card", amount = 4990}},
      approval = {staff = "1002", pin = "9999"}}))
    assert.same({card = 4990}, by_tender(r.order.refunds))
    -- cash is on the list: no approval
    local o2 = assert(ann:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.pickup("S001", 30)}}, payments = {{tender = "card", amount = 4990}}}))
    assert(ann:call("order.cancel", {number = o2.number, refunds = {{tender = "cash", amount = 4990}}}))
  end)

  it("R2: a refund_tenders that is not a list of tender names is a policy_error at load", function()
    local corder = require "corder"
    local dir = fx.tmpdir()
    for _, bad in ipairs{'"cash"', '{ "" }', '{ 5 }', '{ x = "cash" }'} do
      fx.write(dir .. "/p.lua", "return { parameters = { refund_tenders = " .. bad .. " } }")
      local ok, msg = pcall(corder.load_policy, dir .. "/p.lua")
      assert.is_false(ok, bad)
      assert.matches("refund_tenders", tostring(msg))
    end
  end)
end)

describe("R3: store.tenders, the till's day", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = PARAMS}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S002", "1002", "9999"))
  end)
  teardown(function() db:set_now(0) end)

  -- Payments and refunds per tender of the log entries of store S001 whose
  -- time falls in [from, to) (UTC ISO times).
  local function from_log(store, from, to)
    local t = {}
    for _, row in ipairs(db:query("SELECT at, result FROM txlog WHERE store = '" .. store .. "'")) do
      if row[1] >= from and row[1] < to then
        local res = cjson.decode(row[2])
        for key, list in pairs{payments = res.payments, refunds = res.refunds} do
          for _, m in ipairs(list == cjson.null and {} or list or {}) do
            local e = t[m.tender] or {received = 0, refunded = 0, payments = 0, refunds = 0}
            if key == "payments" then e.received, e.payments = e.received + m.amount, e.payments + 1
            else e.refunded, e.refunds = e.refunded + m.amount, e.refunds + 1 end
            t[m.tender] = e
          end
        end
      end
    end
    local out = {}
    for tender, e in pairs(t) do
      out[#out + 1] = {tender = tender, received = e.received, refunded = e.refunded,
                       net = e.received - e.refunded, payments = e.payments, refunds = e.refunds}
    end
    table.sort(out, function(a, b) return a.tender < b.tender end)
    return out
  end

  local function sale(s, tender, amount, qty)
    return assert(s:call("order.create", {lines = {{item = "P300", qty = qty or 1, delivery = fx.carry()}},
      payments = {{tender = tender, amount = amount}}}))
  end

  it("R3: matches to the cent what was paid and refunded, per tender, with counts", function()
    db:set_now(1907748000) -- 2030-06-15 12:00 in Amsterdam
    local a = sale(ann, "card", 3998, 2)
    sale(ann, "cash", 1999)
    sale(ann, "cash", 1999)
    assert(ann:call("order.return", {number = a.number, invoice = a.invoices[1].id,
      lines = {{line = 1, qty = 2, reason = "damaged"}},
      refunds = {{tender = "card", amount = 2000}, {tender = "store_credit", amount = 1998}}}))
    sale(bram, "cash", 1999) -- another store's drawer
    local t = assert(ann:call("store.tenders", {}))
    assert.equal("S001", t.store)
    assert.equal("2030-06-15", t.date)
    assert.same({
      {tender = "card", received = 3998, refunded = 2000, net = 1998, payments = 1, refunds = 1},
      {tender = "cash", received = 3998, refunded = 0, net = 3998, payments = 2, refunds = 0},
      {tender = "store_credit", received = 0, refunded = 1998, net = -1998, payments = 0, refunds = 1},
    }, t.tenders)
    assert.same(from_log("S001", "2030-06-14T22:00:00", "2030-06-15T22:00:00"), t.tenders)
    assert.same(t, assert(ann:call("store.tenders", {date = "2030-06-15"})))
    local other = assert(bram:call("store.tenders", {date = "2030-06-15"}))
    assert.same({{tender = "cash", received = 1999, refunded = 0, net = 1999, payments = 1, refunds = 0}},
      other.tenders)
    assert.same({}, assert(ann:call("store.tenders", {date = "2030-06-16"})).tenders)
    local _, err = ann:call("store.tenders", {date = "2030-02-30"})
    assert.equal("validation", err.code)
    assert.equal("date", err.details.field)
  end)

  it("R3: a daylight-saving day runs midnight to midnight local time (23 hours)", function()
    -- 2030-03-31: Amsterdam goes from UTC+1 to UTC+2; the day is
    -- 2030-03-30T23:00Z .. 2030-03-31T22:00Z
    db:set_now(1901140200) -- 03-30 22:30Z = 23:30 local on the 30th
    sale(ann, "card", 1999)
    db:set_now(1901143800) -- 03-30 23:30Z = 00:30 local on the 31st
    sale(ann, "card", 1999)
    db:set_now(1901223000) -- 03-31 21:30Z = 23:30 local (CEST) on the 31st
    local o = sale(ann, "cash", 3998, 2)
    assert(ann:call("order.return", {number = o.number, invoice = o.invoices[1].id,
      lines = {{line = 1, qty = 1, reason = "damaged"}}}))
    db:set_now(1901226600) -- 03-31 22:30Z = 00:30 local on April 1st
    sale(ann, "cash", 1999)
    local t30 = assert(ann:call("store.tenders", {date = "2030-03-30"}))
    local t31 = assert(ann:call("store.tenders", {date = "2030-03-31"}))
    local t01 = assert(ann:call("store.tenders", {date = "2030-04-01"}))
    assert.same({{tender = "card", received = 1999, refunded = 0, net = 1999, payments = 1, refunds = 0}},
      t30.tenders)
    assert.same({
      {tender = "card", received = 1999, refunded = 0, net = 1999, payments = 1, refunds = 0},
      {tender = "cash", received = 3998, refunded = 1999, net = 1999, payments = 1, refunds = 1},
    }, t31.tenders)
    assert.same({{tender = "cash", received = 1999, refunded = 0, net = 1999, payments = 1, refunds = 0}},
      t01.tenders)
    assert.same(from_log("S001", "2030-03-30T23:00:00", "2030-03-31T22:00:00"), t31.tenders)
    -- with no date, the store's today (April 1st, local)
    assert.equal("2030-04-01", assert(ann:call("store.tenders", {})).date)
  end)
end)
