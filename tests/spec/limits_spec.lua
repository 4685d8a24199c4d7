-- limits_spec.lua: how large an order may grow (README "Limits of an
-- order"; ORDER_MAX_LINES and ORDER_MAX_DOC_BYTES in engine/order.h).
--
-- The attack (reproduced by a reviewer): fifteen order.edit requests, each
-- adding 500 lines, made a 7,500-line quote whose upload event (1.4 MB) was
-- over HQ's 1 MiB line; the uploader failed every round and later orders
-- stayed pending. The rule: an order holds at most 500 lines, cancelled ones
-- included (numbers are never reused), and its stored document at most
-- 256 KiB; over either the request is refused and the order stays as it was.
local fx = require "fixture"
local cjson = require "cjson"

local MAX_LINES = 500
local MAX_DOC = 256 * 1024

local function lines(n, delivery)
  local t = {}
  for i = 1, n do t[i] = {item = "P900", qty = 1, delivery = delivery or fx.ship("home", 40)} end
  return t
end

-- A ship delivery whose method is 63 control characters: each is written
-- \u00XX, so a line takes ~570 bytes of document instead of ~190.
local function heavy(days)
  local d = fx.ship("home", days or 40)
  d.method = ("\1"):rep(63)
  return d
end

local function row(db, number)
  local r = db:query("SELECT version, length(doc), doc FROM orders WHERE number = ?", number)[1]
  return {version = r[1], bytes = r[2], doc = r[3]}
end

local function outbox_max(db, number)
  return db:query("SELECT max(length(payload)), count(*) FROM outbox_events WHERE order_number = ?", number)[1]
end

describe("limits of an order", function()
  local db, ann, bram
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995}}
    ann = assert(db:login("S001", "1001", "1234"))
    bram = assert(db:login("S001", "1002", "9999"))
  end)

  it("the reviewer's attack: edits adding 500 lines each stop at 500 lines with validation; the order stays as it was", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", type = "quote", lines = lines(100)}))
    local v = o.version
    for _ = 1, 4 do   -- 100 + 4 × 100 = 500: exactly at the cap
      local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = v, add_lines = lines(100)}))
      v = e.version
    end
    local before = fx.snapshot(db)
    -- the attack's request: 500 more lines
    local r, err = fx.paying(ann, "order.edit", {number = o.number, version = v, add_lines = lines(500)})
    assert.is_nil(r)
    assert.equal("validation", err.code)
    assert.equal("add_lines", err.details.field)
    assert.truthy(err.message:find("500", 1, true))
    -- one line more is refused the same way
    r, err = fx.paying(ann, "order.edit", {number = o.number, version = v, add_lines = lines(1)})
    assert.equal("validation", err.code)
    assert.equal("add_lines", err.details.field)
    assert.equal(before, fx.snapshot(db))
    -- the order is as it was, and reads back
    local g = assert(ann:call("order.get", {number = o.number}))
    assert.equal(v, g.version)
    assert.equal(MAX_LINES, #g.lines)
    assert.equal(MAX_LINES, g.lines[MAX_LINES].line)
    assert(ann:call("order.find", {customer = "C0001"}))
    assert(ann:call("order.history", {number = o.number}))
    -- every upload event of it is under the bound
    local ob = outbox_max(db, o.number)
    assert.equal(5, ob[2])
    assert.truthy(ob[1] < MAX_DOC)
    assert.truthy(row(db, o.number).bytes < MAX_DOC)
    -- other changes still work at the cap: lines updated, the quote confirmed
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = v,
      update_lines = {{line = 1, qty = 2}}}))
    assert.equal(v + 1, e.version)
    assert(fx.paying(ann, "order.confirm_quote", {number = o.number}))
  end)

  it("cancelled lines count: their numbers are never reused", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = lines(MAX_LINES)}))
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      remove_lines = {1, 2, 3}}))
    assert.equal("cancelled", e.lines[1].status)
    local r, err = fx.paying(ann, "order.edit", {number = o.number, version = e.version,
      add_lines = lines(1)})
    assert.is_nil(r)
    assert.equal("validation", err.code)
    assert.equal("add_lines", err.details.field)
    assert.equal(e.version, assert(ann:call("order.get", {number = o.number})).version)
  end)

  it("a create or preview over 500 lines is refused (bad_request on lines, as every list of lines) and keeps nothing", function()
    local before = fx.snapshot(db)
    for _, op in ipairs{"order.create", "order.preview"} do
      local r, err = fx.paying(ann, op, {customer = "C0001", lines = lines(MAX_LINES + 1)})
      assert.is_nil(r)
      assert.equal("bad_request", err.code)
      assert.equal("lines", err.details.field)
    end
    assert.equal(before, fx.snapshot(db))
  end)

  it("the document's bytes: a create or preview over 256 KiB is validation naming the largest list; nothing is kept", function()
    local before = fx.snapshot(db)
    for _, op in ipairs{"order.preview", "order.create"} do
      local r, err = fx.paying(ann, op, {customer = "C0001", lines = lines(MAX_LINES, heavy())})
      assert.is_nil(r)
      assert.equal("validation", err.code)
      assert.equal("lines", err.details.field)
      assert.truthy(err.message:find(tostring(MAX_DOC), 1, true))
    end
    assert.equal(before, fx.snapshot(db))
  end)

  it("the document's bytes: edits growing an order past 256 KiB are refused; the order stays readable at its version", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = lines(250, heavy())}))
    local before = fx.snapshot(db)
    local r, err = fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      add_lines = lines(250, heavy(41))})
    assert.is_nil(r)
    assert.equal("validation", err.code)
    assert.equal("lines", err.details.field)
    assert.equal(before, fx.snapshot(db))
    local g = assert(ann:call("order.get", {number = o.number}))
    assert.equal(o.version, g.version)
    assert.equal(250, #g.lines)
    assert.equal(("\1"):rep(63), g.lines[250].delivery.method)
  end)

  it("every save checks the bytes: ships adding invoices stop with validation before the document passes 256 KiB", function()
    -- ~250 KB of lines, then one shipment per line, each invoice with a
    -- tracking text of 63 control characters (~560 bytes of document)
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = lines(470, heavy())}))
    assert.truthy(row(db, o.number).bytes > 240 * 1024)
    local refused
    for i = 1, 60 do
      local before = fx.snapshot(db)
      local r, err = fx.paying(bram, "order.ship", {number = o.number, lines = {{line = i, qty = 1}},
        tracking = ("\2"):rep(63)})
      if not r then
        assert.equal("validation", err.code)
        assert.truthy(err.details.field == "lines" or err.details.field == "invoices")
        assert.equal(before, fx.snapshot(db))
        refused = i
        break
      end
      assert.truthy(row(db, o.number).bytes <= MAX_DOC)
    end
    assert.truthy(refused and refused > 1)
    local g = assert(ann:call("order.get", {number = o.number}))
    assert.equal(refused - 1, #g.invoices)
    local ob = outbox_max(db, o.number)
    assert.truthy(ob[1] <= MAX_DOC)
    -- the document read back is the one stored
    assert.equal(g.version, cjson.decode(row(db, o.number).doc).version)
  end)

  it("a store that creates orders at HQ refuses a too large order before asking HQ", function()
    local sdb = fx.open{seed = function(t) t.stores[1].order_creation = "sync" end}
    local s = assert(sdb:login("S001", "1001", "1234"))
    local r, err = fx.paying(s, "order.create", {customer = "C0001", lines = lines(MAX_LINES, heavy())})
    assert.is_nil(r)
    assert.equal("validation", err.code)   -- not hq_unavailable: HQ was never asked
    assert.equal("lines", err.details.field)
    sdb:close()
  end)

  it("per request: at most 20 payments, 500 lines in every list of lines", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = lines(2, fx.pickup("S001", 30))}))
    local pays = {}
    for i = 1, 21 do pays[i] = {tender = "card", amount = 1} end
    local _, err = ann:call("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}, payments = pays})
    assert.equal("bad_request", err.code)
    assert.equal("payments", err.details.field)
    for _, op in ipairs{"order.pickup", "order.ship", "order.return"} do
      local ret = op == "order.return"
      local sel = {}
      for i = 1, MAX_LINES + 1 do sel[i] = {line = 1, qty = 1, reason = ret and "x" or nil} end
      _, err = bram:call(op, {number = o.number, invoice = ret and 1 or nil, lines = sel})
      assert.equal("bad_request", err.code)
      assert.equal("lines", err.details.field)
    end
    for _, k in ipairs{"update_lines", "remove_lines"} do
      local sel = {}
      for i = 1, MAX_LINES + 1 do sel[i] = k == "remove_lines" and 1 or {line = 1} end
      _, err = ann:call("order.edit", {number = o.number, version = o.version, [k] = sel})
      assert.equal("bad_request", err.code)
      assert.equal(k, err.details.field)
    end
  end)
end)
