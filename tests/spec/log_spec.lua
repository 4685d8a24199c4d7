-- log_spec.lua: SPEC F8 (every change in the transaction log, with who,
-- when, what and the policy version, and what the policy was asked and
-- answered), atomic failure (a failed request leaves the store, the log
-- and the numbering exactly as they were) and idempotency keys.
local fx = require "fixture"
local cjson = require "cjson"

local broken_deposit = [[
local p = { parameters = { default_shipping_charge = 500 } }
function p.deposit(order, ctx)
  if order.totals.order > 100000 then error("deposit table has no tier for this") end
  return corder.pct(order.deposit.base, 10)
end
return p
]]

describe("transaction log (F8)", function()
  local db, ann, bram
  setup(function()
    db = fx.open{policy = broken_deposit}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  local function make()
    return assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.ship("home", 40)},
      {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)}}}))
  end

  it("F8: every change is logged in order: who, when, op, policy version, decisions", function()
    local o = make()
    assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}}))
    assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}))
    assert(fx.paying(ann, "order.cancel", {number = o.number}))
    local h = assert(ann:call("order.history", {number = o.number}))
    local ops = {}
    for i, ev in ipairs(h.events) do
      ops[i] = ev.op
      assert.truthy(ev.at:match("^%d%d%d%d%-%d%d%-%d%dT"))
      assert.equal(64, #ev.policy_version)
      if i > 1 then assert.truthy(ev.seq > h.events[i - 1].seq) end
    end
    assert.same({"order.create", "order.pickup", "order.ship", "order.cancel"}, ops)
    assert.equal("1001", h.events[1].staff)
    assert.equal("1002", h.events[3].staff)
    -- what the policy was asked and answered, with its inputs, for replay
    local d = h.events[1].decisions
    local hooks = {}
    for _, x in ipairs(d) do hooks[x.hook] = x end
    assert.equal("policy", hooks.deposit.by)
    assert.equal(o.deposit.required, hooks.deposit.answer)
    -- the order argument by reference: the order as this entry saved it
    -- (its document is kept per version), not a copy in every decision
    assert.equal("$order", hooks.deposit.args[1])
    local cancel = {}
    for _, x in ipairs(h.events[4].decisions) do cancel[x.hook] = x end
    assert.equal("$order_before", cancel.cancellation_charge.args[1])  -- the order it cancelled
    assert.truthy(#cjson.encode(d) < 1024, "the create's decisions carry no order copies")
    -- order.history names each decision's store and policy version; the
    -- log writes them only where they change (the first decision has both)
    assert.truthy(#d >= 2)
    for _, x in ipairs(d) do
      assert.equal("S001", x.store)
      assert.equal(h.events[1].policy_version, x.policy_version)
    end
    local raw = cjson.decode(db:query("SELECT decisions FROM txlog WHERE order_number = '"
      .. o.number .. "' ORDER BY seq LIMIT 1")[1][1])
    assert.equal(#d, #raw)
    assert.equal("S001", raw[1].store)
    assert.equal(h.events[1].policy_version, raw[1].policy_version)
    for i = 2, #raw do
      assert.is_nil(raw[i].store)
      assert.is_nil(raw[i].policy_version)
    end
    assert.equal("default", hooks.shipping_charge.by)   -- hook left out: SPEC default
    assert.equal(500, hooks.shipping_charge.answer)
    -- the ship by a manager asked permits
    local asked = false
    for _, x in ipairs(h.events[3].decisions) do asked = asked or (x.hook == "permits" and x.answer == true) end
    assert.is_true(asked)
  end)

  it("F8: PINs never reach the log", function()
    local o = make()
    assert(ann:call("order.cancel", {number = o.number, charge_override = {amount = 0, approval = {staff = "1002", pin = "9999"}}}))
    for _, row in ipairs(db:query("SELECT request FROM txlog")) do
      assert.is_nil(row[1]:find("9999", 1, true))
    end
  end)

  it("a policy fault fails that one request with policy_error naming file:line, and changes nothing", function()
    local before = fx.snapshot(db)
    local _, err = ann:call("order.create", {customer = "C0001", lines = {
      {item = "P500", qty = 1, delivery = fx.ship("home", 40)}}})
    assert.equal("policy_error", err.code)
    assert.truthy(err.message:find("default.lua:3:", 1, true))
    assert.equal(before, fx.snapshot(db))
    assert(make())  -- the engine goes on
  end)

  it("failed requests leave the store, the log and the numbering exactly as they were", function()
    local o = make()
    local attempts = {
      {"order.create", {customer = "C0001", lines = {{item = "P100", qty = 1, delivery = fx.ship("home", 40)}}, payments = fx.cash(1)}},
      {"order.edit", {number = o.number, version = o.version + 7, update_lines = {{line = 2, qty = 1}}}},
      {"order.edit", {number = o.number, version = o.version, add_lines = {{item = "P300", qty = 1, delivery = fx.pickup("S001", -5)}}}},
      {"order.pickup", {number = o.number, lines = {{line = 2, qty = 5}}}},
      {"order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}},
      {"order.cancel", {number = o.number, payments = fx.cash(77777)}},
      {"order.return", {number = o.number, invoice = 1, lines = {{line = 1, qty = 1, reason = "x"}}}},
      {"order.confirm_quote", {number = o.number}},
      {"customer.add_address", {account = "C0001", address = {id = "home", street = "x"}}},
      {"customer.create", {name = ""}},
    }
    for _, a in ipairs(attempts) do
      local before = fx.snapshot(db)
      local r, err = ann:call(a[1], a[2])
      assert.is_nil(r, a[1])
      assert.truthy(err.code, a[1])
      assert.equal(before, fx.snapshot(db), a[1] .. " changed the store: " .. err.code)
    end
    -- the next order takes the very next number
    local last = db:query("SELECT max(number) FROM orders")[1][1]
    local n = make()
    assert.equal(tonumber(last:match("%d+$")) + 1, tonumber(n.number:match("%d+$")))
  end)

  it("idempotency keys: a retry returns the first result and changes nothing", function()
    local args = {customer = "C0001", idempotency_key = "till3-0042", lines = {
      {item = "P200", qty = 1, delivery = fx.pickup("S001", 30)}}, payments = fx.cash(1290)}
    local a = assert(ann:call("order.create", args))
    local before = fx.snapshot(db)
    local b = assert(ann:call("order.create", args))
    assert.equal(a.number, b.number)
    assert.equal(before, fx.snapshot(db))
    args.lines[1].qty = 2
    local _, err = ann:call("order.create", args)
    assert.equal("conflict", err.code)
    assert.equal("idempotency_key", err.details.field)
  end)
end)

describe("policy faults with bytes that are not UTF-8 (L2)", function()
  it("still answer policy_error with a valid message naming file:line", function()
    local db = fx.open{policy = "local p = {}\nfunction p.deposit() error('bad \\255 byte') end\nreturn p\n"}
    local s = assert(db:login("S001", "1001", "1234"))
    local before = fx.snapshot(db)
    local _, err = s:call("order.create", {customer = "C0001", lines = {
      {item = "P100", qty = 1, delivery = fx.pickup("S001", 10)}}})
    assert.equal("policy_error", err.code)
    assert.truthy(err.message:find("default.lua:2:", 1, true), err.message)
    assert.truthy(err.message:find("bad ? byte", 1, true), err.message)
    assert.equal(before, fx.snapshot(db))
  end)
end)

describe("customers (SPEC 1)", function()
  it("POS staff create customers and add addresses", function()
    local db = fx.open()
    local s = assert(db:login("S002", "1003", "5678"))
    local c = assert(s:call("customer.create", {name = "Els de Boer", email = "els@example.com",
      addresses = {{street = "Markt 1", city = "Delft", zip = "2611 GP", country = "NL"}}}))
    assert.truthy(c.account:match("^S002%-C"))
    local a = assert(s:call("customer.add_address", {account = c.account, address = {street = "Oude Delft 2", city = "Delft"}}))
    assert.equal("a2", a.id)
    local got = assert(s:call("customer.get", {account = c.account}))
    assert.equal(2, #got.addresses)
    assert.equal("Els de Boer", got.name)
    local o = assert(fx.paying(s, "order.create", {customer = c.account, lines = {
      {item = "P100", qty = 1, delivery = {mode = "ship", address = a.id, date = fx.date(20)}}}}))
    assert.equal(c.account, o.customer)  -- the order object names the account
    local _, err = s:call("customer.get", {account = "NOPE"})
    assert.equal("not_found", err.code)
  end)
end)
