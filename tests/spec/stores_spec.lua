-- stores_spec.lua: SPEC A5 (orders of another store), with A2 (approvals)
-- and A4 (the permission other_store_orders).
--
-- The attack, as a reviewer ran it: a cashier who may only sign in at S002
-- read, edited and cancelled an S001 order, under S002's policy. Now staff
-- signed in at one store may read any order and pick up the lines whose
-- pickup store is theirs; every other change to another store's order needs
-- other_store_orders (asked of the signed-in store's policy) or an approval
-- by someone allowed at the signed-in store. Money rules stay with the
-- order's store's policy, whoever is signed in.
local fx = require "fixture"

-- S001: 10 % deposit, 5 % cancellation charge; its cancellation hook checks
-- that it is asked as S001's rule. Permissions: the default (managers).
local centrum = [[
local p = { parameters = { default_deposit_pct = 10, cancellation_charge_pct = 5,
                           default_shipping_charge = 500 } }
function p.cancellation_charge(order, ctx)
  assert(ctx.store == "S001", "S001's rule asked for store " .. tostring(ctx.store))
  local v = 0
  for _, l in ipairs(order.lines) do
    v = v + (l.qty - l.qty_invoiced - l.qty_cancelled) * l.unit_price
  end
  return corder.pct(v, ctx.params.cancellation_charge_pct)
end
return p
]]

-- S002: other money rules, and cashier 1001 (Ann) holds other_store_orders
-- here; managers hold everything.
local zuid = [[
local p = { parameters = { default_deposit_pct = 30, cancellation_charge_pct = 20,
                           default_shipping_charge = 900 } }
function p.permits(staff, permission, ctx)
  if staff.role == "manager" then return true end
  return permission == "other_store_orders" and staff.id == "1001" and ctx.store == "S002"
end
return p
]]

local function seed(t)
  for _, s in ipairs(t.stores) do
    s.policy = s.id == "S001" and "centrum" or "zuid"
  end
  -- Eva: a manager of S001 only; Fenna: a cashier of S002 only.
  t.staff[#t.staff + 1] = {id = "1005", name = "Eva", pin = "5005", role = "manager", stores = {"S001"}}
  t.staff[#t.staff + 1] = {id = "1006", name = "Fenna", pin = "6006", role = "cashier", stores = {"S002"}}
end

local BRAM = {staff = "1002", pin = "9999"}   -- manager, allowed at S001 and S002
local EVA = {staff = "1005", pin = "5005"}    -- manager, not allowed at S002
local FENNA = {staff = "1006", pin = "6006"}  -- allowed at S002, lacks the permission

describe("orders of another store (A5)", function()
  local db, ann, cees, ann2, v001, v002
  setup(function()
    db = fx.open{policies = {centrum = centrum, zuid = zuid}, seed = seed}
    ann = assert(db:login("S001", "1001", "1234"))
    ann2 = assert(db:login("S002", "1001", "1234"))
    cees = assert(db:login("S002", "1003", "5678"))   -- S002 only
    v001 = assert(ann:call("policy.info", {store = "S001"})).version
    v002 = assert(ann:call("policy.info", {store = "S002"})).version
    assert.are_not.equal(v001, v002)
  end)

  -- An S001 order: 1 ship, 2 pickup at S001, 3 pickup at S002, 4 carried
  -- out (invoice 1, to return from).
  local function make()
    return assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)},
      {item = "P600", qty = 1, delivery = fx.pickup("S002", 30)},
      {item = "P300", qty = 1, delivery = fx.carry()}}}))
  end

  local function quote()
    return assert(ann:call("order.create", {customer = "C0001", type = "quote", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}}}))
  end

  local function last_event(number)
    local h = assert(ann:call("order.history", {number = number}))
    return h.events[#h.events]
  end

  local function decisions(ev, hook)
    local out = {}
    for _, d in ipairs(ev.decisions) do
      if d.hook == hook then out[#out + 1] = d end
    end
    return out
  end

  -- Every change the attack tried, refused.
  local function changes(o, q)
    return {
      {"order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 1}}}},
      {"order.edit", {number = o.number, version = o.version, remove_lines = {1}}},
      {"order.cancel", {number = o.number}},
      {"order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}},
      {"order.return", {number = o.number, invoice = 1, lines = {{line = 4, qty = 1, reason = "damaged"}}}},
      {"order.confirm_quote", {number = q.number}},
    }
  end

  it("A5: staff of S002 read an S001 order: get, find, history", function()
    local o = make()
    local g = assert(cees:call("order.get", {number = o.number}))
    assert.equal("S001", g.store)
    local f = assert(cees:call("order.find", {store = "S001"}))
    local found = false
    for _, x in ipairs(f.orders) do found = found or x.number == o.number end
    assert.is_true(found)
    local h = assert(cees:call("order.history", {number = o.number}))
    assert.equal("order.create", h.events[1].op)
  end)

  it("A5 attack: an S002-only cashier cannot edit, cancel, ship, return or confirm an S001 order", function()
    local o, q = make(), quote()
    local before = fx.snapshot(db)
    for _, c in ipairs(changes(o, q)) do
      local r, err = cees:call(c[1], c[2])
      assert.is_nil(r, c[1])
      assert.equal("approval_required", err.code, c[1])
      assert.equal("other_store_orders", err.details.permission, c[1])
    end
    assert.equal(before, fx.snapshot(db))   -- same versions, documents, log
    local g = assert(cees:call("order.get", {number = o.number}))
    assert.equal(o.version, g.version)
  end)

  it("A5/A2: with the approval of a manager allowed at S002 it works, and the log names both", function()
    local o, q = make(), quote()
    local r = assert(fx.paying(cees, "order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, qty = 1}}, approval = BRAM}))
    assert.equal(1, r.lines[2].qty)
    local ev = last_event(o.number)
    assert.equal("order.edit", ev.op)
    assert.equal("1003", ev.staff)
    assert.equal("S002", ev.store)
    assert.same({{permission = "other_store_orders", approver = "1002"}}, ev.result.approvals)
    assert.equal("1002", ev.request.approval.staff)
    assert.is_nil(ev.request.approval.pin)
    -- ship (needs ship too: the manager holds both) and return
    local s = assert(fx.paying(cees, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
      approval = BRAM}))
    assert.equal("invoiced", s.order.lines[1].status)
    ev = last_event(o.number)
    table.sort(ev.result.approvals, function(a, b) return a.permission < b.permission end)
    assert.same({{permission = "other_store_orders", approver = "1002"},
                 {permission = "ship", approver = "1002"}}, ev.result.approvals)
    local rt = assert(cees:call("order.return", {number = o.number, invoice = 1,
      lines = {{line = 4, qty = 1, reason = "damaged"}}, approval = BRAM}))
    assert.equal(1999, rt["return"].product_refund)
    assert.same({{permission = "other_store_orders", approver = "1002"}}, last_event(o.number).result.approvals)
    -- confirm a quote: the deposit is S001's 10 %, not S002's 30 %
    local c = assert(fx.paying(cees, "order.confirm_quote", {number = q.number, approval = BRAM}))
    assert.equal("order", c.type)
    assert.equal(1290, c.deposit.required)
    assert.equal(v001, c.policy_version)
  end)

  it("A5: money rules of a cross-store cancel come from S001's policy, the permission from S002's", function()
    local o = make()
    local r = assert(fx.paying(cees, "order.cancel", {number = o.number, approval = BRAM}))
    -- open lines: 49900 + 2 x 12900 + 8995 = 84695; S001's 5 % = 4235 (S002's 20 % would be 16939)
    assert.equal(4235, r.cancellation.charge)
    assert.equal(v001, r.order.policy_version)
    local ev = last_event(o.number)
    assert.equal(v001, ev.policy_version)
    local cc = decisions(ev, "cancellation_charge")
    assert.equal(1, #cc)
    assert.equal("policy", cc[1].by)
    assert.equal("S001", cc[1].store)
    assert.equal(v001, cc[1].policy_version)
    local perms = decisions(ev, "permits")
    assert.is_true(#perms >= 1)
    for _, d in ipairs(perms) do
      assert.equal("S002", d.store)
      assert.equal(v002, d.policy_version)
      assert.equal("other_store_orders", d.args[2])
    end
    -- the signed-in cashier was asked, and lacks it; the approver holds it
    assert.equal("1003", perms[1].args[1].id)
    assert.is_false(perms[1].answer)
    assert.equal("1002", perms[#perms].args[1].id)
    assert.is_true(perms[#perms].answer)
  end)

  it("A5: a cross-store edit recomputes the deposit with S001's policy", function()
    local o = make()
    local r = assert(fx.paying(cees, "order.edit", {number = o.number, version = o.version,
      add_lines = {{item = "P200", qty = 1, delivery = fx.pickup("S002", 30)}}, approval = BRAM}))
    -- 10 % of 49900 + 3 x 12900 + 8995 + 500 shipping = 98095 -> 9810 (S002: 30 %)
    assert.equal(9810, r.deposit.required)
    assert.equal(v001, r.policy_version)
    local dep = decisions(last_event(o.number), "deposit")
    assert.equal("S001", dep[1].store)
  end)

  it("A5: the permission is S002's rule when signed in at S002, S001's at S001", function()
    -- S002's policy grants Ann other_store_orders: no approval needed there
    local o = make()
    local r = assert(fx.paying(ann2, "order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 2, qty = 1}}}))
    assert.equal(1, r.lines[2].qty)
    local ev = last_event(o.number)
    assert.is_nil(ev.result.approvals)
    local perms = decisions(ev, "permits")
    assert.equal(1, #perms)
    assert.equal("S002", perms[1].store)
    assert.is_true(perms[1].answer)
    -- at S001, an S002 order: S001's policy gives cashiers nothing
    local o2 = assert(fx.paying(cees, "order.create", {customer = "C0001", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S002", 30)}}}))
    local _, err = ann:call("order.edit", {number = o2.number, version = o2.version,
      update_lines = {{line = 1, qty = 2}}})
    assert.equal("approval_required", err.code)
    assert.equal("other_store_orders", err.details.permission)
  end)

  it("A5: an approver not allowed at S002 is forbidden; a wrong PIN unauthenticated; one without the permission forbidden", function()
    local o, q = make(), quote()
    local before = fx.snapshot(db)
    for _, c in ipairs(changes(o, q)) do
      c[2].approval = EVA
      local _, err = cees:call(c[1], c[2])
      assert.equal("forbidden", err.code, c[1])
      c[2].approval = FENNA
      _, err = cees:call(c[1], c[2])
      assert.equal("forbidden", err.code, c[1])
      c[2].approval = {staff = "1002", pin = "0000"}
      _, err = cees:call(c[1], c[2])
      assert.equal("unauthenticated", err.code, c[1])
    end
    assert.equal(before, fx.snapshot(db))
    -- forbidden ranks before not_found
    local _, err = cees:call("order.cancel", {number = "S001-999999", approval = EVA})
    assert.equal("forbidden", err.code)
  end)

  it("A2/A5: every approver must be allowed at the signed-in store", function()
    local o2 = assert(fx.paying(cees, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)}}}))
    local before = fx.snapshot(db)
    local _, err = cees:call("order.ship", {number = o2.number, lines = {{line = 1, qty = 1}}, approval = EVA})
    assert.equal("forbidden", err.code)
    _, err = cees:call("order.create", {customer = "C0001", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S002", 30)}},
      deposit_override = {amount = 0, approval = EVA}})
    assert.equal("forbidden", err.code)
    _, err = cees:call("order.cancel", {number = o2.number, charge_override = {amount = 0, approval = EVA}})
    assert.equal("forbidden", err.code)
    assert.equal(before, fx.snapshot(db))
    -- the same manager where she may work is fine
    assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}},
      deposit_override = {amount = 0, approval = EVA}}))
  end)

  it("A5/F4: S002 picks up the S001 order's line for S002 without any permission, but not S001's lines", function()
    local o = make()
    local r = assert(fx.paying(cees, "order.pickup", {number = o.number, lines = {{line = 3, qty = 1}}}))
    assert.equal("invoiced", r.order.lines[3].status)
    assert.equal(v001, r.order.policy_version)
    local ev = last_event(o.number)
    assert.equal("order.pickup", ev.op)
    assert.equal("1003", ev.staff)
    assert.equal(0, #decisions(ev, "permits"))
    assert.is_nil(ev.result.approvals)
    local _, err = cees:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}})
    assert.equal("validation", err.code)   -- picked up at S001, not here
  end)

  it("A5: not_found, validation, invalid_state and conflict rank before approval_required", function()
    local o = make()
    local _, err = cees:call("order.edit", {number = "S001-999999", version = 1})
    assert.equal("not_found", err.code)
    _, err = cees:call("order.edit", {number = o.number, version = o.version, update_lines = {{line = 9, qty = 1}}})
    assert.equal("not_found", err.code)
    _, err = cees:call("order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 0}}})
    assert.equal("validation", err.code)
    _, err = cees:call("order.edit", {number = o.number, version = o.version + 1, update_lines = {{line = 2, qty = 1}}})
    assert.equal("conflict", err.code)
    _, err = cees:call("order.cancel", {number = o.number, version = o.version + 1})
    assert.equal("conflict", err.code)
    _, err = cees:call("order.ship", {number = o.number, lines = {{line = 2, qty = 1}}})
    assert.equal("validation", err.code)   -- a pickup line
    _, err = cees:call("order.return", {number = o.number, invoice = 1, lines = {{line = 4, qty = 5, reason = "x"}}})
    assert.equal("validation", err.code)
    assert(fx.paying(ann, "order.cancel", {number = o.number}))
    _, err = cees:call("order.cancel", {number = o.number})
    assert.equal("invalid_state", err.code)
    _, err = cees:call("order.edit", {number = o.number, version = o.version + 1, update_lines = {{line = 2, qty = 1}}})
    assert.equal("invalid_state", err.code)
  end)

  it("A5: the store's own orders need nothing more", function()
    local o2 = assert(fx.paying(cees, "order.create", {customer = "C0001", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S002", 30)}}}))
    -- S002's own money rules: 30 % deposit
    assert.equal(3870, o2.deposit.required)
    assert.equal(v002, o2.policy_version)
    local r = assert(fx.paying(cees, "order.edit", {number = o2.number, version = o2.version,
      update_lines = {{line = 1, qty = 2}}}))
    assert.equal(7740, r.deposit.required)
    assert.equal(0, #decisions(last_event(o2.number), "permits"))
    assert(fx.paying(cees, "order.cancel", {number = o2.number}))
  end)
end)
