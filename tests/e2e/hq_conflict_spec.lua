-- hq_conflict_spec.lua: HQ does not take a store's event as a duplicate
-- unless it is one. An upload that reuses a (store, seq) HQ keeps with other
-- content (a store restored from an old backup numbers its new events
-- again) is refused with `conflict` naming store and seq, nothing of it is
-- kept, HQ's copy stays, and the conflict is listed by hq.conflicts (and
-- hq.failures). The same content again is a harmless duplicate.
local e2e = require "e2e"
local cjson = require "cjson"

local function doc(number, extra)
    local d = {number = number, store = "S001", status = "open", lines = {}}
    for k, v in pairs(extra or {}) do d[k] = v end
    return d
end

describe("HQ conflicts", function()
    local hq, h
    setup(function()
        hq = e2e.hq()
        h = hq:connect()
        h:login_store("S001")
    end)
    teardown(function() hq:cleanup() end)

    local A = {seq = 7, type = "order.create", payload = doc("S001-7", {version = 1})}
    local B = {seq = 7, type = "order.create", payload = doc("S001-8", {version = 1})}

    it("refuses arguments an HQ op does not take, from the op table, before anything else", function()
        for _, c in ipairs({{"hq.upload", {store = "S001", events = {}, extra = 1}},
                            {"hq.order.get", {store = "S001", number = "S001-1", x = true}},
                            {"hq.conflicts", {stor = "S001"}}}) do
            local r = h:call(c[1], c[2])
            assert.are.equal("bad_request", r.error.code, c[1])
            assert.matches("unknown field", r.error.message)
        end
        local r = h:call("hq.order.get", {store = "S001"})
        assert.are.equal("bad_request", r.error.code)
        assert.are.equal("number", r.error.details.field)
    end)

    it("same content is a duplicate; other content is refused as a conflict", function()
        local r = h:ok("hq.upload", {store = "S001", events = {A}})
        assert.are.same({acked_through = 7, accepted = 1, duplicates = 0}, r)

        local x = h:call("hq.upload", {store = "S001", events = {B}})
        assert.is_false(x.ok)
        assert.are.equal("conflict", x.error.code)
        assert.are.equal("S001", x.error.details.store)
        assert.are.equal(7, x.error.details.seq)
        assert.matches("seq 7", x.error.message)
        assert.matches("S001%-7", x.error.message) -- what HQ keeps
        assert.matches("S001%-8", x.error.message) -- what was offered

        -- A is still what HQ holds; B's order never appeared
        local ho = h:ok("hq.order.get", {store = "S001", number = "S001-7"})
        assert.are.equal("S001-7", ho.order.number)
        assert.are.equal("not_found", h:call("hq.order.get", {store = "S001", number = "S001-8"}).error.code)
        assert.are.equal("1", (hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001' AND seq = 7"):gsub("%s", "")))

        -- listed at HQ, by store
        local c = h:ok("hq.conflicts", {store = "S001"}).conflicts
        assert.are.equal(1, #c)
        assert.are.equal(7, c[1].seq)
        assert.are.equal("S001", c[1].store)
        assert.are.same({type = "order.create", number = "S001-7"}, c[1].kept)
        assert.are.same({type = "order.create", number = "S001-8"}, c[1].offered)
        assert.are.equal(1, c[1].count)
        -- C2: a store's session reads only its own store
        assert.are.equal("forbidden", h:call("hq.conflicts", {store = "S002"}).error.code)
        assert.are.equal(1, #h:ok("hq.failures", {}).conflicts)

        -- the same content again: a duplicate, acked
        r = h:ok("hq.upload", {store = "S001", events = {A}})
        assert.are.same({acked_through = 7, accepted = 0, duplicates = 1}, r)
    end)

    it("a payload differing in one value is a conflict too; nothing of its batch is kept", function()
        local A2 = {seq = 7, type = "order.create", payload = doc("S001-7", {version = 2})}
        local fresh = {seq = 9, type = "order.create", payload = doc("S001-9")}
        local x = h:call("hq.upload", {store = "S001", events = {A2, fresh}})
        assert.are.equal("conflict", x.error.code)
        assert.are.equal(7, x.error.details.seq)
        assert.are.equal("0", (hq:hq_sql("SELECT count(*) FROM hq_events WHERE seq = 9"):gsub("%s", "")))
        local c = h:ok("hq.conflicts", {}).conflicts
        assert.are.equal(1, #c)
        assert.are.equal(2, c[1].count) -- one row per (store, seq), counted
        -- so is another type with the same order and payload
        local x2 = h:call("hq.upload", {store = "S001", events = {
            {seq = 7, type = "order.edit", payload = A.payload}}})
        assert.are.equal("conflict", x2.error.code)
        -- the kept document is A's, in full
        local ho = h:ok("hq.order.get", {store = "S001", number = "S001-7"})
        assert.are.equal(1, ho.order.version)
        -- a resent create may carry the sales-order id learnt since: still a duplicate
        local withid = {seq = 7, type = "order.create", payload = A.payload, hq_order = "HQ-000123"}
        assert.are.equal(1, h:ok("hq.upload", {store = "S001", events = {withid}}).duplicates)
    end)

    it("an older event arriving late never replaces a newer document", function()
        h:ok("hq.upload", {store = "S001", events = {
            {seq = 20, type = "order.edit", payload = doc("S001-7", {version = 5})}}})
        h:ok("hq.upload", {store = "S001", events = {
            {seq = 15, type = "order.edit", payload = doc("S001-7", {version = 3})}}})
        local ho = h:ok("hq.order.get", {store = "S001", number = "S001-7"})
        assert.are.equal(5, ho.order.version)
    end)

    -- C5: HQ finds an order's record from the store its number names, so an
    -- event whose number names no store or another one would be kept where
    -- hq.order.get never looks: refused whole, nothing kept.
    it("C5: an event whose number is not its store's is validation; nothing is kept", function()
        for _, number in ipairs({"S002-000031", "X\"S001-000031", "S001-x-000031", "nodash"}) do
            local x = h:call("hq.upload", {store = "S001", events = {
                {seq = 31, type = "order.create", payload = doc(number)}}})
            assert.are.equal("validation", x.error.code, number)
            assert.matches("not an order number of store S001", x.error.message)
        end
        assert.are.equal("0", (hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001' AND seq = 31"):gsub("%s", "")))
        -- the store's own numbering is taken and read back
        h:ok("hq.upload", {store = "S001", events = {{seq = 31, type = "order.create", payload = doc("S001-000031")}}})
        assert.are.equal("S001-000031", h:ok("hq.order.get", {store = "S001", number = "S001-000031"}).order.number)
    end)

    it("conflicts survive a restart of HQ", function()
        hq:stop()
        hq:start()
        h = hq:connect()
        h:login_store("S001")
        assert.are.equal(1, #h:ok("hq.conflicts", {store = "S001"}).conflicts)
        -- HQ staff see them too; a client not signed in does not
        local staff = hq:connect()
        staff:login("S001", "1001", "1234")
        assert.are.equal(1, #staff:ok("hq.conflicts", {}).conflicts)
        assert.are.equal("unauthenticated", hq:connect():call("hq.conflicts", {}).error.code)
    end)
end)
