-- create_spec.lua: SPEC F1 (create), O1-O4, P1, P2, P4, P7, M3, M4, A1, A2
-- through the real engine (the corder Lua module, dispatch, SQLite).
local fx = require "fixture"

local function hybrid(payments)
  return {customer = "C0001", type = "order", lines = {
    {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
    {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)},
    {item = "P300", qty = 3, delivery = fx.carry()}},
    payments = payments}
end

describe("order.create", function()
  local db, ann, bram
  setup(function()
    db = fx.open()
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  it("F1/P1: hybrid order: deposit is 10% of ship+pickup, carry-out paid in full and invoiced", function()
    local o = assert(ann:call("order.create", hybrid(fx.cash(13567))))
    -- 49900 ship + 2*12900 pickup = 75700 deposit base; 10% = 7570; carry-out 3*1999 = 5997
    assert.equal(7570, o.deposit.required)
    assert.equal(81697, o.totals.order)
    assert.equal(13567, o.paid)
    assert.equal(1, #o.invoices)
    local inv = o.invoices[1]
    assert.equal(5997, inv.amount)
    assert.equal(5997, inv.paid)            -- payments pay the carry-out invoice first
    assert.equal(0, inv.deposit_applied)
    assert.equal(7570, o.on_account)        -- the rest is the deposit, on account (O5)
    assert.equal(81697 - 13567, o.balance)
    assert.equal("open", o.status)          -- O3: carry-out invoiced at creation leaves it open
    assert.equal("invoiced", o.lines[3].status)
    assert.equal("open", o.lines[1].status)
    assert.is_nil(fx.invariant_error(o))
  end)

  it("O1/O2: numbers start with the store id; lines are numbered 1, 2, 3 in request order", function()
    local o = assert(ann:call("order.create", hybrid(fx.cash(13567))))
    assert.truthy(o.number:match("^S001%-%d+$"))
    for i, l in ipairs(o.lines) do assert.equal(i, l.line) end
    assert.equal("P100", o.lines[1].item)
    assert.equal("P300", o.lines[3].item)
    assert.equal(49900, o.lines[1].unit_price)
    assert.equal("Oak table", o.lines[1].name)
  end)

  it("F1: payments below the amount due are refused with details.due", function()
    local o, err = ann:call("order.create", hybrid(fx.cash(13566)))
    assert.is_nil(o)
    assert.equal("payment_mismatch", err.code)
    assert.equal(13567, err.details.due)
  end)

  it("F1: payments above the order total are refused; anything up to it is a prepayment on account", function()
    local _, err = ann:call("order.create", hybrid(fx.cash(81698)))
    assert.equal("payment_mismatch", err.code)
    local o = assert(ann:call("order.create", hybrid(fx.cash(50000))))
    assert.equal(50000 - 5997, o.on_account)
    assert.equal(81697 - 50000, o.balance)
  end)

  it("F1: several tenders add up", function()
    local o = assert(ann:call("order.create", hybrid({{tender = "cash", amount = 5000}, {tender = "card", amount = 8567, ref = "A1"}})))
    assert.equal(13567, o.paid)
    assert.equal(2, #o.payments)
  end)

  it("M3: a payment of 0 or less is a validation error", function()
    local _, err = ann:call("order.create", hybrid({{tender = "card", amount = 0}}))
    assert.equal("validation", err.code)
    assert.equal("payments[0].amount", err.details.field)
    _, err = ann:call("order.create", hybrid({{tender = "card", amount = -5}}))
    assert.equal("validation", err.code)
  end)

  it("M4: amounts that would overflow are rejected, not wrapped", function()
    local args = hybrid(fx.cash(1))
    args.lines[1].qty = 999999999999
    local _, err = ann:call("order.create", args)
    assert.equal("validation", err.code)
    assert.equal("lines[0].qty", err.details.field)
    args = hybrid({{tender = "card", amount = math.maxinteger}})
    _, err = ann:call("order.create", args)
    assert.equal("validation", err.code)
  end)

  it("P1: a B2B customer's default deposit is 0", function()
    local o = assert(ann:call("order.create", {customer = "C0002", lines = {
      {item = "P500", qty = 1, delivery = fx.ship("shop", 20)}}}))
    assert.equal(0, o.deposit.required)
    assert.equal(0, o.paid)
    assert.equal(129900, o.balance)
  end)

  it("F1: cash-and-carry needs no customer and is invoiced at once, paid in full", function()
    local o, err = ann:call("order.create", {lines = {{item = "P300", qty = 2, delivery = fx.carry()}}, payments = fx.cash(3997)})
    assert.equal("payment_mismatch", err.code)
    assert.equal(3998, err.details.due)
    o = assert(ann:call("order.create", {lines = {{item = "P300", qty = 2, delivery = fx.carry()}}, payments = fx.cash(3998)}))
    assert.equal("invoiced", o.status)
    assert.equal(0, o.balance)
  end)

  it("F1: a customer is required once a line is shipped or picked up", function()
    local _, err = ann:call("order.create", {lines = {{item = "P100", qty = 1, delivery = fx.pickup()}}})
    assert.equal("validation", err.code)
    assert.equal("customer", err.details.field)
  end)

  it("O4: a ship or pickup date in the past is refused", function()
    local args = hybrid(fx.cash(13567))
    args.lines[1].delivery.date = fx.date(-3)
    local _, err = ann:call("order.create", args)
    assert.equal("validation", err.code)
    assert.equal("lines[0].delivery.date", err.details.field)
    args.lines[1].delivery.date = "2027-02-30"
    _, err = ann:call("order.create", args)
    assert.equal("validation", err.code)
  end)

  it("not_found names the unknown product, address, customer or pickup store", function()
    local args = hybrid(fx.cash(13567))
    args.lines[2].item = "NOPE"
    local _, err = ann:call("order.create", args)
    assert.equal("not_found", err.code)
    assert.equal("lines[1].item", err.details.field)
    args = hybrid(fx.cash(13567)); args.lines[1].delivery.address = "mars"
    _, err = ann:call("order.create", args)
    assert.equal("not_found", err.code)
    args = hybrid(fx.cash(13567)); args.customer = "C9999"
    _, err = ann:call("order.create", args)
    assert.equal("not_found", err.code)
    args = hybrid(fx.cash(13567)); args.lines[2].delivery.store = "S999"
    _, err = ann:call("order.create", args)
    assert.equal("not_found", err.code)
  end)

  it("bad_request names mistyped, missing and unknown fields", function()
    local _, err = ann:call("order.create", {customer = "C0001", lines = {{item = "P100", qty = "1", delivery = fx.carry()}}})
    assert.equal("bad_request", err.code)
    assert.equal("lines[0].qty", err.details.field)
    _, err = ann:call("order.create", {customer = "C0001"})
    assert.equal("bad_request", err.code)
    assert.equal("lines", err.details.field)
    _, err = ann:call("order.create", {customer = "C0001", lines = {}, colour = "red"})
    assert.equal("bad_request", err.code)
    assert.equal("colour", err.details.field)
    _, err = ann:call("order.create", {customer = "C0001", lines = {{item = "P1", qty = 1, delivery = {mode = "teleport"}}}})
    assert.equal("bad_request", err.code)
    assert.equal("lines[0].delivery.mode", err.details.field)
    -- nested keys come from the op table's one schema: a pickup has no
    -- address, an approval only {staff, pin}, a payment no "note"
    local args = hybrid(fx.cash(13567)); args.lines[2].delivery.address = "home"
    _, err = ann:call("order.create", args)
    assert.equal("bad_request", err.code)
    assert.equal("lines[1].delivery.address", err.details.field)
    args = hybrid(fx.cash(13567)); args.payments[1].note = "x"
    _, err = ann:call("order.create", args)
    assert.equal("payments[0].note", err.details.field)
    args = hybrid(fx.cash(13567)); args.deposit_override = {amount = 0, approval = {staff = "1002", pin = "9999", why = "x"}}
    _, err = ann:call("order.create", args)
    assert.equal("deposit_override.approval.why", err.details.field)
  end)

  it("P2/A2: a cashier's deposit override needs approval; a manager's approval is recorded", function()
    local args = hybrid(fx.cash(5997))
    args.deposit_override = {amount = 0}
    local _, err = ann:call("order.create", args)
    assert.equal("approval_required", err.code)
    assert.equal("deposit_override", err.details.permission)
    args.deposit_override.approval = {staff = "1002", pin = "0000"}
    _, err = ann:call("order.create", args)
    assert.equal("unauthenticated", err.code)           -- wrong approver PIN
    args.deposit_override.approval = {staff = "1003", pin = "5678"}
    _, err = ann:call("order.create", args)
    assert.equal("forbidden", err.code)                 -- approver lacks the permission
    args.deposit_override.approval = {staff = "1002", pin = "9999"}
    local o = assert(ann:call("order.create", args))
    assert.equal(0, o.deposit.required)
    assert.is_true(o.deposit.overridden)
    assert.equal("1002", o.deposit.override_by)
  end)

  it("P2: a manager overrides without approval, from 0 up to the order total only", function()
    local args = hybrid(fx.cash(81697))
    args.deposit_override = {amount = 81698}
    local _, err = bram:call("order.create", args)
    assert.equal("validation", err.code)
    args.deposit_override = {amount = 75700}
    local o = assert(bram:call("order.create", args))
    assert.equal(75700, o.deposit.required)
    assert.equal("1002", o.deposit.override_by)
  end)

  it("order.preview computes the same order and keeps nothing", function()
    local before = fx.snapshot(db)
    local p = assert(ann:call("order.preview", hybrid(fx.cash(13567))))
    assert.equal(7570, p.deposit.required)
    assert.equal(81697, p.totals.order)
    assert.equal(before, fx.snapshot(db))
  end)

  it("A1: every op but ping needs a signed-in session; staff sign in only at their stores", function()
    local cees, err = db:login("S001", "1003", "5678")
    assert.is_nil(cees)
    assert.equal("forbidden", err.code)
    local _, e2 = db:login("S001", "1001", "9999")
    assert.equal("unauthenticated", e2.code)
  end)
end)

describe("shipping charges (F1, P4)", function()
  local db, ann
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995, default_deposit_pct = 20}}
    ann = assert(db:login("S001", "1001", "1234"))
  end)

  it("one charge per shipment: ship lines sharing address and date", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P400", qty = 1, delivery = fx.ship("work", 40)},
      {item = "P600", qty = 1, delivery = fx.ship("home", 41)},
      {item = "P300", qty = 1, delivery = fx.pickup()}}}))
    assert.equal(3, #o.charges)
    for _, c in ipairs(o.charges) do
      assert.equal("SHIP", c.code); assert.equal(995, c.amount); assert.is_false(c.invoiced)
    end
    assert.equal(2985, o.totals.charges)
    -- P1: the deposit base includes the charges not yet invoiced
    local goods = 49900 + 12900 + 34950 + 8995 + 1999
    assert.equal(math.floor((goods + 2985) * 20 / 100 + 0.5), o.deposit.required)
  end)

  it("a charge typed by the clerk replaces the policy's for each shipment", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", shipping_charge = 1500, lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P400", qty = 1, delivery = fx.ship("work", 40)}}}))
    assert.equal(2, #o.charges)
    assert.equal(1500, o.charges[1].amount)
    assert.equal(1500, o.charges[2].amount)
  end)

  it("a typed charge is refused where the policy does not allow it", function()
    local db2 = fx.open{params = {manual_shipping_charge = false}}
    local s = assert(db2:login("S001", "1001", "1234"))
    local _, err = s:call("order.create", {customer = "C0001", shipping_charge = 1, lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)}}})
    assert.equal("validation", err.code)
    assert.equal("shipping_charge", err.details.field)
  end)
