-- sync_spec.lua: the queue to HQ (SPEC S2, S3) with real processes: an HQ
-- server (--role hq) and a store server (--hq) on loopback. HQ is down while
-- orders are taken, then comes up; it is killed and restarted; the store is
-- killed mid-upload and loses its cursor; a batch is sent twice. Every time,
-- every event must reach HQ exactly once and in order.
local e2e = require "e2e"
local cjson = require "cjson"

local function ints(text)
    local t = {}
    for n in text:gmatch("%d+") do t[#t + 1] = tonumber(n) end
    return t
end

-- HQ holds the store's outbox exactly once, in the store's order.
local function assert_exactly_once(st, hq, store)
    local sent = ints(st:sql("SELECT seq FROM outbox WHERE store = '" .. store .. "' ORDER BY seq"))
    local got = ints(hq:hq_sql("SELECT seq FROM hq_events WHERE store = '" .. store .. "' ORDER BY id"))
    assert.is_true(#sent > 0)
    assert.are.same(sent, got)
end

-- n cash-and-carry orders, pipelined 200 at a time.
local function bulk_create(c, n)
    local done = 0
    while done < n do
        local k = math.min(200, n - done)
        local buf = {}
        for i = 1, k do buf[i] = c:request("order.create", e2e.carryout_order(), "b" .. (done + i)) end
        assert(c:send_raw(table.concat(buf)))
        for _ = 1, k do
            local r = assert(c:recv())
            assert.is_true(r.ok, cjson.encode(r))
        end
        done = done + k
    end
end

describe("the uploader", function()
    local hq, st, c, numbers, open

    setup(function()
        hq = e2e.hq({no_start = true}) -- initialised, not running: HQ is down
        st = e2e.store(hq.port)
        c = st:connect()
        c:login("S001", "1001", "1234")
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
    end)

    local function status() return c:ok("sync.status") end
    local function drained(t) e2e.wait_for(function() return status().queue == 0 end, t or 15, "the upload") end

    it("queues while HQ is down, with attempts and the last error; queued orders stay editable", function()
        numbers = {}
        for i = 1, 10 do numbers[i] = c:ok("order.create", e2e.carryout_order()).number end
        local r = c:call_paying("order.create", e2e.hybrid_order())
        assert.is_true(r.ok, cjson.encode(r))
        open = r.result
        -- S3: a queued order is not locked; its cancel queues behind its creation
        r = c:call_paying("order.cancel", {number = open.number, version = open.version})
        assert.is_true(r.ok, cjson.encode(r))
        open = r.result.order
        local o = e2e.wait_for(function()
            local o = c:ok("order.get", {number = numbers[1]})
            return o.sync.attempts >= 2 and o.sync.error and o
        end, 5, "failed attempts")
        assert.are.equal("pending", o.sync.state)
        local s = status()
        assert.are.equal("async", s.mode)
        assert.are.equal(11, s.pending)
        assert.are.equal(12, s.queue)
        assert.is_true(s.attempts >= 2)
        assert.is_string(s.last_error)
    end)

    it("uploads by itself once HQ is up: every event once, in order", function()
        hq:start()
        drained()
        local s = status()
        assert.are.equal(0, s.pending)
        assert.are.equal(11, s.uploaded)
        assert.is_nil(s.last_error)
        assert_exactly_once(st, hq, "S001")
        -- the cancel travelled behind the creation: HQ has the cancelled order
        local h = hq:connect()
        h:login_store("S001")
        local ho = h:ok("hq.order.get", {store = "S001", number = open.number})
        assert.are.equal(open.version, ho.order.version)
        assert.is_true(ho.order.cancelled)
    end)

    it("learns back from HQ within 5 s: synchronized, with HQ's id", function()
        local h = hq:connect()
        h:login_store("S001")
        assert.are.equal(11, h:ok("hq.synchronize").created)
        e2e.wait_for(function() return status().synchronized == 11 end, 6, "learning back")
        local o = c:ok("order.get", {number = numbers[1]})
        assert.are.equal("synchronized", o.sync.state)
        assert.matches("^HQ%-%d+$", o.sync.hq_order)
        assert.is_nil(o.sync.error)
    end)

    it("survives an HQ crash and restart", function()
        hq:kill9()
        for _ = 1, 5 do c:ok("order.create", e2e.carryout_order()) end
        e2e.wait_for(function()
            local s = status()
            return s.pending == 5 and s.last_error
        end, 5, "the failure")
        hq:start()
        drained()
        assert_exactly_once(st, hq, "S001")
    end)

    it("sync.run uploads at once", function()
        c:ok("order.create", e2e.carryout_order())
        local r = c:ok("sync.run")
        assert.are.equal(r.sent, r.acked)
        assert.is_nil(r.error)
        assert.are.equal(0, status().queue)
    end)

    it("HQ keeps a batch sent twice once", function()
        local h = hq:connect()
        h:login_store("S001")
        local before = hq:hq_sql("SELECT count(*) FROM hq_events")
        -- the very same event, its payload as the store has it (decoding and
        -- re-encoding it in Lua would turn empty arrays into objects: other
        -- content, which HQ refuses as a conflict, hq_conflict_spec.lua)
        local raw = st:sql("SELECT payload FROM outbox_events WHERE seq = 1"):gsub("%s+$", "")
        assert(h:send_raw('{"id":"dup","op":"hq.upload","args":{"store":"S001","events":'
            .. '[{"seq":1,"type":"order.create","payload":' .. raw .. '}]}}\n'))
        local r = assert(h:recv())
        assert.is_true(r.ok, cjson.encode(r))
        r = r.result
        assert.are.equal(0, r.accepted)
        assert.are.equal(1, r.duplicates)
        local batch = {store = "S001", events = {{seq = 1, type = "order.create", payload = cjson.decode(raw)}}}
        assert.are.equal(before, hq:hq_sql("SELECT count(*) FROM hq_events"))
        local e = h:call("hq.upload", {store = "S002", events = batch.events})
        assert.are.equal("forbidden", e.error.code)
        local x = hq:connect()
        assert.are.equal("unauthenticated", x:call("session.login_store", {store = "S001", token = "nope"}).error.code)
        assert.are.equal("unauthenticated", x:call("hq.upload", batch).error.code)
    end)

    it("resends after losing its cursor (a half-sent batch); HQ keeps each event once", function()
        st:kill9()
        st:sql("UPDATE sync_cursor SET acked_seq = 0") -- HQ took it, the store never heard
        st:start()
        c = st:connect()
        c:login("S001", "1001", "1234")
        drained()
        assert_exactly_once(st, hq, "S001")
    end)

    it("kill -9 of the store in the middle of a big upload loses and repeats nothing", function()
        hq:stop()
        bulk_create(c, 1500)
        local before = tonumber(hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001'"))
        hq:start()
        c:send("sync.run") -- no waiting for the back-off
        e2e.wait_for(function()
            return tonumber(hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001'")) > before
        end, 15, "the first batch")
        st:kill9()
        st:start()
        c = st:connect()
        c:login("S001", "1001", "1234")
        drained(20)
        assert_exactly_once(st, hq, "S001")
    end)
end)

describe("corder sync", function()
    local hq, st
    setup(function()
        hq = e2e.hq()
        st = e2e.server() -- a store server without --hq: nothing uploads by itself
        local c = st:connect()
        c:login("S002", "1003", "5555")
        for _ = 1, 3 do c:ok("order.create", e2e.carryout_order()) end
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
    end)

    local function sync(port)
        return e2e.run("sync --db " .. e2e.q(st.db) .. " --hq 127.0.0.1:" .. port .. " --hq-token "
            .. e2e.q(e2e.HQ_TOKEN))
    end

    it("runs one upload and exits", function()
        local code, out, err = sync(hq.port)
        assert.are.equal(0, code, err)
        assert.matches("sent 3, acked 3", out)
        code, out = sync(hq.port)
        assert.are.equal(0, code)
        assert.matches("sent 0, acked 0", out)
        assert_exactly_once(st, hq, "S002")
        local c = st:connect()
        c:login("S002", "1003", "5555")
        assert.are.equal(3, c:ok("sync.status").uploaded)
        local r = c:ok("sync.run")
        assert.matches("no HQ configured", r.error)
    end)

    it("exits 1 with one line when HQ is down", function()
        local code, _, err = sync(e2e.free_port())
        assert.are.equal(1, code)
        assert.matches("^corder: sync: [^\n]+\n$", err)
    end)

    it("exits 2 on bad usage", function()
        assert.are.equal(2, (e2e.run("sync --db x.db")))
        assert.are.equal(2, (e2e.run("sync --db x.db --hq nowhere")))
    end)
end)
