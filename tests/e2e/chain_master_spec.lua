-- chain_master_spec.lua: SPEC C4, master data flows down from HQ. Three
-- real processes, each with its own database: HQ and two store servers.
-- Store A starts from the whole test seed, store B from nothing but its own
-- store: everything else it learns from HQ. A change at HQ (`corder init`
-- on HQ with a changed seed) reaches both stores within 10 s without
-- touching an open order (O2); a customer created at A is found at B
-- within 10 s; staff taken off a store cannot sign in there and their
-- open session ends; a new PIN applies at the next sign-in; with HQ down
-- a store keeps serving and sync.status says how old its master data is,
-- and it catches up when HQ is back. Runs on both HQ backends (ctest's
-- @pg entry).
local e2e = require "e2e"
local cjson = require "cjson"

local function seed_with(dir, name, fn)
    return e2e.seed_variant(dir, name, fn)
end

local function staff_of(seed, id)
    for _, s in ipairs(seed.staff) do if s.id == id then return s end end
end

local function product_of(seed, item)
    for _, p in ipairs(seed.products) do if p.item == item then return p end end
end

-- The unit price a new order at this client's store would get for item.
local function price_now(c, item)
    local r = c:call("order.preview", {customer = "C0001", type = "order",
        lines = {{item = item, qty = 1, delivery = {mode = "ship", address = "home", date = e2e.date(7)}}}})
    if not r.ok then return nil, r.error end
    return r.result.lines[1].unit_price
end

