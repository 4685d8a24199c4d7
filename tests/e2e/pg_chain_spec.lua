-- pg_chain_spec.lua: SPEC C1 with real processes: two HQ processes on one
-- PostgreSQL database, stores uploading through both (--hq A,B and B,A),
-- one HQ process killed with kill -9 mid-stream and restarted, both
-- running the synchronize job at the same time (every second, and called
-- at once on both). Every order is at HQ exactly once and synchronized
-- exactly once, with HQ order numbers unique across the processes.
-- Needs PostgreSQL: ctest runs it only as e2e/pg_chain_spec@pg.
local e2e = require "e2e"

local function n(s) return tonumber((s:gsub("%s", ""))) end

describe("C1: two HQ processes on one PostgreSQL", function()
    local url, a, b, st1, st2
    setup(function()
        url = e2e.pg_database()
        local code, _, err = e2e.run("init --hq-db " .. e2e.q(url) .. " --seed " .. e2e.q(e2e.seed))
        assert.are.equal(0, code, err)
        a = e2e.hq({hq_db = url, sync_interval = 1, token = false})
        b = e2e.hq({hq_db = url, sync_interval = 1, token = false})
        local hqs = "127.0.0.1:" .. a.port .. ",127.0.0.1:" .. b.port
        local sbh = "127.0.0.1:" .. b.port .. ",127.0.0.1:" .. a.port
        st1 = e2e.store(hqs, {token = a:hq_token("S001")})
        st2 = e2e.store(sbh, {token = b:hq_token("S002")})
    end)
    teardown(function()
        for _, s in ipairs({st1, st2, a, b}) do if s then s:cleanup() end end
    end)

    local function sell(c, k)
        local numbers = {}
        for i = 1, k do numbers[#numbers + 1] = c:ok("order.create", e2e.carryout_order()).number end
        return numbers
    end

    local function settled(c)
        local s = c:ok("sync.status")
        return s.pending == 0 and s.queue == 0 and s.quarantined == 0
    end

    it("keeps every event once and makes every sales order once through a kill -9", function()
        local c1, c2 = st1:connect(), st2:connect()
        c1:login("S001", "1001", "1234")
        c2:login("S002", "1003", "5555")
        local made = {S001 = {}, S002 = {}}
        local function add(store, list) for _, x in ipairs(list) do table.insert(made[store], x) end end
        add("S001", sell(c1, 15))
        add("S002", sell(c2, 15))
        -- HQ A dies in the middle of the stream
        a:kill9()
        local before = n(b:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001'"))
        add("S001", sell(c1, 15))
        add("S002", sell(c2, 15))
        -- S001 lists A first: it fails over to B while A is down
        e2e.wait_for(function()
            return n(b:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001'")) > before
        end, 15, "S001's upload through B while A is down")
        a:start()
        add("S001", sell(c1, 10))
        add("S002", sell(c2, 10))
        e2e.wait_for(function() return settled(c1) and settled(c2) end, 30, "both stores' uploads")
        -- the job on both at once, on top of their --sync-interval runs
        local ha, hb = a:connect(), b:connect()
        ha:login_store("S001", a:hq_token("S001"))
        hb:login_store("S001", b:hq_token("S001"))
        for _ = 1, 3 do
            ha:send("hq.synchronize", {})
            hb:send("hq.synchronize", {})
        end
        for _ = 1, 3 do
            assert.is_true(assert(ha:recv()).ok)
            assert.is_true(assert(hb:recv()).ok)
        end
        e2e.wait_for(function()
            return n(b:hq_sql("SELECT count(*) FROM hq_orders WHERE state <> 'synchronized'")) == 0
        end, 20, "every order synchronized")

        for store, numbers in pairs(made) do
            -- every order once at HQ, and every event the store wrote exactly once
            assert.are.equal(#numbers, n(b:hq_sql("SELECT count(*) FROM hq_orders WHERE store = '" .. store .. "'")))
            for _, num in ipairs(numbers) do
                assert.are.equal(1, n(b:hq_sql("SELECT count(*) FROM hq_orders WHERE store = '" .. store
                    .. "' AND number = '" .. num .. "'")), num)
            end
            local st = store == "S001" and st1 or st2
            local outbox = n(st:sql("SELECT count(*) FROM outbox WHERE store = '" .. store .. "'"))
            assert.are.equal(outbox, n(b:hq_sql("SELECT count(*) FROM hq_events WHERE store = '" .. store .. "'")))
        end
        -- synchronized exactly once: one attempt each, sales-order ids unique
        assert.are.equal("0", (b:hq_sql("SELECT count(*) FROM hq_orders WHERE attempts <> 1"):gsub("%s", "")))
        assert.are.equal(b:hq_sql("SELECT count(*) FROM hq_orders"),
            b:hq_sql("SELECT count(DISTINCT hq_order) FROM hq_orders"))
        -- and the stores learn it
        e2e.wait_for(function()
            local o = c1:ok("order.get", {number = made.S001[#made.S001]})
            return o.sync.state == "synchronized"
        end, 15, "the store to learn")
    end)
end)
