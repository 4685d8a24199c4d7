-- counter_spec.lua: what the counter needs beyond the first release:
-- what is due before paying and deposit overrides after create (F11, P2),
-- someone else collects (F9, A4), holds (F10, A4) and reason codes (R4),
-- through the real engine (the corder Lua module, dispatch, SQLite).
local fx = require "fixture"
local corder = require "corder"

local REASONS = {["return"] = {"DAMAGED", "WRONG_ITEM"}, cancel = {"CHANGED_MIND"},
                 hold = {"PAYMENT_CHECK", "CUSTOMER_ASKED"}}

local function pickup_order(extra)
  local a = {customer = "C0001", type = "order",
             lines = {{item = "P100", qty = 1, delivery = fx.pickup("S001", 30)},
                      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}}
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

describe("the counter", function()
  local db, ann, bram
  setup(function()
    db = fx.open{seed = function(s) s.reason_codes = REASONS end}
    ann = assert(db:login("S001", "1001", "1234"))  -- cashier
    bram = assert(db:login("S001", "1002", "9999")) -- manager
  end)
  teardown(function() db:close() end)

  local function create(args)
    local o, err = fx.paying(ann, "order.create", args)
    assert(o, err and err.message)
    return o
  end

  describe("F11: what is due, before paying", function()
    it("order.preview answers the order and due_now without payments, and keeps nothing", function()
      local before = fx.snapshot(db)
      local p = assert(ann:call("order.preview", pickup_order()))
      assert.equal(fx.snapshot(db), before)
      -- 10 % deposit of the pickup lines (49900 + 2 × 12900)
      assert.equal(7570, p.due_now)
      assert.equal(75700, p.totals.order)
      assert.equal(0, p.paid)
      -- whatever payments come along, nothing is checked about them
      local args = pickup_order{payments = {{tender = "card", amount = 1}}}
      assert.equal(7570, assert(ann:call("order.preview", args)).due_now)
      -- paying exactly due_now creates it
      args = pickup_order{payments = fx.cash(p.due_now)}
      local o = assert(ann:call("order.create", args))
      assert.equal(7570, o.paid)
      assert.equal(7570, o.deposit.required)
    end)

    it("a carry-out line is due in full, a quote nothing", function()
      local args = pickup_order()
      table.insert(args.lines, {item = "P300", qty = 1, delivery = fx.carry()})
      assert.equal(7570 + 1999, assert(ann:call("order.preview", args)).due_now)
      local q = pickup_order{type = "quote"}
      assert.equal(0, assert(ann:call("order.preview", q)).due_now)
    end)

    it("payment_mismatch always says what is due: create, edit, confirm, pickup, cancel", function()
      local _, err = ann:call("order.create", pickup_order{payments = fx.cash(1)})
      assert.equal("payment_mismatch", err.code)
      assert.equal(7570, err.details.due)
      local o = create(pickup_order())
      _, err = ann:call("order.edit", {number = o.number, version = o.version,
        add_lines = {{item = "P400", qty = 1, delivery = fx.pickup("S001", 30)}}})
      assert.equal("payment_mismatch", err.code)
      assert.equal(3495, err.details.due)
      _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}})
      assert.equal("payment_mismatch", err.code)
      assert.equal(49900 - 7570, err.details.due)
      _, err = ann:call("order.cancel", {number = o.number, payments = fx.cash(5)})
      assert.equal("payment_mismatch", err.code)
      assert.is_number(err.details.due)
      local q = assert(ann:call("order.create", pickup_order{type = "quote"}))
      _, err = ann:call("order.confirm_quote", {number = q.number})
      assert.equal("payment_mismatch", err.code)
      assert.equal(7570, err.details.due)
    end)

    it("P2 on edit: a cashier needs an approval, a manager's is recorded; 0..total only", function()
      local o = create(pickup_order())
      local before = fx.snapshot(db)
      local _, err = ann:call("order.edit", {number = o.number, version = o.version,
        deposit_override = {amount = 0}})
      assert.equal("approval_required", err.code)
      assert.equal("deposit_override", err.details.permission)
      _, err = bram:call("order.edit", {number = o.number, version = o.version,
        deposit_override = {amount = 75701}})
      assert.equal("validation", err.code)
      assert.equal("deposit_override.amount", err.details.field)
      assert.equal(fx.snapshot(db), before)
      local e = assert(ann:call("order.edit", {number = o.number, version = o.version,
        deposit_override = {amount = 2000, approval = {staff = "1002", pin = "9999"}}}))
      assert.equal(2000, e.deposit.required)
      assert.is_true(e.deposit.overridden)
      assert.equal("1002", e.deposit.override_by)
    end)

    it("P2 on confirm_quote, and a quote's edit takes no override", function()
      local q = assert(ann:call("order.create", pickup_order{type = "quote"}))
      local _, err = bram:call("order.edit", {number = q.number, version = q.version,
        deposit_override = {amount = 0}})
      assert.equal("validation", err.code)
      assert.equal("deposit_override", err.details.field)
      _, err = ann:call("order.confirm_quote", {number = q.number, deposit_override = {amount = 0}})
      assert.equal("approval_required", err.code)
      local o = assert(bram:call("order.confirm_quote", {number = q.number,
        deposit_override = {amount = 0}}))
      assert.equal("order", o.type)
      assert.equal(0, o.deposit.required)
      assert.equal("1002", o.deposit.override_by)
    end)
  end)

  describe("F9: someone else collects", function()
    it("pickup_contacts: at most 5, each with a name; an edit replaces the list", function()
      local six = {}
      for i = 1, 6 do six[i] = {name = "Contact " .. i} end
      local before = fx.snapshot(db)
      local _, err = ann:call("order.create", pickup_order{pickup_contacts = six})
      assert.equal("validation", err.code)
      assert.equal("pickup_contacts[5]", err.details.field)
      _, err = ann:call("order.create", pickup_order{pickup_contacts = {{name = "  \t "}}})
      assert.equal("validation", err.code)
      assert.equal("pickup_contacts[0].name", err.details.field)
      _, err = ann:call("order.create", pickup_order{pickup_contacts = {{name = "A", age = 3}}})
      assert.equal("bad_request", err.code)
      assert.equal("pickup_contacts[0].age", err.details.field)
      assert.equal(fx.snapshot(db), before)
      local o = create(pickup_order{pickup_contacts = {{name = "  Émile Dubois ", phone = "+31 6 1"}}})
      assert.same({{name = "Émile Dubois", phone = "+31 6 1"}}, o.pickup_contacts)
      local e = assert(ann:call("order.edit", {number = o.number, version = o.version,
        pickup_contacts = {{name = "Fleur"}, {name = "Gijs"}}}))
      assert.same({{name = "Fleur"}, {name = "Gijs"}}, e.pickup_contacts)
      _, err = ann:call("order.edit", {number = o.number, version = e.version,
        pickup_contacts = {{name = "Hans"}, {name = ""}}})
      assert.equal("pickup_contacts[1].name", err.details.field)
      assert.same(e.pickup_contacts, assert(ann:call("order.get", {number = o.number})).pickup_contacts)
      local cleared = assert(ann:call("order.edit", {number = o.number, version = e.version,
        pickup_contacts = corder.empty_array}))
      assert.same({}, cleared.pickup_contacts)
    end)

    it("a contact or the customer collects without approval, named trimmed and in any case", function()
      local o = create(pickup_order{pickup_contacts = {{name = "Émile Dubois"}}})
      local r = assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 1, qty = 1}},
        collected_by = {name = "  émile DUBOIS ", id_checked = true, id_ref = "NL-ID 1234"}}))
      assert.same({name = "émile DUBOIS", id_checked = true, id_ref = "NL-ID 1234"},
        r.invoice.collected_by)
      assert.same(r.invoice.collected_by, r.order.invoices[1].collected_by)
      r = assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}},
        collected_by = {name = "KARIN SMIT"}}))
      assert.equal("KARIN SMIT", r.invoice.collected_by.name)
      assert.is_false(r.invoice.collected_by.id_checked)
      -- the history names the collector
      local h = assert(ann:call("order.history", {number = o.number})).events
      local found = false
      for _, ev in ipairs(h) do
        if ev.op == "order.pickup" and ev.request.collected_by
          and ev.request.collected_by.name == "  émile DUBOIS " then found = true end
      end
      assert.is_true(found, "the pickup's collector is in the history")
    end)

    it("A4: someone the order does not name needs pickup_by_other, or an approval", function()
      local o = create(pickup_order{pickup_contacts = {{name = "Fleur"}}})
      local before = fx.snapshot(db)
      local args = {number = o.number, lines = {{line = 1, qty = 1}}, collected_by = {name = "Stranger"},
                    payments = fx.cash(49900 - 7570)}
      local _, err = ann:call("order.pickup", args)
      assert.equal("approval_required", err.code)
      assert.equal("pickup_by_other", err.details.permission)
      args.approval = {staff = "1002", pin = "0000"}
      _, err = ann:call("order.pickup", args)
      assert.equal("unauthenticated", err.code)
      assert.equal(fx.snapshot(db), before)
      args.approval = {staff = "1002", pin = "9999"}
      local r = assert(ann:call("order.pickup", args))
      assert.equal("Stranger", r.invoice.collected_by.name)
      -- a manager holds the permission
      r = assert(fx.paying(bram, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}},
        collected_by = {name = "Someone Else"}}))
      assert.equal("Someone Else", r.invoice.collected_by.name)
      -- a pickup that says nothing of who collects needs nothing (require_collector off)
      assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}}))
    end)
  end)

  describe("F9: require_collector", function()
    local db2, cashier
    setup(function()
      db2 = fx.open{params = {require_collector = true}}
      cashier = assert(db2:login("S001", "1001", "1234"))
    end)
    teardown(function() db2:close() end)

    it("a pickup without collected_by is validation on collected_by; a blank name too", function()
      local o = assert(fx.paying(cashier, "order.create", pickup_order()))
      local args = {number = o.number, lines = {{line = 1, qty = 1}}, payments = fx.cash(49900 - 7570)}
      local _, err = cashier:call("order.pickup", args)
      assert.equal("validation", err.code)
      assert.equal("collected_by", err.details.field)
      args.collected_by = {name = " "}
      _, err = cashier:call("order.pickup", args)
      assert.equal("validation", err.code)
      assert.equal("collected_by.name", err.details.field)
      args.collected_by = {name = "Karin Smit"}
      assert(cashier:call("order.pickup", args))
    end)
  end)

  describe("F10: holds", function()
    it("a held order refuses edit, confirm, pickup and ship; get, find, history and cancel work", function()
      local args = pickup_order()
      table.insert(args.lines, {item = "P300", qty = 1, delivery = fx.ship("home", 40)})
      local o = create(args)
      local _, err = ann:call("order.hold", {number = o.number, code = "PAYMENT_CHECK"})
      assert.equal("approval_required", err.code)
      assert.equal("order_hold", err.details.permission)
      local h = assert(ann:call("order.hold", {number = o.number, code = "PAYMENT_CHECK",
        note = "card declined twice", approval = {staff = "1002", pin = "9999"}}))
      assert.equal("PAYMENT_CHECK", h.hold.code)
      assert.equal("card declined twice", h.hold.note)
      assert.equal("1001", h.hold.by)
      assert.is_string(h.hold.at)
      assert.equal(o.version + 1, h.version)
      local before = fx.snapshot(db)
      _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}},
        payments = fx.cash(1)})
      assert.equal("invalid_state", err.code)
      assert.equal("PAYMENT_CHECK", err.details.hold)
      _, err = ann:call("order.edit", {number = o.number, version = h.version,
        remove_lines = {2}})
      assert.equal("invalid_state", err.code)
      assert.equal("PAYMENT_CHECK", err.details.hold)
      _, err = bram:call("order.ship", {number = o.number, lines = {{line = 3, qty = 1}}})
      assert.equal("invalid_state", err.code)
      assert.equal("PAYMENT_CHECK", err.details.hold)
      _, err = bram:call("order.hold", {number = o.number, code = "CUSTOMER_ASKED"})
      assert.equal("invalid_state", err.code)
      assert.equal(fx.snapshot(db), before)
      assert.equal("PAYMENT_CHECK", assert(ann:call("order.get", {number = o.number})).hold.code)
      local found = assert(ann:call("order.find", {customer = "C0001"})).orders
      assert.is_true(#found > 0)
      -- release, and the pickup goes through
      local r = assert(bram:call("order.release", {number = o.number}))
      assert.is_nil(r.hold)
      _, err = bram:call("order.release", {number = o.number})
      assert.equal("invalid_state", err.code)
      assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}}))
      local ops = {}
      for _, ev in ipairs(assert(ann:call("order.history", {number = o.number})).events) do
        ops[#ops + 1] = ev.op
      end
      assert.same({"order.create", "order.hold", "order.release", "order.pickup"}, ops)
    end)

    it("a held quote cannot be confirmed, and a held order can be cancelled", function()
      local q = assert(ann:call("order.create", pickup_order{type = "quote"}))
      assert(bram:call("order.hold", {number = q.number, code = "CUSTOMER_ASKED"}))
      local _, err = fx.paying(ann, "order.confirm_quote", {number = q.number})
      assert.equal("invalid_state", err.code)
      assert.equal("CUSTOMER_ASKED", err.details.hold)
      local o = create(pickup_order())
      assert(bram:call("order.hold", {number = o.number, code = "CUSTOMER_ASKED"}))
      local c = assert(fx.paying(ann, "order.cancel", {number = o.number, reason = "CHANGED_MIND"}))
      assert.equal("cancelled", c.order.status)
    end)
  end)

  describe("R4: reason codes", function()
    it("a code outside the chain's list is validation on its field; a listed one passes", function()
      local o = create(pickup_order())
      local before = fx.snapshot(db)
      local _, err = bram:call("order.hold", {number = o.number, code = "BORED"})
      assert.equal("validation", err.code)
      assert.equal("code", err.details.field)
      _, err = fx.paying(ann, "order.cancel", {number = o.number, reason = "too expensive"})
      assert.equal("validation", err.code)
      assert.equal("reason", err.details.field)
      assert.equal(fx.snapshot(db), before)
      local p = assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}}))
      _, err = ann:call("order.return", {number = o.number, invoice = p.invoice.id,
        lines = {{line = 1, qty = 1, reason = "damaged"}}})
      assert.equal("validation", err.code)
      assert.equal("lines[0].reason", err.details.field)
      local r = assert(ann:call("order.return", {number = o.number, invoice = p.invoice.id,
        lines = {{line = 1, qty = 1, reason = "DAMAGED"}}}))
      assert.equal(49900, r["return"].product_refund)
    end)

    it("without a list any code passes", function()
      local db2 = fx.open()
      local m = assert(db2:login("S001", "1002", "9999"))
      local o = assert(fx.paying(m, "order.create", pickup_order()))
      assert(m:call("order.hold", {number = o.number, code = "ANYTHING"}))
      db2:close()
    end)
  end)
end)
