-- hq_spec.lua: creation modes (SPEC S1) and HQ's side (S4) with real
-- processes: a sync-mode store asks HQ in real time without stalling other
-- clients, gives up cleanly (hq_unavailable, nothing kept) when HQ is down
-- or silent; the fallback mode queues instead; HQ's synchronize records
-- failures against its own master data, and hq.retry fixes them after the
-- master data is fixed; --sync-interval synchronizes by itself.
local e2e = require "e2e"
local socket = require "socket"
local cjson = require "cjson"

local function count(srv, sql) return tonumber((srv:sql(sql):gsub("%s", ""))) end

describe("sync mode", function()
    local dir, hq, st, silent
    setup(function()
        dir = e2e.tmpdir()
        hq = e2e.hq({no_start = true, sync_interval = 1})
        st = e2e.store(hq.port)
    end)
    teardown(function()
        if silent then silent:close() end
        st:cleanup()
        hq:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    local function clerk()
        local c = st:connect()
        c:login("S003", "1004", "4444")
        return c
    end

    it("HQ down: hq_unavailable at once, nothing kept", function()
        local c = clerk()
        local t0 = e2e.now()
        local r = c:call("order.create", e2e.carryout_order())
        assert.are.equal("hq_unavailable", r.error.code)
        assert.is_true(e2e.now() - t0 < 3.5)
        assert.are.equal(0, count(st, "SELECT count(*) FROM orders WHERE store = 'S003'"))
        assert.are.equal(0, count(st, "SELECT count(*) FROM outbox WHERE store = 'S003'"))
        -- a request that is wrong anyway does not bother HQ: its own error
        local bad = e2e.carryout_order()
        bad.lines[1].item = "NOPE"
        assert.are.equal("not_found", c:call("order.create", bad).error.code)
    end)

    it("HQ silent: gives up after the bound while other clients are served", function()
        -- a listener that never accepts: connects succeed, nothing answers
        st:stop()
        silent = assert(socket.bind("127.0.0.1", 0))
        local _, port = silent:getsockname()
        local quiet = e2e.store(tonumber(port), {no_start = true})
        quiet.db, quiet.dir = st.db, st.dir
        quiet:start()
        local c = quiet:connect()
        c:login("S003", "1004", "4444")
        local other = quiet:connect()
        other:login("S001", "1001", "1234")
        local t0 = e2e.now()
        local id = c:send("order.create", e2e.carryout_order())
        c:send("ping") -- pipelined behind it: answered after it, in order
        e2e.sleep(0.3)
        local t1 = e2e.now()
        other:ok("ping")
        other:ok("order.create", e2e.carryout_order())
        assert.is_true(e2e.now() - t1 < 1, "other clients wait for HQ")
        local r = assert(c:recv())
        assert.are.equal(id, r.id)
        assert.are.equal("hq_unavailable", r.error.code)
        local waited = e2e.now() - t0
        assert.is_true(waited > 2.5 and waited < 4.5, "gave up after " .. waited .. " s")
        assert.is_true(assert(c:recv()).result.pong)
        assert.are.equal(0, count(quiet, "SELECT count(*) FROM orders WHERE store = 'S003'"))
        quiet:stop()
        silent:close()
        silent = nil
        st:start()
    end)

    it("HQ up: the order is made at HQ in the same request", function()
        hq:start()
        local c = clerk()
        local o = c:ok("order.create", e2e.carryout_order())
        assert.are.equal("synchronized", o.sync.state)
        assert.matches("^HQ%-%d+$", o.sync.hq_order)
        -- the upload of its creation links HQ's sales order to the store number
        local h = hq:connect()
        h:login_store("S003")
        local ho = e2e.wait_for(function()
            local r = h:call("hq.order.get", {store = "S003", number = o.number})
            return r.ok and r.result
        end, 5, "the link")
        assert.are.equal(o.sync.hq_order, ho.hq_order)
        assert.are.equal("synchronized", ho.state)
        -- HQ refuses what its own master data does not know: a rule broken
        local cc = c:ok("customer.create", {name = "New at the store"})
        local x = e2e.carryout_order()
        x.customer = cc.account
        local r = c:call("order.create", x)
        assert.are.equal("validation", r.error.code)
        assert.is_truthy(r.error.message:find(cc.account, 1, true), r.error.message)
    end)
end)

describe("sync_with_async_fallback", function()
    local dir, hq, st
    setup(function()
        dir = e2e.tmpdir()
        local seed = e2e.seed_variant(dir, "fallback", function(s)
            for _, store in ipairs(s.stores) do
                if store.id == "S003" then store.order_creation = "sync_with_async_fallback" end
            end
        end)
        hq = e2e.hq({no_start = true, seed = seed})
        st = e2e.store(hq.port, {seed = seed})
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("queues when HQ is down and uploads when it is back", function()
        local c = st:connect()
        c:login("S003", "1004", "4444")
        local o = c:ok("order.create", e2e.carryout_order())
        assert.are.equal("pending", o.sync.state)
        assert.is_string(o.sync.error)
        hq:start()
        local up = c:ok("order.create", e2e.carryout_order())
        assert.are.equal("synchronized", up.sync.state)
        e2e.wait_for(function()
            return c:ok("order.get", {number = o.number}).sync.state == "uploaded"
        end, 15, "the queued order's upload")
        local h = hq:connect()
        h:login_store("S003")
        assert.are.equal(1, h:ok("hq.synchronize", {store = "S003"}).created)
        local orders = h:ok("hq.order.list", {store = "S003"}).orders
        assert.are.equal(2, #orders)
        for _, ho in ipairs(orders) do assert.are.equal("synchronized", ho.state) end
    end)
end)

describe("HQ synchronize", function()
    local dir, hq, st, full
    setup(function()
        dir = e2e.tmpdir()
        full = e2e.seed
        -- HQ's own master data lacks the lamp (P200)
        local lacking = e2e.seed_variant(dir, "hq", function(s)
            for i, p in ipairs(s.products) do
                if p.item == "P200" then table.remove(s.products, i) break end
            end
        end)
        hq = e2e.hq({seed = lacking})
        st = e2e.store(hq.port)
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("records a failure, the store learns it, a retry after the fix succeeds", function()
        local c = st:connect()
        c:login("S001", "1001", "1234")
        local r = c:call_paying("order.create", e2e.hybrid_order())
        assert.is_true(r.ok, cjson.encode(r))
        local number = r.result.number
        local plain = c:ok("order.create", e2e.carryout_order()).number
        e2e.wait_for(function() return c:ok("sync.status").uploaded == 2 end, 5, "the upload")
        local h = hq:connect()
        h:login_store("S001")
        local s = h:ok("hq.synchronize")
        assert.are.same({created = 1, failed = 1}, s)
        local f = h:ok("hq.failures", {store = "S001"}).failures
        assert.are.equal(1, #f)
        assert.are.equal(number, f[1].number)
        assert.matches("P200", f[1].error)
        local o = e2e.wait_for(function()
            local o = c:ok("order.get", {number = number})
            return o.sync.state == "failed" and o
        end, 6, "the store to learn the failure")
        assert.matches("P200", o.sync.error)
        assert.are.equal(1, o.sync.attempts)
        assert.are.equal("synchronized", c:ok("order.get", {number = plain}).sync.state)
        -- not yet fixed: the retry fails again and counts
        local again = h:ok("hq.retry", {store = "S001", number = number})
        assert.are.equal("failed", again.state)
        assert.are.equal(1, again.retries)
        -- fix HQ's master data while it runs, then retry
        local code, _, err = hq:hq_seed(full)
        assert.are.equal(0, code, err)
        local fixed = h:ok("hq.retry", {store = "S001", number = number})
        assert.are.equal("synchronized", fixed.state)
        assert.are.equal(2, fixed.retries)
        assert.matches("^HQ%-%d+$", fixed.hq_order)
        assert.are.equal(0, #h:ok("hq.failures", {}).failures)
        assert.are.equal("invalid_state", h:call("hq.retry", {store = "S001", number = number}).error.code)
        local learned = e2e.wait_for(function()
            local o = c:ok("order.get", {number = number})
            return o.sync.state == "synchronized" and o
        end, 6, "the store to learn the fix")
        assert.are.equal(fixed.hq_order, learned.sync.hq_order)
        assert.is_nil(learned.sync.error)
    end)

    it("hq.order.status answers for numbers HQ does not know", function()
        local h = hq:connect()
        h:login_store("S001")
        local r = h:ok("hq.order.status", {store = "S001", numbers = {"S001-999999"}})
        assert.are.equal("unknown", r.orders[1].state)
        assert.are.equal("unauthenticated", hq:connect():call("hq.order.list", {store = "S001"}).error.code)
    end)
end)

describe("--sync-interval", function()
    local hq, st
    setup(function()
        hq = e2e.hq({sync_interval = 1})
        st = e2e.store(hq.port)
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
    end)

    it("synchronizes by itself; the store learns within seconds", function()
        local c = st:connect()
        c:login("S001", "1001", "1234")
        local n = c:ok("order.create", e2e.carryout_order()).number
        local o = e2e.wait_for(function()
            local o = c:ok("order.get", {number = n})
            return o.sync.state == "synchronized" and o
        end, 8, "synchronized")
        assert.matches("^HQ%-%d+$", o.sync.hq_order)
    end)

    it("C2: --role hq without --hq-token takes only the stores' own tokens", function()
        local own = e2e.hq({token = false})
        local h = own:connect()
        assert.are.equal("unauthenticated",
            h:call("session.login_store", {store = "S001", token = e2e.HQ_TOKEN}).error.code)
        h:login_store("S001", own:hq_token("S001"))
        h:close()
        own:cleanup()
    end)
end)