end)

describe("quotes (F1, F2, P7)", function()
  local db, ann
  setup(function()
    db = fx.open()
    ann = assert(db:login("S001", "1001", "1234"))
  end)
  after_each(function() db:set_now(0) end)

  local function quote(extra)
    local q = {customer = "C0001", type = "quote", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 60)},
      {item = "P200", qty = 1, delivery = fx.pickup("S002", 60)}}}
    for k, v in pairs(extra or {}) do q[k] = v end
    return q
  end

  it("P7: a quote takes no payment and expires after quote_validity_days", function()
    local q = assert(ann:call("order.create", quote()))
    assert.equal("quote", q.status)
    assert.equal(0, q.paid)
    assert.equal(fx.date(30), q.quote_expires)
    local _, err = ann:call("order.create", quote{payments = fx.cash(100)})
    assert.equal("payment_mismatch", err.code)
  end)

  it("F2: confirming makes it an order and the deposit is then due", function()
    local q = assert(ann:call("order.create", quote{quote_expires = fx.date(10)}))
    assert.equal(fx.date(10), q.quote_expires)
    local _, err = ann:call("order.confirm_quote", {number = q.number})
    assert.equal("payment_mismatch", err.code)
    assert.equal(6280, err.details.due)      -- 10% of 49900 + 12900
    local o = assert(ann:call("order.confirm_quote", {number = q.number, payments = fx.cash(6280)}))
    assert.equal("order", o.type)
    assert.equal("open", o.status)
    assert.equal(6280, o.on_account)
    _, err = ann:call("order.confirm_quote", {number = q.number})
    assert.equal("invalid_state", err.code)
  end)

  it("F2: an expired quote is refused with a clear error", function()
    local q = assert(ann:call("order.create", quote{quote_expires = fx.date(2)}))
    db:set_now(os.time() + 5 * 86400)
    local _, err = ann:call("order.confirm_quote", {number = q.number, payments = fx.cash(6280)})
    assert.equal("invalid_state", err.code)
    assert.truthy(err.message:find("expired"))
  end)
end)
