-- pipeline_spec.lua: requests sent in one write are answered in order,
-- reads and writes mixed, across group commits.
local e2e = require "e2e"

describe("pipelining", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("answers 100 pings sent in one write, in order", function()
        local c = srv:connect()
        local buf = {}
        for i = 1, 100 do buf[i] = c:request("ping", nil, i) end
        c:send_raw(table.concat(buf))
        for i = 1, 100 do
            local r = assert(c:recv())
            assert.are.equal(i, r.id)
            assert.is_true(r.ok)
        end
        c:close()
    end)

    it("keeps order when a sign-in (slow PIN check) comes first", function()
        local c = srv:connect()
        local buf = {
            c:request("session.login", {store = "S001", staff = "1002", pin = "9999"}, "login"),
            c:request("order.create", e2e.carryout_order(), "create"),
        }
        for i = 1, 20 do buf[#buf + 1] = c:request("ping", nil, i) end
        c:send_raw(table.concat(buf))
        local r = assert(c:recv())
        assert.are.equal("login", r.id)
        assert.is_true(r.ok)
        r = assert(c:recv())
        assert.are.equal("create", r.id)
        assert.are_not.equal("unauthenticated", r.ok or r.error.code) -- the login counted
        for i = 1, 20 do assert.are.equal(i, assert(c:recv()).id) end
        c:close()
    end)

    it("keeps order per connection with many connections writing at once", function()
        local conns = {}
        for k = 1, 20 do
            conns[k] = srv:connect()
            conns[k]:login("S001", "1001", "1234")
        end
        for k = 1, 20 do
            local buf = {}
            for i = 1, 10 do
                if i % 2 == 0 then
                    buf[#buf + 1] = conns[k]:request("ping", nil, i)
                else
                    buf[#buf + 1] = conns[k]:request("order.create", e2e.carryout_order(), i)
                end
            end
            conns[k]:send_raw(table.concat(buf))
        end
        for k = 1, 20 do
            for i = 1, 10 do
                local r = assert(conns[k]:recv())
                assert.are.equal(i, r.id)
                assert.is_true(r.ok, r.error and r.error.message) -- creates and pings alike
            end
            conns[k]:close()
        end
    end)
end)

describe("back-pressure", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("stops reading a client that does not read its answers, and serves others", function()
        local c = srv:connect()
        local line = c:request("ping", nil, 1)
        local chunk = string.rep(line, 4096)
        c:settimeout(0.2)
        local sent, stalled = 0, false
        for _ = 1, 2000 do -- up to ~100 MB; the server must stall us well before
            local last, err, partial = c.sock:send(chunk)
            if not last then
                sent = sent + (partial or 0)
                stalled = err == "timeout"
                break
            end
            sent = sent + #chunk
        end
        assert.is_true(stalled, "the server kept reading " .. sent .. " bytes")
        -- the loop is not blocked by the stalled client
        local d = srv:connect()
        assert.is_true(d:call("ping").ok)
        d:close()
        -- its memory stayed bounded
        local status = e2e.read_file("/proc/" .. srv.pid .. "/status") or ""
        local rss = tonumber(status:match("VmRSS:%s*(%d+)") or "0")
        assert.is_true(rss < 512 * 1024, "server RSS " .. rss .. " kB")
        c:close()
    end)
    it("F12: an order made earlier in the same batch is found by its number", function()
        -- New numbers wait in order_numbers_pending until 1,024 wait, then
        -- enter the number index before a COMMIT (fts.c); a search reads
        -- the waiting ones too, also inside the batch that made them.
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local made = assert(c:call("order.create", e2e.carryout_order()))
        assert.is_true(made.ok, made.error and made.error.message)
        local number = made.result.number
        local digits = number:match("(%d+)$"):sub(-4)
        local buf = {c:request("order.create", e2e.carryout_order(), "create")}
        for i = 1, 5 do buf[#buf + 1] = c:request("order.find", {q = number:sub(1, 5)}, i) end
        c:send_raw(table.concat(buf))
        local r = assert(c:recv())
        assert.is_true(r.ok, r.error and r.error.message)
        local new = r.result.number
        for i = 1, 5 do
            local f = assert(c:recv())
            assert.are.equal(i, f.id)
            local seen = {}
            for _, o in ipairs(f.result.orders) do seen[o.number or o] = true end
            assert.is_true(seen[new], "the new order is found in its own batch")
            assert.is_true(seen[number])
        end
        -- after the commit they still wait (the index takes them 256 at a
        -- time, fts.h) and are still found
        local waiting = tonumber(srv:sql("SELECT count(*) FROM order_numbers_pending"):match("%d+"))
        assert.is_true(waiting >= 2 and waiting < 256, "waiting " .. waiting)
        local function found(q, want)
            for _, o in ipairs(c:ok("order.find", {q = q}).orders) do
                if (o.number or o) == want then return true end
            end
            return false
        end
        assert.is_true(found(digits, number))
        -- once 256 wait, the next COMMIT moves them all into the index
        for _ = 1, 3 do
            local reqs = {}
            for i = 1, 100 do reqs[i] = c:request("order.create", e2e.carryout_order(), i) end
            c:send_raw(table.concat(reqs))
            for _ = 1, 100 do assert.is_true(assert(c:recv()).ok) end
        end
        waiting = tonumber(srv:sql("SELECT count(*) FROM order_numbers_pending"):match("%d+"))
        assert.is_true(waiting < 256, "waiting " .. waiting)
        local rowid = srv:sql("SELECT rowid FROM orders WHERE number = '" .. number .. "'"):match("%d+")
        local indexed = srv:sql("SELECT count(*) FROM order_numbers WHERE order_numbers MATCH '\"" ..
                                number:sub(-3) .. "\"' AND rowid = " .. rowid)
        assert.are.equal("1", indexed:match("^%d+\n$") and indexed:match("%d+"), indexed)
        assert.is_true(found(number:sub(3), number))
        c:close()
    end)
end)