describe("C4: master data flows down from HQ", function()
    local hq, a, b, dir
    local changes = {} -- every change made to HQ's seed so far, applied in order

    -- Re-seeds HQ with the test seed plus every change so far (a seed says
    -- how things are now, so each one carries the earlier changes too).
    local function hq_change(fn)
        changes[#changes + 1] = fn
        local path = seed_with(dir, "hq" .. #changes, function(t)
            for _, f in ipairs(changes) do f(t) end
        end)
        local code, _, err = hq:hq_seed(path)
        assert.are.equal(0, code, err)
        return e2e.now()
    end

    setup(function()
        dir = e2e.tmpdir()
        hq = e2e.hq()
        a = e2e.store(hq.port)
        -- B knows only its own store at first
        local own = seed_with(dir, "b", function(t)
            t.stores = {t.stores[2]}
            t.staff, t.customers, t.products = nil, nil, nil
        end)
        b = e2e.store(hq.port, {seed = own})
    end)
    teardown(function()
        if b then b:cleanup() end
        if a then a:cleanup() end
        if hq then hq:cleanup() end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("C4: a store starts from what HQ has (B had only its store)", function()
        local c = b:connect()
        e2e.wait_for(function()
            return c:call("session.login", {store = "S002", staff = "1003", pin = "5555"}).ok
        end, 10, "B learning its staff from HQ")
        assert.are.equal(49900, e2e.wait_for(function() return price_now(c, "P100") end, 10, "P100 at B"))
        local st = c:ok("sync.status").master
        assert.is_true(st.version > 0)
        assert.is_string(st.source)
        assert.is_true(st.age_s >= 0 and st.age_s < 10, cjson.encode(st))
        -- each page applied is logged
        local logged = b:sql("SELECT count(*) FROM txlog WHERE op = 'master.apply'")
        assert.is_true(tonumber(logged) >= 1)
        c:close()
    end)

    it("C4, O2: a new price at HQ reaches both stores within 10 s; open orders keep theirs", function()
        local ca, cb = a:connect(), b:connect()
        ca:login("S001", "1001", "1234")
        cb:login("S002", "1003", "5555")
        e2e.wait_for(function() return price_now(cb, "P100") end, 10, "B's master data")
        local open = ca:call_paying("order.create", e2e.hybrid_order())
        assert.is_true(open.ok, cjson.encode(open.error))
        local number = open.result.number
        assert.are.equal(49900, open.result.lines[1].unit_price)

        local t0 = hq_change(function(t) product_of(t, "P100").price = 55500 end)
        e2e.wait_for(function() return price_now(ca, "P100") == 55500 end, 10, "the new price at A")
        e2e.wait_for(function() return price_now(cb, "P100") == 55500 end, 10, "the new price at B")
        assert.is_true(e2e.now() - t0 < 10, "took " .. (e2e.now() - t0) .. " s")

        -- the open order is untouched: same price, same version
        local kept = ca:ok("order.get", {number = number})
        assert.are.equal(49900, kept.lines[1].unit_price)
        assert.are.equal(open.result.version, kept.version)
        assert.are.equal(open.result.totals.order, kept.totals.order)
        -- a new order at either store gets the new price
        local fresh = ca:call_paying("order.create", e2e.hybrid_order())
        assert.are.equal(55500, fresh.result.lines[1].unit_price)
        local at_b = cb:call_paying("order.create", e2e.hybrid_order())
        assert.is_true(at_b.ok, at_b.error and cjson.encode(at_b.error))
        assert.are.equal(55500, at_b.result.lines[1].unit_price)
        ca:close()
        cb:close()
    end)

    it("C4: a customer created at store A is found at store B within 10 s", function()
        local ca, cb = a:connect(), b:connect()
        ca:login("S001", "1001", "1234")
        cb:login("S002", "1003", "5555")
        local t0 = e2e.now()
        local account = ca:ok("customer.create", {name = "Zora Chainwalker", email = "zora@example.com",
            addresses = {{id = "home", street = "Kade 9", city = "Utrecht", zip = "3511 AA", country = "NL"}}}).account
        local found = e2e.wait_for(function()
            local r = cb:ok("customer.find", {q = "Chainwalker"}).customers
            return r[1]
        end, 10, "the customer at B")
        assert.is_true(e2e.now() - t0 < 10)
        assert.are.equal(account, found.account)
        assert.are.equal("zora@example.com", found.email)
        -- B can take an order for them, shipped to the address made at A
        local order = e2e.hybrid_order()
        order.customer = account
        order.lines[2].delivery.store = "S002"
        local r = cb:call_paying("order.create", order)
        assert.is_true(r.ok, r.error and cjson.encode(r.error))
        assert.are.equal(account, r.result.customer)
        -- an address added at B goes up and down to A as well
        cb:ok("customer.add_address", {account = account, address = {id = "work", city = "Zeist", country = "NL"}})
        e2e.wait_for(function()
            local c = ca:ok("customer.get", {account = account})
            return #c.addresses == 2
        end, 10, "B's address at A")
        -- HQ holds the customer: its orders synchronize (S4) instead of failing
        local h = hq:connect()
        h:login_store("S002")
        e2e.wait_for(function() return cb:ok("sync.status").uploaded + cb:ok("sync.status").synchronized > 0 end,
            10, "the upload")
        local sync = h:ok("hq.synchronize", {})
        assert.are.equal(0, sync.failed)
        h:close()
        ca:close()
        cb:close()
    end)

    it("C4: staff taken off a store cannot sign in there, and their open session ends", function()
        local ca = a:connect()
        ca:login("S001", "1001", "1234") -- Ann works at S001 and S002
        ca:ok("sync.status")
        local t0 = hq_change(function(t) staff_of(t, "1001").stores = {"S002"} end)
        e2e.wait_for(function()
            local r = a:connect():call("session.login", {store = "S001", staff = "1001", pin = "1234"})
            return not r.ok and r.error.code == "forbidden"
        end, 10, "Ann refused at S001")
        assert.is_true(e2e.now() - t0 < 10)
        -- her open session at S001 ends with its next request
        local r = ca:call("sync.status")
        assert.are.equal("unauthenticated", r.error.code)
        assert.matches("session ended", r.error.message)
        assert.are.equal("unauthenticated", ca:call("order.find", {}).error.code)
        -- she still works at S002
        a:connect():login("S002", "1001", "1234")
        ca:close()
    end)

    it("C4: staff removed from the chain cannot sign in anywhere", function()
        local cb = b:connect()
        local ca = a:connect()
        ca:login("S003", "1004", "4444")
        local t0 = hq_change(function(t) t.remove = {staff = {"1004"}} end)
        e2e.wait_for(function()
            local r = a:connect():call("session.login", {store = "S003", staff = "1004", pin = "4444"})
            return not r.ok and r.error.code == "unauthenticated"
        end, 10, "Dirk refused")
        assert.is_true(e2e.now() - t0 < 10)
        assert.are.equal("unauthenticated", ca:call("sync.status").error.code)
        e2e.wait_for(function()
            return b:sql("SELECT count(*) FROM staff WHERE id = '1004'"):match("^0") ~= nil
        end, 10, "Dirk gone at B")
        cb:close()
        ca:close()
    end)

    it("C4: a changed PIN applies at the next sign-in; the open session goes on", function()
        local ca = a:connect()
        ca:login("S001", "1002", "9999") -- Bob, manager
        hq_change(function(t)
            staff_of(t, "1002").pin = "8888"
            staff_of(t, "1002").role = "supervisor"
        end)
        -- wait for the change to arrive before signing in with the new PIN:
        -- trying it meanwhile would count wrong PINs toward Bob's lockout
        e2e.wait_for(function()
            return a:sql("SELECT role FROM staff WHERE id = '1002'"):match("supervisor") ~= nil
        end, 10, "Bob's new PIN and role at A")
        local r = a:connect():call("session.login", {store = "S001", staff = "1002", pin = "8888"})
        assert.is_true(r.ok, r.error and r.error.message)
        local who = r.result
        assert.are.equal("supervisor", who.role)
        local old = a:connect():call("session.login", {store = "S001", staff = "1002", pin = "9999"})
        assert.are.equal("unauthenticated", old.error.code)
        -- the session signed in before goes on (the change is for new sign-ins)
        assert.is_true(ca:call("sync.status").ok)
        ca:close()
    end)

    it("C4: HQ down: the store keeps serving and says how old its master data is; then catches up", function()
        local cb = b:connect()
        cb:login("S002", "1003", "5555")
        hq:stop()
        local t0 = e2e.now()
        -- serving on what it has: an order (S002 creates async) and a find
        local r = cb:call_paying("order.create", (function()
            local o = e2e.hybrid_order()
            o.lines[2].delivery.store = "S002"
            return o
        end)())
        assert.is_true(r.ok, r.error and cjson.encode(r.error))
        assert.are.equal(55500, r.result.lines[1].unit_price)
        assert.is_truthy(cb:ok("customer.find", {q = "Chainwalker"}).customers[1])
        -- sync.status: the age grows, and says why
        local st = e2e.wait_for(function()
            local m = cb:ok("sync.status").master
            return m.age_s >= 4 and m.error and m
        end, 15, "the master data's age")
        assert.matches("HQ", st.error)
        assert.is_true(st.age_s <= e2e.now() - t0 + 4, cjson.encode(st))
        -- a change at HQ while it is down, then HQ back
        hq_change(function(t) product_of(t, "P200").price = 13900 end)
        hq:start()
        local back = e2e.now()
        e2e.wait_for(function() return price_now(cb, "P200") == 13900 end, 15, "B catching up")
        assert.is_true(e2e.now() - back < 12, "took " .. (e2e.now() - back) .. " s")
        local m = e2e.wait_for(function()
            local x = cb:ok("sync.status").master
            return x.error == nil and x
        end, 10, "the error gone")
        assert.is_true(m.age_s < 5)
        cb:close()
    end)
end)
