-- hq_store_token_spec.lua: SPEC C2, a credential per store. `corder hq
-- token --store S` prints a new random token; HQ keeps only its hash. A
-- store signed in with its own token sends and reads only its own store
-- (another store's data: forbidden); a token presented for another store,
-- a revoked one or a wrong one is unauthenticated, and repeated wrong ones
-- are slowed down. Runs on both HQ backends (ctest's @pg entry).
local e2e = require "e2e"

describe("C2: a credential per store", function()
    local hq, t1, t2
    setup(function()
        hq = e2e.hq({token = false})
        t1 = hq:hq_token("S001")
        t2 = hq:hq_token("S002")
    end)
    teardown(function() hq:cleanup() end)

    local function event(store, seq)
        local number = store .. "-9" .. seq
        return {seq = seq, type = "order.create", payload = {number = number, store = store}}
    end

    it("C2: tokens are new random secrets, and HQ keeps only their hashes", function()
        assert.matches("^%x+$", t1)
        assert.are.equal(64, #t1)
        assert.are_not.equal(t1, t2)
        assert.are_not.equal(t1, hq:hq_token("S003"))
        local kept = hq:hq_sql("SELECT store FROM hq_tokens ORDER BY store")
        assert.are.equal("S001\nS002\nS003\n", kept)
        if not hq.hq_db then
            local bytes = e2e.read_file(hq.db) .. (e2e.read_file(hq.db .. "-wal") or "")
            assert.is_nil(bytes:find(t1, 1, true), "the token itself is in HQ's database")
        else
            assert.are.equal("0", (hq:hq_sql("SELECT count(*) FROM hq_tokens WHERE position('"
                .. t1 .. "' in encode(hash, 'hex')) > 0 OR position(convert_to('" .. t1
                .. "', 'UTF8') in hash) > 0"):gsub("%s", "")))
        end
    end)

    it("C2: a store's own token: its own store only; another store's data is forbidden", function()
        local h = hq:connect()
        h:login_store("S001", t1)
        assert.are.equal(1, h:ok("hq.upload", {store = "S001", events = {event("S001", 1)}}).acked_through)
        local r = h:call("hq.upload", {store = "S002", events = {event("S002", 1)}})
        assert.are.equal("forbidden", r.error.code)
        assert.are.equal("forbidden", h:call("hq.order.get", {store = "S002", number = "S002-91"}).error.code)
        assert.are.equal("forbidden", h:call("hq.order.list", {store = "S002"}).error.code)
        assert.are.equal("forbidden", h:call("hq.order.status", {store = "S002", numbers = {"S002-91"}}).error.code)
        assert.are.equal("forbidden", h:call("hq.failures", {store = "S002"}).error.code)
        assert.are.equal("forbidden", h:call("hq.retry", {store = "S002", number = "S002-91"}).error.code)
        assert.are.equal("forbidden", h:call("hq.create_order", {store = "S002", order = {lines = {}}}).error.code)
        -- S002's data is still S002's alone
        local h2 = hq:connect()
        h2:login_store("S002", t2)
        h2:ok("hq.upload", {store = "S002", events = {event("S002", 1)}})
        -- a list without a store is the session's own store
        local list = h:ok("hq.order.list", {store = "S001"}).orders
        assert.are.equal(1, #list)
        assert.are.equal("S001", list[1].store)
        local sync = h:ok("hq.synchronize", {})
        assert.are.equal(1, sync.created + sync.failed) -- S001's one order, not S002's
        h:close()
        h2:close()
    end)

    it("C2: another store's token, a revoked one and a wrong one are unauthenticated", function()
        local h = hq:connect()
        assert.are.equal("unauthenticated",
            h:call("session.login_store", {store = "S002", token = t1}).error.code)
        local old = hq:hq_token("S001")
        h:login_store("S001", old)
        hq:hq_token("S001", true) -- revokes every token of S001
        assert.are.equal("unauthenticated",
            hq:connect():call("session.login_store", {store = "S001", token = old}).error.code)
        assert.are.equal("unauthenticated",
            hq:connect():call("session.login_store", {store = "S001", token = t1}).error.code)
        -- a new token after the revocation works; S002's was never touched
        hq:connect():login_store("S001", hq:hq_token("S001"))
        hq:connect():login_store("S002", t2)
        -- the shared token is not configured on this HQ: no back door
        assert.are.equal("unauthenticated",
            hq:connect():call("session.login_store", {store = "S001", token = e2e.HQ_TOKEN}).error.code)
    end)

    it("C2: repeated wrong tokens are slowed down", function()
        local c = hq:connect()
        local waits = {}
        for i = 1, 6 do
            local t0 = e2e.now()
            local r = c:call("session.login_store", {store = "S002", token = t1 .. i})
            waits[i] = e2e.now() - t0
            assert.are.equal("unauthenticated", r.error.code)
        end
        assert.is_true(waits[1] < 0.1, "first answer took " .. waits[1])
        assert.is_true(waits[6] >= 0.35, "sixth answer took " .. waits[6])
        c:close()
    end)

    it("corder hq token: bad usage exits 2 with one line", function()
        for _, args in ipairs({"hq token --store S001", "hq token --db x.db", "hq nope",
                               "hq token --db x.db --hq-db postgresql://x --store S001"}) do
            local code, out, err = e2e.run(args)
            assert.are.equal(2, code, args)
            assert.are.equal("", out)
            assert.is_truthy(err:match("^corder: [^\n]+\n$"), "not one line: " .. err)
        end
    end)

    it("C2: a store server uploads with its own token", function()
        local fresh = e2e.hq({token = false}) -- (the events above used S002's first seqs)
        local st = e2e.store(fresh.port, {token = fresh:hq_token("S002")})
        local c = st:connect()
        c:login("S002", "1003", "5555")
        c:ok("order.create", e2e.carryout_order())
        e2e.wait_for(function() return c:ok("sync.status").uploaded == 1 end, 10, "the upload")
        c:close()
        st:cleanup()
        fresh:cleanup()
    end)
end)
