-- find_spec.lua: SPEC F12, finding. order.find by q (any part of the
-- number, the customer's name, phone or email, case-insensitive), by pickup
-- store and pickup dates, by open lines, combined with the older filters;
-- customer.find; what a bad or hostile q gets; and that finding changes
-- nothing.
local fx = require "fixture"

-- Two customers of our own beside the seed's: one whose name needs UTF-8
-- case folding, one whose phone is written with separators.
local function seed(t)
  t.customers[#t.customers + 1] = {account = "C0100", name = "Émile SStraße-Ölund",
    email = "EMILE@Voorbeeld.example", phone = "+33 (0)1 47-20.00/01",
    addresses = {{id = "home", street = "Rue 1", city = "Paris", zip = "75001", country = "FR"}}}
  t.customers[#t.customers + 1] = {account = "C0101", name = "Wim 100% Under_score \"Q\"",
    email = "wim@example.com", phone = "020 555 0199"}
end

local function numbers(r)
  local t = {}
  for i, o in ipairs(r.orders) do t[i] = o.number end
  return t
end

local function has(r, number)
  for _, o in ipairs(r.orders) do if o.number == number then return true end end
  return false
end

describe("F12: finding orders and customers", function()
  local db, ann, emile, wim, karin, quote, done, cash
  setup(function()
    db = fx.open{seed = seed}
    ann = assert(db:login("S001", "1001", "1234"))
    local function make(customer, lines, type)
      return assert(fx.paying(ann, "order.create", {customer = customer, lines = lines, type = type}))
    end
    karin = make("C0001", {{item = "P100", qty = 1, delivery = fx.pickup("S002", 10)}})
    emile = make("C0100", {{item = "P100", qty = 1, delivery = fx.pickup("S001", 20)},
                           {item = "P200", qty = 1, delivery = fx.ship("home", 40)}})
    wim = make("C0101", {{item = "P200", qty = 2, delivery = fx.pickup("S002", 30)}})
    quote = make("C0100", {{item = "P300", qty = 1, delivery = fx.pickup("S002", 30)}}, "quote")
    -- carried out at once: no open lines
    done = make("C0001", {{item = "P300", qty = 1, delivery = fx.carry()}})
    cash = make(nil, {{item = "P300", qty = 1, delivery = fx.carry()}})
  end)

  it("F12: q finds by part of a phone number, as typed or without separators", function()
    local r = assert(ann:call("order.find", {q = "1234 56"}))   -- Karin: +31 6 1234 5678
    assert.same({done.number, karin.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "47-20.00"}))       -- Émile: (0)1 47-20.00/01
    assert.same({quote.number, emile.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "5550199"}))
    assert.same({wim.number}, numbers(r))
  end)

  it("F12: q finds by any part of the number", function()
    local tail = wim.number:sub(-4)
    local r = assert(ann:call("order.find", {q = tail}))
    assert.is_true(has(r, wim.number))
    r = assert(ann:call("order.find", {q = wim.number:lower()}))
    assert.same({wim.number}, numbers(r))
    r = assert(ann:call("order.find", {q = wim.number:sub(3)}))
    assert.same({wim.number}, numbers(r))
  end)

  it("F12: q finds by name and email, case-insensitive, UTF-8 letters folded", function()
    local r = assert(ann:call("order.find", {q = "karin SMIT"}))
    assert.same({done.number, karin.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "émile"}))
    assert.same({quote.number, emile.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "ÉMILE SSTRASSE"}))
    assert.same({}, numbers(r))                                -- ß is not ss
    r = assert(ann:call("order.find", {q = "straße-ÖL"}))
    assert.same({quote.number, emile.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "emile@voorbeeld"}))
    assert.same({quote.number, emile.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "emile s"}))        -- no diacritics folding
    assert.same({}, numbers(r))
  end)

  it("F12: newest first, and limit keeps the newest", function()
    local r = assert(ann:call("order.find", {q = "S001-"}))
    assert.same({cash.number, done.number, quote.number, wim.number, emile.number, karin.number},
      numbers(r))
    r = assert(ann:call("order.find", {q = "S001-", limit = 2}))
    assert.same({cash.number, done.number}, numbers(r))
    r = assert(ann:call("order.find", {}))
    assert.same({cash.number, done.number, quote.number, wim.number, emile.number, karin.number},
      numbers(r))
  end)

  it("F12: pickup_store and the pickup date range", function()
    local r = assert(ann:call("order.find", {pickup_store = "S002"}))
    assert.same({quote.number, wim.number, karin.number}, numbers(r))
    r = assert(ann:call("order.find", {pickup_store = "S002", pickup_from = fx.date(25)}))
    assert.same({quote.number, wim.number}, numbers(r))
    r = assert(ann:call("order.find", {pickup_store = "S002", pickup_to = fx.date(25)}))
    assert.same({karin.number}, numbers(r))
    r = assert(ann:call("order.find", {pickup_from = fx.date(15), pickup_to = fx.date(25)}))
    assert.same({emile.number}, numbers(r))                     -- any pickup store
    r = assert(ann:call("order.find", {pickup_store = "S001", pickup_from = fx.date(21)}))
    assert.same({}, numbers(r))
  end)

  it("F12: open keeps orders with open lines (not quotes, not all invoiced)", function()
    local r = assert(ann:call("order.find", {open = true}))
    assert.same({wim.number, emile.number, karin.number}, numbers(r))
    r = assert(ann:call("order.find", {open = false}))
    assert.same({cash.number, done.number, quote.number}, numbers(r))
  end)

  it("F12: the filters combine (AND)", function()
    local r = assert(ann:call("order.find", {q = "émile", open = true}))
    assert.same({emile.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "émile", pickup_store = "S002"}))
    assert.same({quote.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "karin", status = "invoiced"}))
    assert.same({done.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "karin", customer = "C0100"}))
    assert.same({}, numbers(r))
    r = assert(ann:call("order.find", {customer = "C0001", pickup_store = "S002", open = true,
      store = "S001", from = fx.date(-1), to = fx.date(1)}))
    assert.same({karin.number}, numbers(r))
    r = assert(ann:call("order.find", {q = "karin", from = fx.date(1)}))
    assert.same({}, numbers(r))
  end)

  it("F12: limit is 1..500 (default 50)", function()
    assert(ann:call("order.find", {limit = 500}))
    assert(ann:call("order.find", {limit = 1}))
    for _, bad in ipairs{0, 501, -1} do
      local _, err = ann:call("order.find", {limit = bad})
      assert.equal("bad_request", err.code)
      assert.equal("limit", err.details.field)
      _, err = ann:call("customer.find", {q = "karin", limit = bad})
      assert.equal("bad_request", err.code)
      assert.equal("limit", err.details.field)
    end
    for i = 1, 50 do
      assert(fx.paying(ann, "order.create", {lines = {{item = "P300", qty = 1, delivery = fx.carry()}}}))
    end
    assert.equal(50, #assert(ann:call("order.find", {})).orders)
    assert.equal(50, #assert(ann:call("order.find", {q = "S001-"})).orders)
    assert.equal(56, #assert(ann:call("order.find", {q = "S001-", limit = 500})).orders)
  end)

  it("F12: bad input is refused with details.field and changes nothing", function()
    local before = fx.snapshot(db)
    local cases = {
      {{q = ""}, "validation", "q"}, {{q = "   "}, "validation", "q"},
      {{q = "ab"}, "validation", "q"}, {{q = string.rep("x", 129)}, "validation", "q"},
      {{q = string.rep("x", 10240)}, "validation", "q"}, {{q = 5}, "bad_request", "q"},
      {{pickup_from = "tomorrow"}, "validation", "pickup_from"},
      {{pickup_to = "2026-02-30"}, "validation", "pickup_to"},
      {{from = "2026-1-1"}, "validation", "from"},
      {{to = string.rep("9", 300)}, "validation", "to"},
      {{open = "yes"}, "bad_request", "open"}, {{pickup_store = 1}, "bad_request", "pickup_store"},
      {{q = "ab", limit = 0}, "bad_request", "limit"},   -- bad_request ranks first
      {{nope = 1}, "bad_request", "nope"},
    }
    for _, c in ipairs(cases) do
      local _, err = ann:call("order.find", c[1])
      assert.is_table(err, c[3])
      assert.equal(c[2], err.code, c[3] .. ": " .. tostring(err.message))
      assert.equal(c[3], err.details.field)
    end
    for _, c in ipairs{{{}, "bad_request", "q"}, {{q = "x"}, "validation", "q"},
                       {{q = string.rep("é", 100)}, "validation", "q"}} do
      local _, err = ann:call("customer.find", c[1])
      assert.equal(c[2], err.code)
      assert.equal(c[3], err.details.field)
    end
    assert.equal(before, fx.snapshot(db))
  end)

  it("F12: a hostile q is literal text: LIKE, FTS5 syntax, quotes", function()
    local before = fx.snapshot(db)
    local function find(q) return numbers(assert(ann:call("order.find", {q = q}))) end
    assert.same({wim.number}, find("100%"))
    assert.same({}, find("10%0"))
    assert.same({wim.number}, find("Under_score"))
    assert.same({}, find("Under_scor_"))
    assert.same({wim.number}, find("\"Q\""))
    assert.same({}, find("\"\"\""))
    for _, q in ipairs{"smit OR joost", "smi*", "NEAR(smit joost)", "text:smit", "^smit",
                       "smit AND", "(((", "-smit", "{text}: smit", "'; DROP TABLE orders; --",
                       "%%%", "___", "*:*"} do
      assert.same({}, find(q), q)
    end
    assert.same({karin.number}, find(karin.number:sub(-6)))
    local r = assert(ann:call("customer.find", {q = "100% Under_score \"Q\""}))
    assert.equal("C0101", r.customers[1].account)
    -- a NUL inside q is refused before any search
    local _, err = ann:call("order.find", {q = "smi\0t"})
    assert.equal("bad_request", err.code)
    assert.equal("q", err.details.field)
    assert.equal(before, fx.snapshot(db))
  end)

  it("F12: customer.find by account, name, phone or email", function()
    local function accounts(q, limit)
      local r = assert(ann:call("customer.find", {q = q, limit = limit}))
      local t = {}
      for i, c in ipairs(r.customers) do t[i] = c.account end
      return t, r
    end
    local a, r = accounts("émile")
    assert.same({"C0100"}, a)
    assert.same({account = "C0100", name = "Émile SStraße-Ölund", email = "EMILE@Voorbeeld.example",
      phone = "+33 (0)1 47-20.00/01", b2b = false}, r.customers[1])
    assert.same({"C0001"}, (accounts("1234 5678")))
    assert.same({"C0001"}, (accounts("c0001")))
    assert.same({"C0002"}, (accounts("DEVRIES")))
    assert.same({"C0101", "C0003", "C0001"}, (accounts("example.com")))   -- newest first
    assert.same({"C0101"}, (accounts("example.com", 1)))
    assert.same({}, (accounts("nobody")))
  end)

  it("F12: a customer whose data changes is found by the new data", function()
    db:close()
    local function reseed(t)
      seed(t)
      t.customers[1].phone = "+31 6 7777 0000"
      t.customers[1].name = "Karin de Smit-Visser"
    end
    -- the fixture's database, seeded again with Karin changed
    local dir = fx.tmpdir()
    local cjson = require "cjson"
    local f = assert(io.open(fx.root .. "/examples/seed.json"))
    local t = cjson.decode(f:read("a"))
    f:close()
    reseed(t)
    fx.write(dir .. "/seed.json", cjson.encode(t))
    local dbdir
    db, dbdir = fx.open{seed = seed}
    ann = assert(db:login("S001", "1001", "1234"))
    local o = assert(fx.paying(ann, "order.create", {customer = "C0001",
      lines = {{item = "P100", qty = 1, delivery = fx.pickup("S002", 10)}}}))
    assert.same({o.number}, numbers(assert(ann:call("order.find", {q = "1234 5678"}))))
    local corder = require "corder"
    local path = dbdir .. "/t.db"
    db:close()
    db = assert(corder.open{db = path, policies = fx.root .. "/policies", seed = dir .. "/seed.json"})
    ann = assert(db:login("S001", "1001", "1234"))
    assert.same({}, numbers(assert(ann:call("order.find", {q = "1234 5678"}))))
    assert.same({o.number}, numbers(assert(ann:call("order.find", {q = "7777 00"}))))
    assert.same({o.number}, numbers(assert(ann:call("order.find", {q = "smit-visser"}))))
    assert.same({"C0001"}, (function()
      local r = assert(ann:call("customer.find", {q = "smit-VISSER"}))
      return {r.customers[1].account}
    end)())
  end)
end)
