-- order_corpus.lua: writes fuzz_order's seed corpus (tests/fuzz/corpus/order/):
-- real order documents, made through the corder Lua module and dumped from
-- the `doc` column. From the build directory:
--   LUA_CPATH="$PWD/?.so;;" LUA_PATH="../tests/lib/?.lua;;" CORDER_ROOT=.. \
--     lua5.4 ../tests/fuzz/order_corpus.lua ../tests/fuzz/corpus/order
local fx = require "fixture"

local out = assert(arg[1], "usage: order_corpus.lua DIR")
local db = fx.open{params = {default_shipping_charge = 995, refund_shipping_charges = true}}
local ann = assert(db:login("S001", "1001", "1234"))
local bram = assert(db:login("S001", "1002", "9999"))

local function dump(name, number)
  local doc = db:query("SELECT doc FROM orders WHERE number = ?", number)[1][1]
  local f = assert(io.open(out .. "/" .. name .. ".json", "w"))
  f:write(doc)
  f:close()
end

-- ship, pickup and carry-out lines; a deposit paid with a ref
local o = assert(fx.paying(ann, "order.create", {customer = "C0001", lines = {
  {item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = fx.date(40), method = "express"}},
  {item = "P200", qty = 2, delivery = fx.pickup("S001", 30)},
  {item = "P300", qty = 3, delivery = fx.carry()}}}))
dump("create", o.number)

-- its life: edit, pick up, ship with tracking, return with a reason, cancel
local e = assert(fx.paying(ann, "order.edit", {number = o.number, version = o.version,
  add_lines = {{item = "P400", qty = 1, delivery = fx.ship("work", 41)}}}))
assert(fx.paying(ann, "order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}}))
local sh = assert(fx.paying(bram, "order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
  tracking = "TRK-0001"}))
assert(bram:call("order.return", {number = o.number, invoice = sh.invoice.id,
  lines = {{line = 1, qty = 1, reason = "damaged"}}}))
dump("lifecycle", o.number)
assert(fx.paying(ann, "order.cancel", {number = o.number, reason = "customer moved"}))
dump("cancelled", o.number)
assert(e)

-- a quote, and a cash-and-carry sale
local q = assert(ann:call("order.create", {customer = "C0002", type = "quote", lines = {
  {item = "P500", qty = 2, delivery = fx.ship("shop", 40)}}}))
dump("quote", q.number)
local c = assert(fx.paying(ann, "order.create", {lines = {{item = "P900", qty = 4, delivery = fx.carry()}}}))
dump("cash_and_carry", c.number)

-- multi-byte text at the limits of its fields, a deposit override
local cust = assert(ann:call("customer.create", {name = ("a"):rep(123) .. "\xF0\x9F\x98\x80",
  addresses = {{id = ("h"):rep(61) .. "\xC3\xA9", street = "x"}}}))
local m = assert(fx.paying(ann, "order.create", {customer = cust.account, lines = {
  {item = "P100", qty = 1, delivery = {mode = "ship", address = ("h"):rep(61) .. "\xC3\xA9",
    date = fx.date(40), method = ("m"):rep(60) .. "\xE2\x82\xAC"}}},
  deposit_override = {amount = 0, approval = {staff = "1002", pin = "9999"}},
  payments = {{tender = "card", amount = 100, ref = "\"quoted\" \\ \t\1"}}}))
dump("text", m.number)
