-- outbox_spec.lua: an upload event announces a version of its order and
-- is sent with that version's whole document (SPEC S2, S3; outbox.c).
--
-- The document is written once per version: the event row names the
-- version (no second copy), and a version an edit replaces moves to
-- order_docs, so an event still queued when its order has moved on is
-- sent with the document it announced, never a later one.
local fx = require "fixture"
local cjson = require "cjson"

describe("the outbox (S2)", function()
  local db, ann
  setup(function()
    db = fx.open{params = {default_shipping_charge = 995}}
    ann = assert(db:login("S001", "1001", "1234"))
  end)

  it("S2: every event of an order carries the document of the version it announces", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001",
      lines = {{item = "P100", qty = 1, delivery = fx.pickup("S001", 20)}}}))
    local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
      update_lines = {{line = 1, qty = 2}}}))
    assert.equal(2, e.version)
    local p = assert(fx.paying(ann, "order.pickup", {number = o.number,
      lines = {{line = 1, qty = 2}}}))
    assert.equal(3, (p.order or p).version)
    local ev = db:query("SELECT type, version, payload FROM outbox_events"
      .. " WHERE order_number = ? ORDER BY seq", o.number)
    assert.equal(3, #ev)
    local want = {"order.create", "order.edit", "order.pickup"}
    for i, r in ipairs(ev) do
      assert.equal(want[i], r[1])
      assert.equal(i, r[2])
      local doc = cjson.decode(r[3])
      assert.equal(o.number, doc.number)
      assert.equal(i, doc.version)
    end
    -- what each version said: one line of 1, then of 2, then picked up
    assert.equal(1, cjson.decode(ev[1][3]).lines[1].qty)
    assert.equal(2, cjson.decode(ev[2][3]).lines[1].qty)
    assert.equal(2, cjson.decode(ev[3][3]).lines[1].qty_invoiced)
  end)

  it("S2: an event stores no second copy of the document; superseded versions are kept once", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001",
      lines = {{item = "P100", qty = 1, delivery = fx.pickup("S001", 20)}}}))
    local r = db:query("SELECT count(*) FROM outbox WHERE order_number = ? AND payload IS NULL"
      .. " AND version = 1", o.number)[1]
    assert.equal(1, r[1])
    assert.equal(0, db:query("SELECT count(*) FROM order_docs WHERE number = ?", o.number)[1][1])
    local v1 = db:query("SELECT doc FROM orders WHERE number = ?", o.number)[1][1]
    assert(fx.paying(ann, "order.edit", {number = o.number, version = 1,
      update_lines = {{line = 1, qty = 3}}}))
    local kept = db:query("SELECT version, doc FROM order_docs WHERE number = ?", o.number)
    assert.equal(1, #kept)
    assert.equal(1, kept[1][1])
    assert.equal(v1, kept[1][2])
  end)

  it("S2: a change refused for a stale version keeps nothing, the old version included", function()
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001",
      lines = {{item = "P100", qty = 1, delivery = fx.pickup("S001", 20)}}}))
    assert(fx.paying(ann, "order.edit", {number = o.number, version = 1,
      update_lines = {{line = 1, qty = 2}}}))
    local before = fx.snapshot(db)
    local r, err = fx.paying(ann, "order.edit", {number = o.number, version = 1,
      update_lines = {{line = 1, qty = 4}}})
    assert.is_nil(r)
    assert.equal("conflict", err.code)
    assert.equal(before, fx.snapshot(db))
    assert.equal(1, db:query("SELECT count(*) FROM order_docs WHERE number = ?", o.number)[1][1])
  end)
end)
